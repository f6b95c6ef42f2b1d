// recblocks::instantiations (docs/performance.md, "Compile time"): models::m3oe for float and double,
// and its float trainer, compiled once for every target that links this library.
#include <recblocks/models/m3oe.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::m3oe<float>;
template class models::m3oe<double>;
template class train::trainer<models::m3oe<float>>;
}  // namespace recblocks

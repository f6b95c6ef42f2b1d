// recblocks::instantiations (docs/performance.md, "Compile time"): models::mmoe for float and double,
// and its float trainer, compiled once for every target that links this library.
#include <recblocks/models/mmoe.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::mmoe<float>;
template class models::mmoe<double>;
template class train::trainer<models::mmoe<float>>;
}  // namespace recblocks

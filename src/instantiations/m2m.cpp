// recblocks::instantiations (docs/performance.md, "Compile time"): models::m2m for float and double,
// and its float trainer, compiled once for every target that links this library.
#include <recblocks/models/m2m.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::m2m<float>;
template class models::m2m<double>;
template class train::trainer<models::m2m<float>>;
}  // namespace recblocks

// recblocks::instantiations (docs/performance.md, "Compile time"): models::ppnet for float and double,
// and its float trainer, compiled once for every target that links this library.
#include <recblocks/models/ppnet.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::ppnet<float>;
template class models::ppnet<double>;
template class train::trainer<models::ppnet<float>>;
}  // namespace recblocks

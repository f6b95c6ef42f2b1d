// recblocks::instantiations (docs/performance.md, "Compile time"): models::shared_bottom for float and double,
// and its float trainer, compiled once for every target that links this library.
#include <recblocks/models/shared_bottom.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::shared_bottom<float>;
template class models::shared_bottom<double>;
template class train::trainer<models::shared_bottom<float>>;
}  // namespace recblocks

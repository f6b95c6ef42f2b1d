// recblocks::instantiations (docs/performance.md, "Compile time"): models::sarnet for float and double,
// and its float trainer, compiled once for every target that links this library.
#include <recblocks/models/sarnet.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::sarnet<float>;
template class models::sarnet<double>;
template class train::trainer<models::sarnet<float>>;
}  // namespace recblocks

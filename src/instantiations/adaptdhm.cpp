// recblocks::instantiations (docs/performance.md, "Compile time"): models::adaptdhm for float and double,
// and its float trainer, compiled once for every target that links this library.
#include <recblocks/models/adaptdhm.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::adaptdhm<float>;
template class models::adaptdhm<double>;
template class train::trainer<models::adaptdhm<float>>;
}  // namespace recblocks

// recblocks::instantiations (docs/performance.md, "Compile time"): models::epnet for float and double,
// and its float trainer, compiled once for every target that links this library.
#include <recblocks/models/epnet.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::epnet<float>;
template class models::epnet<double>;
template class train::trainer<models::epnet<float>>;
}  // namespace recblocks

// recblocks::instantiations (docs/performance.md, "Compile time"): models::hamur for float and double,
// and its float trainer, compiled once for every target that links this library.
#include <recblocks/models/hamur.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::hamur<float>;
template class models::hamur<double>;
template class train::trainer<models::hamur<float>>;
}  // namespace recblocks

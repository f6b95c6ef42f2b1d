// recblocks::instantiations (docs/performance.md, "Compile time"): models::star for float and double,
// and its float trainer, compiled once for every target that links this library.
#include <recblocks/models/star.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::star<float>;
template class models::star<double>;
template class train::trainer<models::star<float>>;
}  // namespace recblocks

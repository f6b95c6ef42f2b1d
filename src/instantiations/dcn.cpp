// recblocks::instantiations (docs/performance.md, "Compile time"): models::dcn for float and double,
// and its float trainer, compiled once for every target that links this library.
#include <recblocks/models/dcn.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::dcn<float>;
template class models::dcn<double>;
template class train::trainer<models::dcn<float>>;
}  // namespace recblocks

// recblocks::instantiations (docs/performance.md, "Compile time"): models::ple for float and double,
// and its float trainer, compiled once for every target that links this library.
#include <recblocks/models/ple.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::ple<float>;
template class models::ple<double>;
template class train::trainer<models::ple<float>>;
}  // namespace recblocks

// recblocks::instantiations (docs/performance.md, "Compile time"): models::mscan for float and double,
// and its float trainer, compiled once for every target that links this library.
#include <recblocks/models/mscan.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::mscan<float>;
template class models::mscan<double>;
template class train::trainer<models::mscan<float>>;
}  // namespace recblocks

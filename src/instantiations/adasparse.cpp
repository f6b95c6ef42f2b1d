// recblocks::instantiations (docs/performance.md, "Compile time"): models::adasparse for float and double,
// and its float trainer, compiled once for every target that links this library.
#include <recblocks/models/adasparse.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::adasparse<float>;
template class models::adasparse<double>;
template class train::trainer<models::adasparse<float>>;
}  // namespace recblocks

// recblocks::instantiations (docs/performance.md, "Compile time"):
// featsel::permutation_importance_policy<float> (it trains every registry model through its compiled
// trainer), compiled once for every target that links this library.
#include <recblocks/featsel/model_policies.hpp>

namespace recblocks {
template class featsel::permutation_importance_policy<float>;
}  // namespace recblocks

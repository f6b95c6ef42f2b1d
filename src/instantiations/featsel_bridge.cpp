// recblocks::instantiations (docs/performance.md, "Compile time"): featsel::bridge_policy<float>
// and the float trainers of the fourteen registry models wrapped in featsel::gated_model with a
// featsel::rank_guided_mask<float> (what the policy trains), compiled once for every target that
// links this library.
#include <recblocks/featsel/model_policies.hpp>

namespace recblocks {
template class featsel::rank_guided_mask<float>;
template class featsel::bridge_policy<float>;
RECBLOCKS_FEATSEL_GATED_TRAINERS(template, featsel::rank_guided_mask<float>)
}  // namespace recblocks

// recblocks::instantiations (docs/performance.md, "Compile time"): featsel::learnable_gate_policy<float>
// and the float trainers of the fourteen registry models wrapped in featsel::gated_model with a
// featsel::learnable_gate<float> (what the policy trains), compiled once for every target that
// links this library.
#include <recblocks/featsel/model_policies.hpp>

namespace recblocks {
template class featsel::learnable_gate_policy<float>;
RECBLOCKS_FEATSEL_GATED_TRAINERS(template, featsel::learnable_gate<float>)
}  // namespace recblocks

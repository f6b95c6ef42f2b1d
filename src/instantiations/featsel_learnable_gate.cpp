// recblocks::instantiations (docs/performance.md, "Compile time"): featsel::learnable_gate_policy<float>
// and the float trainers of the fourteen registry models wrapped in featsel::gated_model with a
// featsel::learnable_gate<float> (what the policy trains), compiled once for every target that
// links this library.
#include <recblocks/featsel/model_policies.hpp>

namespace recblocks {
template class featsel::learnable_gate_policy<float>;
template class train::trainer<featsel::gated_model<models::adaptdhm<float>, featsel::learnable_gate<float>>>;
template class train::trainer<featsel::gated_model<models::adasparse<float>, featsel::learnable_gate<float>>>;
template class train::trainer<featsel::gated_model<models::dcn<float>, featsel::learnable_gate<float>>>;
template class train::trainer<featsel::gated_model<models::epnet<float>, featsel::learnable_gate<float>>>;
template class train::trainer<featsel::gated_model<models::hamur<float>, featsel::learnable_gate<float>>>;
template class train::trainer<featsel::gated_model<models::m2m<float>, featsel::learnable_gate<float>>>;
template class train::trainer<featsel::gated_model<models::m3oe<float>, featsel::learnable_gate<float>>>;
template class train::trainer<featsel::gated_model<models::mmoe<float>, featsel::learnable_gate<float>>>;
template class train::trainer<featsel::gated_model<models::mscan<float>, featsel::learnable_gate<float>>>;
template class train::trainer<featsel::gated_model<models::ple<float>, featsel::learnable_gate<float>>>;
template class train::trainer<featsel::gated_model<models::ppnet<float>, featsel::learnable_gate<float>>>;
template class train::trainer<featsel::gated_model<models::sarnet<float>, featsel::learnable_gate<float>>>;
template class train::trainer<featsel::gated_model<models::shared_bottom<float>, featsel::learnable_gate<float>>>;
template class train::trainer<featsel::gated_model<models::star<float>, featsel::learnable_gate<float>>>;
}  // namespace recblocks

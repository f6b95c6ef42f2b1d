// recblocks::instantiations (docs/performance.md, "Compile time"): featsel::bridge_policy<float>
// and the float trainers of the fourteen registry models wrapped in featsel::gated_model with a
// featsel::rank_guided_mask<float> (what the policy trains), compiled once for every target that
// links this library.
#include <recblocks/featsel/model_policies.hpp>

namespace recblocks {
template class featsel::rank_guided_mask<float>;
template class featsel::bridge_policy<float>;
template class train::trainer<featsel::gated_model<models::adaptdhm<float>, featsel::rank_guided_mask<float>>>;
template class train::trainer<featsel::gated_model<models::adasparse<float>, featsel::rank_guided_mask<float>>>;
template class train::trainer<featsel::gated_model<models::dcn<float>, featsel::rank_guided_mask<float>>>;
template class train::trainer<featsel::gated_model<models::epnet<float>, featsel::rank_guided_mask<float>>>;
template class train::trainer<featsel::gated_model<models::hamur<float>, featsel::rank_guided_mask<float>>>;
template class train::trainer<featsel::gated_model<models::m2m<float>, featsel::rank_guided_mask<float>>>;
template class train::trainer<featsel::gated_model<models::m3oe<float>, featsel::rank_guided_mask<float>>>;
template class train::trainer<featsel::gated_model<models::mmoe<float>, featsel::rank_guided_mask<float>>>;
template class train::trainer<featsel::gated_model<models::mscan<float>, featsel::rank_guided_mask<float>>>;
template class train::trainer<featsel::gated_model<models::ple<float>, featsel::rank_guided_mask<float>>>;
template class train::trainer<featsel::gated_model<models::ppnet<float>, featsel::rank_guided_mask<float>>>;
template class train::trainer<featsel::gated_model<models::sarnet<float>, featsel::rank_guided_mask<float>>>;
template class train::trainer<featsel::gated_model<models::shared_bottom<float>, featsel::rank_guided_mask<float>>>;
template class train::trainer<featsel::gated_model<models::star<float>, featsel::rank_guided_mask<float>>>;
}  // namespace recblocks

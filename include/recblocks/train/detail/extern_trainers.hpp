#pragma once
/// \file extern_trainers.hpp
/// Included by `train/trainer.hpp` only when `RECBLOCKS_EXTERN_TEMPLATES` is defined (a target links
/// the optional `recblocks::instantiations` library): declares the trainers of the fourteen registry
/// models on `float`, and `io::checkpoint` save / restore / make of each, as explicitly instantiated
/// there, so a translation unit that trains or checkpoints one of them compiles none of that code
/// (docs/performance.md, "Compile time"). The model types must be complete here, hence the model
/// headers.

#include "../../io/checkpoint.hpp"
#include "../../models/adaptdhm.hpp"
#include "../../models/adasparse.hpp"
#include "../../models/dcn.hpp"
#include "../../models/epnet.hpp"
#include "../../models/hamur.hpp"
#include "../../models/m2m.hpp"
#include "../../models/m3oe.hpp"
#include "../../models/mmoe.hpp"
#include "../../models/mscan.hpp"
#include "../../models/ple.hpp"
#include "../../models/ppnet.hpp"
#include "../../models/sarnet.hpp"
#include "../../models/shared_bottom.hpp"
#include "../../models/star.hpp"

namespace recblocks::train {

extern template class trainer<models::adaptdhm<float>>;
extern template class trainer<models::adasparse<float>>;
extern template class trainer<models::dcn<float>>;
extern template class trainer<models::epnet<float>>;
extern template class trainer<models::hamur<float>>;
extern template class trainer<models::m2m<float>>;
extern template class trainer<models::m3oe<float>>;
extern template class trainer<models::mmoe<float>>;
extern template class trainer<models::mscan<float>>;
extern template class trainer<models::ple<float>>;
extern template class trainer<models::ppnet<float>>;
extern template class trainer<models::sarnet<float>>;
extern template class trainer<models::shared_bottom<float>>;
extern template class trainer<models::star<float>>;

}  // namespace recblocks::train

namespace recblocks::io {

extern template void checkpoint::save<models::adaptdhm<float>>(const std::filesystem::path&, const models::adaptdhm<float>&, const checkpoint_options&);
extern template void checkpoint::restore<models::adaptdhm<float>>(models::adaptdhm<float>&) const;
extern template models::adaptdhm<float> checkpoint::make<models::adaptdhm<float>>() const;
extern template void checkpoint::save<models::adasparse<float>>(const std::filesystem::path&, const models::adasparse<float>&, const checkpoint_options&);
extern template void checkpoint::restore<models::adasparse<float>>(models::adasparse<float>&) const;
extern template models::adasparse<float> checkpoint::make<models::adasparse<float>>() const;
extern template void checkpoint::save<models::dcn<float>>(const std::filesystem::path&, const models::dcn<float>&, const checkpoint_options&);
extern template void checkpoint::restore<models::dcn<float>>(models::dcn<float>&) const;
extern template models::dcn<float> checkpoint::make<models::dcn<float>>() const;
extern template void checkpoint::save<models::epnet<float>>(const std::filesystem::path&, const models::epnet<float>&, const checkpoint_options&);
extern template void checkpoint::restore<models::epnet<float>>(models::epnet<float>&) const;
extern template models::epnet<float> checkpoint::make<models::epnet<float>>() const;
extern template void checkpoint::save<models::hamur<float>>(const std::filesystem::path&, const models::hamur<float>&, const checkpoint_options&);
extern template void checkpoint::restore<models::hamur<float>>(models::hamur<float>&) const;
extern template models::hamur<float> checkpoint::make<models::hamur<float>>() const;
extern template void checkpoint::save<models::m2m<float>>(const std::filesystem::path&, const models::m2m<float>&, const checkpoint_options&);
extern template void checkpoint::restore<models::m2m<float>>(models::m2m<float>&) const;
extern template models::m2m<float> checkpoint::make<models::m2m<float>>() const;
extern template void checkpoint::save<models::m3oe<float>>(const std::filesystem::path&, const models::m3oe<float>&, const checkpoint_options&);
extern template void checkpoint::restore<models::m3oe<float>>(models::m3oe<float>&) const;
extern template models::m3oe<float> checkpoint::make<models::m3oe<float>>() const;
extern template void checkpoint::save<models::mmoe<float>>(const std::filesystem::path&, const models::mmoe<float>&, const checkpoint_options&);
extern template void checkpoint::restore<models::mmoe<float>>(models::mmoe<float>&) const;
extern template models::mmoe<float> checkpoint::make<models::mmoe<float>>() const;
extern template void checkpoint::save<models::mscan<float>>(const std::filesystem::path&, const models::mscan<float>&, const checkpoint_options&);
extern template void checkpoint::restore<models::mscan<float>>(models::mscan<float>&) const;
extern template models::mscan<float> checkpoint::make<models::mscan<float>>() const;
extern template void checkpoint::save<models::ple<float>>(const std::filesystem::path&, const models::ple<float>&, const checkpoint_options&);
extern template void checkpoint::restore<models::ple<float>>(models::ple<float>&) const;
extern template models::ple<float> checkpoint::make<models::ple<float>>() const;
extern template void checkpoint::save<models::ppnet<float>>(const std::filesystem::path&, const models::ppnet<float>&, const checkpoint_options&);
extern template void checkpoint::restore<models::ppnet<float>>(models::ppnet<float>&) const;
extern template models::ppnet<float> checkpoint::make<models::ppnet<float>>() const;
extern template void checkpoint::save<models::sarnet<float>>(const std::filesystem::path&, const models::sarnet<float>&, const checkpoint_options&);
extern template void checkpoint::restore<models::sarnet<float>>(models::sarnet<float>&) const;
extern template models::sarnet<float> checkpoint::make<models::sarnet<float>>() const;
extern template void checkpoint::save<models::shared_bottom<float>>(const std::filesystem::path&, const models::shared_bottom<float>&, const checkpoint_options&);
extern template void checkpoint::restore<models::shared_bottom<float>>(models::shared_bottom<float>&) const;
extern template models::shared_bottom<float> checkpoint::make<models::shared_bottom<float>>() const;
extern template void checkpoint::save<models::star<float>>(const std::filesystem::path&, const models::star<float>&, const checkpoint_options&);
extern template void checkpoint::restore<models::star<float>>(models::star<float>&) const;
extern template models::star<float> checkpoint::make<models::star<float>>() const;

}  // namespace recblocks::io

#pragma once
/// \file extern_trainers.hpp
/// Included by `train/trainer.hpp` only when `RECBLOCKS_EXTERN_TEMPLATES` is defined (a target links
/// the optional `recblocks::instantiations` library): declares the trainers of the fourteen registry
/// models on `float` as explicitly instantiated there, so a translation unit that trains one of them
/// compiles none of the training code (docs/performance.md, "Compile time"). The model types must be
/// complete here, hence the model headers.

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

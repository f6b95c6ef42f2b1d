#pragma once
/// \file models.hpp
/// The multi-scenario CTR models composed from the blocks (Scenario-Wise Rec), all satisfying
/// `models::ctr_model` (see models/model_concept.hpp), and GMF, the user-item candidate generator of
/// LLM4Rerank (`models/gmf.hpp`).
#include "models/feature_embedding.hpp"
#include "models/field_gate.hpp"
#include "models/model_concept.hpp"
#include "models/mmoe.hpp"
#include "models/shared_bottom.hpp"
#include "models/adaptdhm.hpp"
#include "models/adasparse.hpp"
#include "models/epnet.hpp"
#include "models/gmf.hpp"
#include "models/hamur.hpp"
#include "models/embedding_hook.hpp"
#include "models/llm4msr.hpp"
#include "models/m2m.hpp"
#include "models/m3oe.hpp"
#include "models/ple.hpp"
#include "models/ppnet.hpp"
#include "models/registry.hpp"
#include "models/sarnet.hpp"
#include "models/star.hpp"
// issue 18 (UserIP-Tuning)
#include "models/dcn.hpp"
#include "models/userip.hpp"

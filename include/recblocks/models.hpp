#pragma once
/// \file models.hpp
/// The multi-scenario CTR models composed from the blocks (Scenario-Wise Rec), all satisfying
/// `models::ctr_model` (see models/model_concept.hpp).
#include "models/model_concept.hpp"
#include "models/mmoe.hpp"
#include "models/shared_bottom.hpp"

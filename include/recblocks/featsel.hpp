#pragma once
/// \file featsel.hpp
/// Umbrella header of `featsel/`: feature selection (AltFS / SELF, papers.md §3): feature
/// descriptors, the ranking-policy concept and its policies (LLM, bridge, permutation importance,
/// mutual information, learnable gate), rank-guided masking, field selection, ranking metrics and
/// the synthetic dataset with known importance.

#include "featsel/feature_descriptor.hpp"
#include "featsel/feature_ranking.hpp"
#include "featsel/gated_model.hpp"
#include "featsel/known_importance.hpp"
#include "featsel/learnable_gate.hpp"
#include "featsel/llm_ranking_policy.hpp"
#include "featsel/model_policies.hpp"
#include "featsel/mutual_information_policy.hpp"
#include "featsel/rank_guided_mask.hpp"
#include "featsel/ranking_metrics.hpp"
#include "featsel/select_fields.hpp"

#pragma once
/// \file rerank.hpp
/// Umbrella header of the rerank layer: MMR, greedy DPP, fairness-aware exposure reranking and the
/// rerank metrics (alpha-NDCG, intra-list diversity, coverage, group fairness gap), and LLM4Rerank's
/// aspect graph with its scorer, fixed-path and LLM policies (`llm_node_policy.hpp` includes the
/// header-only `llm/` layer; no curl).

#include "rerank/aspect_graph.hpp"
#include "rerank/dpp.hpp"
#include "rerank/fixed_path_policy.hpp"
#include "rerank/fair_exposure.hpp"
#include "rerank/llm_node_policy.hpp"
#include "rerank/metrics/alpha_ndcg.hpp"
#include "rerank/metrics/coverage.hpp"
#include "rerank/metrics/group_fairness.hpp"
#include "rerank/metrics/intra_list_diversity.hpp"
#include "rerank/mmr.hpp"
#include "rerank/rationale_prompt.hpp"
#include "rerank/rationale_scorer.hpp"
#include "rerank/score_fusion.hpp"
#include "rerank/shift_sampler.hpp"
#include "rerank/scorer_node_policy.hpp"

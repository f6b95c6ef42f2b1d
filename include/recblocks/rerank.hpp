#pragma once
/// \file rerank.hpp
/// Umbrella header of the rerank layer: MMR, greedy DPP, fairness-aware exposure reranking and the
/// rerank metrics (alpha-NDCG, intra-list diversity, coverage, group fairness gap), and LLM4Rerank's
/// aspect graph with its scorer and fixed-path policies. The LLM policy (`rerank/llm_node_policy.hpp`,
/// which includes `llm/`) is included on its own.

#include "rerank/aspect_graph.hpp"
#include "rerank/dpp.hpp"
#include "rerank/fixed_path_policy.hpp"
#include "rerank/fair_exposure.hpp"
#include "rerank/metrics/alpha_ndcg.hpp"
#include "rerank/metrics/coverage.hpp"
#include "rerank/metrics/group_fairness.hpp"
#include "rerank/metrics/intra_list_diversity.hpp"
#include "rerank/mmr.hpp"
#include "rerank/scorer_node_policy.hpp"

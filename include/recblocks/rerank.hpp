#pragma once
/// \file rerank.hpp
/// Umbrella header of the rerank layer: MMR, greedy DPP, fairness-aware exposure reranking and the
/// rerank metrics (alpha-NDCG, intra-list diversity, coverage, group fairness gap).

#include "rerank/dpp.hpp"
#include "rerank/fair_exposure.hpp"
#include "rerank/metrics/alpha_ndcg.hpp"
#include "rerank/metrics/coverage.hpp"
#include "rerank/metrics/group_fairness.hpp"
#include "rerank/metrics/intra_list_diversity.hpp"
#include "rerank/mmr.hpp"

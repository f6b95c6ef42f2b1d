#pragma once
/// \file retrieval.hpp
/// Umbrella header of the retrieval layer. Parts that need an optional target are included only
/// when their dependency is visible: `hnsw_index.hpp` (recblocks::hnsw, hnswlib) and `topk_thrust.hpp`
/// (recblocks::thrust) must be included explicitly.

#include "retrieval/topk.hpp"
#include "retrieval/negatives.hpp"
#include "retrieval/child_policy.hpp"
#include "retrieval/centroid_policy.hpp"
#include "retrieval/item_tree.hpp"
#include "retrieval/text_hashing.hpp"

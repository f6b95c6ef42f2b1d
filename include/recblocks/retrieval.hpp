#pragma once
/// \file retrieval.hpp
/// Umbrella header of the retrieval layer (every header of the folder). Parts that need an optional
/// target are included only when their dependency is visible: `hnsw_index.hpp` when the hnswlib
/// headers are found, `topk_thrust.hpp` when `recblocks::thrust` is linked (`THRUST_DEVICE_SYSTEM`).

#include "retrieval/topk.hpp"
#include "retrieval/negatives.hpp"
#include "retrieval/child_policy.hpp"
#include "retrieval/centroid_policy.hpp"
#include "retrieval/item_tree.hpp"
#include "retrieval/text_hashing.hpp"
#include "retrieval/negative_source.hpp"
#include "retrieval/random_negatives.hpp"
#include "retrieval/in_batch_negatives.hpp"
#include "retrieval/hard_negatives.hpp"
#include "retrieval/hybrid_negatives.hpp"
#include "retrieval/bm25.hpp"
#if __has_include(<hnswlib/hnswlib.h>)
#include "retrieval/hnsw_index.hpp"
#endif
#if defined(THRUST_DEVICE_SYSTEM)
#include "retrieval/topk_thrust.hpp"
#endif

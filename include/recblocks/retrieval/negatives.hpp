#pragma once
/// \file negatives.hpp
/// Negative sampling: the `negative_source` concept and the shipped sources (random, in-batch,
/// index-mined hard negatives, hybrid per-instance mixing).

#include "hard_negatives.hpp"
#include "hybrid_negatives.hpp"
#include "in_batch_negatives.hpp"
#include "negative_source.hpp"
#include "random_negatives.hpp"

#pragma once
/// \file recblocks.hpp
/// Everything in recblocks that needs no optional dependency. Optional parts have their own
/// umbrellas: `recblocks/retrieval.hpp` (hnswlib, Thrust), `recblocks/llm.hpp` (+ libcurl client).
#include "core.hpp"
#include "loss.hpp"
#include "nn.hpp"
#include "optim.hpp"
#include "testing.hpp"

/// Library version.
#define RECBLOCKS_VERSION_MAJOR 0
#define RECBLOCKS_VERSION_MINOR 1
#define RECBLOCKS_VERSION_PATCH 0
#include "data.hpp"
#include "eval.hpp"

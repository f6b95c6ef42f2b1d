#pragma once
/// \file io.hpp
/// Serialization: safetensors weights, model checkpoints (model.json + weights.safetensors), `.npy`.
#include "io/checkpoint.hpp"
#include "io/knowledge_cache.hpp"
#include "io/npy.hpp"
#include "io/safetensors.hpp"

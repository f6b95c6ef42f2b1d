#pragma once
/// \file nn.hpp
/// Layers composed from the core ops.
#include "nn/batch_norm.hpp"
#include "nn/embedding.hpp"
#include "nn/embedding_bag.hpp"
#include "nn/hashed_embedding.hpp"
#include "nn/init.hpp"
#include "nn/layer_norm.hpp"
#include "nn/linear.hpp"
#include "nn/mlp.hpp"
#include "nn/module.hpp"
#include "nn/layer_norm_mlp.hpp"
#include "nn/scenario.hpp"
#include "nn/sequential.hpp"
#include "nn/transformer_encoder.hpp"
#include "nn/transformer_decoder.hpp"
#include "nn/co_attention.hpp"
#include "nn/counterfactual_head.hpp"
#include "nn/gru.hpp"
#include "nn/target_attention.hpp"
// issue 18 (UserIP-Tuning)
#include "nn/causal_lm.hpp"
#include "nn/soft_prompt.hpp"

#pragma once
/// \file scenario.hpp
/// The multi-scenario blocks (`nn/scenario/`): routing rows to per-scenario heads, scenario-
/// conditioned layers, gates and experts. They live in namespace `recblocks::nn` like the general
/// layers of `nn/`, grouped in a subfolder so that `nn/` itself reads as general layers.
#include "scenario/cgc_layer.hpp"
#include "scenario/cluster_router.hpp"
#include "scenario/gate_nu.hpp"
#include "scenario/hyper_adapter.hpp"
#include "scenario/meta_attention.hpp"
#include "scenario/meta_linear.hpp"
#include "scenario/meta_tower.hpp"
#include "scenario/moe_gate.hpp"
#include "scenario/multi_level_experts.hpp"
#include "scenario/partitioned_norm.hpp"
#include "scenario/pruner.hpp"
#include "scenario/scenario_router.hpp"
#include "scenario/scenario_transfer.hpp"
#include "scenario/star_linear.hpp"

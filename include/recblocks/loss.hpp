#pragma once
/// \file loss.hpp
/// Loss functions (each a fused, numerically stable tape node).
#include "loss/bce.hpp"
#include "loss/bce_with_logits.hpp"
#include "loss/contrastive.hpp"
#include "loss/softmax_cross_entropy.hpp"

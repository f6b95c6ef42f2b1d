#pragma once
/// \file ops.hpp
/// All primitive ops of the tape (each with a hand-written backward, each gradient-checked).
#include "ops/activation.hpp"
#include "ops/attention.hpp"
#include "ops/dropout.hpp"
#include "ops/elementwise.hpp"
#include "ops/gather.hpp"
#include "ops/linear_gelu.hpp"
#include "ops/masked_attention.hpp"
#include "ops/matmul.hpp"
#include "ops/mixture.hpp"
#include "ops/normalization.hpp"
#include "ops/reduce.hpp"
#include "ops/row_pooling.hpp"
#include "ops/shape.hpp"
#include "ops/sequence.hpp"
#include "ops/softmax.hpp"
#include "ops/where.hpp"

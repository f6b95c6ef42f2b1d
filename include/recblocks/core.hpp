#pragma once
/// \file core.hpp
/// The engine: tensors, parameters, the tape and every primitive op.
#include "core/arena.hpp"
#include "core/assert.hpp"
#include "core/error.hpp"
#include "core/gemm.hpp"
#include "core/ops.hpp"
#include "core/param.hpp"
#include "core/rng.hpp"
#include "core/tape.hpp"
#include "core/tensor.hpp"

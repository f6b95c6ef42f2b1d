#pragma once
/// \file core.hpp
/// The engine: tensors, parameters, the tape and every primitive op.
#include "core/arena.hpp"
#include "core/assert.hpp"
#include "core/error.hpp"
#include "core/bf16.hpp"
#include "core/gemm.hpp"
#include "core/hash.hpp"
#include "core/host_device.hpp"
#include "core/ops.hpp"
#include "core/param.hpp"
#include "core/rng.hpp"
#include "core/tape.hpp"
#include "core/tensor.hpp"

#pragma once
/// \file recblocks.hpp
/// The engine and the basic blocks: tensors, the tape and every op, layers, losses, optimizers and
/// the gradient check (compiles in a few seconds). The rest has folder umbrellas —
/// `data.hpp`, `eval.hpp`, `io.hpp`, `train.hpp`, `models.hpp`, `retrieval.hpp`, `quant.hpp`,
/// `rerank.hpp`, `llm.hpp` — and `all.hpp` includes everything that needs no optional dependency.
#include "version.hpp"
#include "core.hpp"
#include "loss.hpp"
#include "nn.hpp"
#include "optim.hpp"
#include "testing.hpp"

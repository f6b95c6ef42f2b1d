#pragma once
/// \file all.hpp
/// Everything in recblocks that needs no optional dependency (heavier to compile than
/// `recblocks.hpp`): the engine plus data, evaluation, checkpoints, training and the models.
#include "recblocks.hpp"
#include "data.hpp"
#include "eval.hpp"
#include "io.hpp"
#include "train.hpp"
#include "models.hpp"

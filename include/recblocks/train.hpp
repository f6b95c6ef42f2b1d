#pragma once
/// \file train.hpp
/// Training: the trainer (epochs, Adam, early stopping on validation AUC, callbacks, per-scenario
/// evaluation). Checkpoints are in `recblocks/io.hpp`.
#include "train/trainer.hpp"

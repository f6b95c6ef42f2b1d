#pragma once
/// \file optim.hpp
/// Optimizers (dense and row-sparse steps) and gradient clipping.
#include "optim/adagrad.hpp"
#include "optim/adam.hpp"
#include "optim/clip.hpp"
#include "optim/optimizer_base.hpp"
#include "optim/sgd.hpp"

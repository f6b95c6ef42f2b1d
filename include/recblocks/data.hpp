#pragma once
/// \file data.hpp
/// Feature schema, columnar dataset, batches and batching, splits, CSV readers, encoders,
/// dataset loaders and the synthetic multi-scenario generator.
#include "data/batch.hpp"
#include "data/batcher.hpp"
#include "data/dataset.hpp"
#include "data/schema.hpp"
#include "data/split.hpp"

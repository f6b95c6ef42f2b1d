#pragma once
/// \file data.hpp
/// Feature schema, columnar dataset, batches and batching, splits, CSV readers, encoders,
/// dataset loaders and the synthetic multi-scenario generator.
#include "data/batch.hpp"
#include "data/batcher.hpp"
#include "data/csv_dataset.hpp"
#include "data/csv_reader.hpp"
#include "data/dataset.hpp"
#include "data/feature_hasher.hpp"
#include "data/label_encoder.hpp"
#include "data/min_max_scaler.hpp"
#include "data/movielens.hpp"
#include "data/scenario_datasets.hpp"
#include "data/schema.hpp"
#include "data/split.hpp"
#include "data/synthetic.hpp"
#include "data/movielens_genre.hpp"
#include "data/sequence_builder.hpp"
#include "data/synthetic_sequences.hpp"
#include "data/beir_dataset.hpp"

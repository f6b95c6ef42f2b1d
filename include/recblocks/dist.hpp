#pragma once
/// \file dist.hpp
/// Distributed training over MPI (issue 22, optional target `recblocks::mpi`; not part of
/// `all.hpp`, which needs no MPI): the communicator (collectives with deadlines and counters), the
/// sharded batcher, row-sharded embedding tables, the data-parallel trainer and sharded checkpoints.
/// See docs/scaling.md.
#include "dist/communicator.hpp"
#include "dist/data_parallel_trainer.hpp"
#include "dist/error.hpp"
#include "dist/shard_batcher.hpp"
#include "dist/sharded_checkpoint.hpp"
#include "dist/sharded_table.hpp"

#pragma once
/// \file error.hpp
/// Errors of the distributed layer (`dist/`, optional target `recblocks::mpi`).
///
/// `comm_error`: an MPI call returned an error code (the communicator sets `MPI_ERRORS_RETURN`, so
/// MPI reports instead of aborting); the message names the operation, the rank and MPI's error
/// string. `timeout_error`: a collective did not complete within the communicator's timeout (a
/// peer died, hung, or runs a different step); the message names the operation, the rank, the
/// communicator size and the timeout. After either, the communicator is unusable: the pending
/// request cannot be cancelled portably, so the caller ends the job (`communicator::abort`).

#include <string>

#include "../core/error.hpp"

namespace recblocks::dist {

/// An MPI call failed (see file docs).
class comm_error : public error {
 public:
  using error::error;
};

/// A collective did not finish within the configured timeout (see file docs).
class timeout_error : public comm_error {
 public:
  using comm_error::comm_error;
};

}  // namespace recblocks::dist

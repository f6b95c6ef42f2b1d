#pragma once
/// \file communicator.hpp
/// The MPI collectives the distributed trainer uses, each with a deadline, a byte count and a timer.
///
/// Every collective is started non-blocking (`MPI_Iallreduce`, `MPI_Ialltoall(v)`,
/// `MPI_Iallgather(v)`, `MPI_Ibarrier`, `MPI_Ibcast`; MPI-3) and completed by polling `MPI_Test`
/// until it finishes or `timeout_seconds` pass, in which case `timeout_error` is thrown naming the
/// operation, the rank and the timeout. Polling yields the CPU after a short spin, so ranks that
/// share cores (`mpirun --oversubscribe`) make progress.
///
/// What MPI itself guarantees (MPI-4.0, sections 9.3 and 11.2; Open MPI 4.1): nothing about peers
/// that fail. After a process fails, the state of MPI is undefined and a blocking collective may
/// never return; the standard error handler `MPI_ERRORS_ARE_FATAL` aborts the job only when an
/// error is *reported*, and a hung peer reports nothing. Open MPI's launcher (`mpirun`) does
/// terminate all ranks when one exits without `MPI_Finalize` or dies on a signal ("mpirun noticed
/// that process rank N ... exited on signal"), which is runtime behaviour, not the standard's; a
/// rank that hangs (a deadlock, a stopped process, a lost node that keeps its sockets) is detected
/// by nobody. Hence the deadline here: every rank either completes the collective or throws
/// within `timeout_seconds` (plus one poll interval), and the caller ends the job with `abort`
/// (`MPI_Abort`), since a pending request cannot be cancelled and the communicator is unusable
/// afterwards. The communicator sets `MPI_ERRORS_RETURN` so that reported errors become
/// `comm_error` instead of an immediate abort.
///
/// Statistics (`stats()`): calls and seconds per kind (all-reduce, all-to-all, all-gather, other)
/// and the bytes this rank puts on the wire, counted as the standard algorithms send them:
/// all-reduce `2 (n - 1) / n` of the buffer (ring / reduce-scatter + all-gather), all-gather the
/// other ranks' blocks it forwards (ring: total minus its own), all-to-all exactly the bytes for
/// other ranks, plus the 4-byte counts exchanged first; nothing with one rank. Open MPI may pick
/// another algorithm (recursive doubling for small buffers), which moves a similar volume in fewer
/// rounds. For the measurements and the cost model of docs/scaling.md.
///
/// Requires: `MPI_Init` (or `MPI_Init_thread`) before construction, `MPI_Finalize` after the last
/// use; one communicator per thread. Element types: float, double, std::int64_t, std::int32_t,
/// unsigned char (`mpi_type`).
///
///     MPI_Init(&argc, &argv);
///     dist::communicator comm(MPI_COMM_WORLD, {.timeout_seconds = 60});
///     std::vector<float> g = ...;  comm.allreduce_sum(std::span<float>(g), "gradients");

#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "../core/tensor.hpp"
#include "error.hpp"

namespace recblocks::dist {

struct communicator_options {
  double timeout_seconds = 300;  ///< deadline of every collective (> 0)
};

/// Counters of one rank's communication (see file docs).
struct comm_stats {
  std::uint64_t bytes_sent = 0;        ///< payload bytes this rank contributed (all-reduce: its buffer once)
  std::uint64_t allreduce_calls = 0, alltoall_calls = 0, allgather_calls = 0, other_calls = 0;
  double allreduce_seconds = 0, alltoall_seconds = 0, allgather_seconds = 0, other_seconds = 0;
};

template <class T>
MPI_Datatype mpi_type() {
  if constexpr (std::is_same_v<T, float>) return MPI_FLOAT;
  else if constexpr (std::is_same_v<T, double>) return MPI_DOUBLE;
  else if constexpr (std::is_same_v<T, std::int64_t> || (std::is_same_v<T, long> && sizeof(long) == 8)) return MPI_INT64_T;
  else if constexpr (std::is_same_v<T, std::int32_t>) return MPI_INT32_T;
  else if constexpr (std::is_same_v<T, unsigned char> || std::is_same_v<T, char>) return MPI_UNSIGNED_CHAR;
  else static_assert(sizeof(T) == 0, "dist::mpi_type: unsupported element type");
}

class communicator {
 public:
  explicit communicator(MPI_Comm comm = MPI_COMM_WORLD, communicator_options opt = {}) : comm_(comm), opt_(opt) {
    int init = 0;
    MPI_Initialized(&init);
    if (!init) throw comm_error("dist::communicator: MPI is not initialised (call MPI_Init first)");
    if (!(opt.timeout_seconds > 0))
      throw value_error("dist::communicator: timeout_seconds must be > 0, got " + std::to_string(opt.timeout_seconds));
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }

  int rank() const { return rank_; }
  int size() const { return size_; }
  MPI_Comm native() const { return comm_; }
  double timeout_seconds() const { return opt_.timeout_seconds; }
  void set_timeout_seconds(double s) {
    if (!(s > 0)) throw value_error("dist::communicator: timeout_seconds must be > 0, got " + std::to_string(s));
    opt_.timeout_seconds = s;
  }
  const comm_stats& stats() const { return stats_; }
  void reset_stats() { stats_ = {}; }

  /// In-place element-wise sum over all ranks.
  template <class T>
  void allreduce_sum(std::span<T> data, const char* what) {
    const auto t0 = clock::now();
    MPI_Request req;
    check(MPI_Iallreduce(MPI_IN_PLACE, data.data(), int_count(data.size(), what), mpi_type<T>(), MPI_SUM, comm_, &req),
          what);
    wait(req, what);
    stats_.bytes_sent += size_ > 1 ? 2 * (static_cast<std::uint64_t>(size_) - 1) * data.size_bytes() / static_cast<std::uint64_t>(size_) : 0;
    ++stats_.allreduce_calls;
    stats_.allreduce_seconds += seconds_since(t0);
  }

  /// Personalised exchange: `send[r]` goes to rank r; returns what each rank sent here (`[size()]`).
  template <class T>
  std::vector<std::vector<T>> alltoallv(const std::vector<std::vector<T>>& send, const char* what) {
    if (static_cast<int>(send.size()) != size_)
      throw value_error(std::string("dist::communicator::alltoallv (") + what + "): " + std::to_string(send.size()) +
                        " send lists for " + std::to_string(size_) + " ranks");
    const auto t0 = clock::now();
    std::vector<int> scount(size_), rcount(size_), sdispl(size_), rdispl(size_);
    std::size_t total = 0;
    for (int r = 0; r < size_; ++r) {
      scount[r] = int_count(send[r].size(), what);
      sdispl[r] = int_count(total, what);
      total += send[r].size();
    }
    MPI_Request req;
    check(MPI_Ialltoall(scount.data(), 1, MPI_INT, rcount.data(), 1, MPI_INT, comm_, &req), what);
    wait(req, what);
    std::vector<T> sbuf;
    sbuf.reserve(total);
    for (const auto& s : send) sbuf.insert(sbuf.end(), s.begin(), s.end());
    std::size_t rtotal = 0;
    for (int r = 0; r < size_; ++r) {
      rdispl[r] = int_count(rtotal, what);
      rtotal += static_cast<std::size_t>(rcount[r]);
    }
    std::vector<T> rbuf(rtotal);
    check(MPI_Ialltoallv(sbuf.data(), scount.data(), sdispl.data(), mpi_type<T>(), rbuf.data(), rcount.data(),
                         rdispl.data(), mpi_type<T>(), comm_, &req),
          what);
    wait(req, what);
    std::vector<std::vector<T>> out(static_cast<std::size_t>(size_));
    for (int r = 0; r < size_; ++r) out[r].assign(rbuf.begin() + rdispl[r], rbuf.begin() + rdispl[r] + rcount[r]);
    stats_.bytes_sent += (total - send[rank_].size()) * sizeof(T) + sizeof(int) * static_cast<std::size_t>(size_ - 1);
    ++stats_.alltoall_calls;
    stats_.alltoall_seconds += seconds_since(t0);
    return out;
  }

  /// Every rank's `local`, in rank order (`[size()]`).
  template <class T>
  std::vector<std::vector<T>> allgatherv(std::span<const T> local, const char* what) {
    const auto t0 = clock::now();
    int mine = int_count(local.size(), what);
    std::vector<int> counts(size_), displ(size_);
    MPI_Request req;
    check(MPI_Iallgather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, comm_, &req), what);
    wait(req, what);
    std::size_t total = 0;
    for (int r = 0; r < size_; ++r) {
      displ[r] = int_count(total, what);
      total += static_cast<std::size_t>(counts[r]);
    }
    std::vector<T> buf(total);
    check(MPI_Iallgatherv(local.data(), mine, mpi_type<T>(), buf.data(), counts.data(), displ.data(), mpi_type<T>(),
                          comm_, &req),
          what);
    wait(req, what);
    std::vector<std::vector<T>> out(static_cast<std::size_t>(size_));
    for (int r = 0; r < size_; ++r) out[r].assign(buf.begin() + displ[r], buf.begin() + displ[r] + counts[r]);
    stats_.bytes_sent += (total - local.size()) * sizeof(T) + sizeof(int) * static_cast<std::size_t>(size_ - 1);
    ++stats_.allgather_calls;
    stats_.allgather_seconds += seconds_since(t0);
    return out;
  }

  /// `data` of rank `root` copied to every rank (same size everywhere).
  template <class T>
  void broadcast(std::span<T> data, int root, const char* what) {
    const auto t0 = clock::now();
    MPI_Request req;
    check(MPI_Ibcast(data.data(), int_count(data.size(), what), mpi_type<T>(), root, comm_, &req), what);
    wait(req, what);
    if (rank_ == root) stats_.bytes_sent += data.size_bytes() * static_cast<std::size_t>(size_ - 1);
    ++stats_.other_calls;
    stats_.other_seconds += seconds_since(t0);
  }

  void barrier(const char* what) {
    const auto t0 = clock::now();
    MPI_Request req;
    check(MPI_Ibarrier(comm_, &req), what);
    wait(req, what);
    ++stats_.other_calls;
    stats_.other_seconds += seconds_since(t0);
  }

  /// Ends every rank of the job (`MPI_Abort`); what a caller does after a `comm_error`.
  [[noreturn]] void abort(int code) const {
    MPI_Abort(comm_, code);
    std::abort();  // MPI_Abort does not return; keeps [[noreturn]] honest
  }

 private:
  using clock = std::chrono::steady_clock;
  static double seconds_since(clock::time_point t0) { return std::chrono::duration<double>(clock::now() - t0).count(); }

  int int_count(std::size_t n, const char* what) const {
    if (n > static_cast<std::size_t>(std::numeric_limits<int>::max()))
      throw value_error(std::string("dist::communicator (") + what + "): " + std::to_string(n) +
                        " elements exceed MPI's int count");
    return static_cast<int>(n);
  }

  void check(int rc, const char* what) const {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    throw comm_error(std::string("dist::communicator: ") + what + " failed on rank " + std::to_string(rank_) + " of " +
                     std::to_string(size_) + ": " + std::string(text, static_cast<std::size_t>(len)));
  }

  void wait(MPI_Request& req, const char* what) const {
    const auto deadline = clock::now() + std::chrono::duration<double>(opt_.timeout_seconds);
    int done = 0;
    for (long polls = 0;; ++polls) {
      check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), what);
      if (done) return;
      if (clock::now() > deadline)
        throw timeout_error("dist::communicator: " + std::string(what) + " did not complete within " +
                            std::to_string(opt_.timeout_seconds) + " s on rank " + std::to_string(rank_) + " of " +
                            std::to_string(size_) + " (a peer died, hung or runs a different step); end the job with abort()");
      if (polls > 2000) std::this_thread::sleep_for(std::chrono::microseconds(50));
      else if (polls > 200) std::this_thread::yield();
    }
  }

  MPI_Comm comm_;
  communicator_options opt_;
  int rank_ = 0, size_ = 1;
  comm_stats stats_;
};

}  // namespace recblocks::dist

#pragma once
/// \file tape.hpp
/// Matrix-level reverse-mode automatic differentiation.
///
/// A model's forward is written once as a sequence of ops on `var<T>`. Each op evaluates its output
/// into the tape's arena and, when the tape records and an input is tracked, pushes one small POD
/// node holding a function-pointer backward. `backward(loss)` sweeps the nodes in reverse:
///
///     dL/dx_i += J_op(x)^T dL/dy          for every recorded op y = op(x_1..x_n)
///
/// Gradients of intermediate values live in a second arena; the first write assigns and later
/// writes add. Parameter leaves write into the parameter's own (dense or row-sparse) gradient.
///
/// Modes: a tape is created for training (`tape_mode::train`: records, batch norm uses batch
/// statistics, dropout is on) or inference (`tape_mode::infer`: nothing is recorded and the model's
/// `const` forward touches no shared state, so many threads may serve one model, each with its own
/// tape). `no_grad` switches recording off temporarily; `set_training` toggles train-time behaviour
/// independently of recording.
///
/// Safety: every value carries the tape step that owns its memory (`var::epoch`); an op, `backward`
/// or `grad` given a value of another tape or of a step before `reset()` throws `state_error`
/// instead of reading freed memory. A parameter's leaf node points at the parameter's heap-held
/// gradient state, so moving a parameter mid-step (a growing vector) leaves no dangling leaf.
///
/// Thread-safety: a tape belongs to one thread. After warm-up a step allocates no heap memory.

#include <atomic>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <type_traits>
#include <string>
#include <utility>
#include <vector>

#include "arena.hpp"
#include "error.hpp"
#include "param.hpp"
#include "rng.hpp"
#include "tensor.hpp"

namespace recblocks {

/// A value on a tape: read-only `[rows, cols]` row-major memory, the index of the node that produced
/// it (`-1`: a constant, no gradient flows into it), and the tape step that owns the memory.
///
/// `epoch` is the globally unique id of the tape step (construction or `reset()`) whose arena holds
/// `data` (0: memory the tape does not own: a parameter's value or a caller's view). A tape refuses
/// (`state_error`) a value of another tape or of an earlier step, which would otherwise read freed
/// arena memory and give silently wrong gradients. Reading is `value()` (a `const` view); only the
/// op that produced a value fills it, through `tape::out`.
template <class T>
struct var {
  const T* data = nullptr;
  index_t rows = 0;
  index_t cols = 0;
  int node = -1;
  std::uint64_t epoch = 0;

  const_map<T> value() const { return const_map<T>(data, rows, cols); }
  index_t size() const { return rows * cols; }
  bool tracked() const { return node >= 0; }
  /// The single element of a `[1, 1]` value (a loss).
  T item() const {
    if (rows != 1 || cols != 1) throw shape_error("var::item: expected [1, 1], got " + shape_string(rows, cols));
    return data[0];
  }
};

template <class T>
class tape;

/// One recorded op. Plain data: no virtual, no std::function, no heap allocation of its own.
template <class T>
struct tape_node {
  using backward_fn = void (*)(tape<T>&, const tape_node&);

  const char* op = "";
  backward_fn backward = nullptr;
  const T* value = nullptr;
  T* grad = nullptr;
  index_t rows = 0;
  index_t cols = 0;
  int inputs_begin = 0;  // into tape::links_
  int inputs_count = 0;
  bool has_grad = false;
  param_grad_state<T>* leaf = nullptr;  // a parameter leaf's gradient state (stable across moves)
  bool leaf_sparse = false;             // the parameter takes row-sparse gradients
  // op payload: a pointer into the arena plus a few scalars
  void* aux = nullptr;
  void* aux2 = nullptr;
  index_t i0 = 0;
  index_t i1 = 0;
  T s0 = T(0);
  T s1 = T(0);

  const_map<T> value_map() const { return const_map<T>(value, rows, cols); }
  mutable_map<T> grad_map() const { return mutable_map<T>(grad, rows, cols); }
};

enum class tape_mode { train, infer };

/// Precision of the dense products (the fused linear op's GEMMs) on a tape or in one layer:
/// `fp32`, or `bf16` (inputs rounded to bfloat16, FP32 accumulation, on AVX512-BF16; FP32 where the
/// CPU lacks it). `automatic`, a layer's default, follows its tape (`tape::set_compute`), as PyTorch's
/// autocast region does; a tape's own default is `fp32`. Only `float` tapes use bf16.
enum class compute_type { automatic, fp32, bf16 };

/// What `tape::record` returns: a handle to the recorded node (by index, so a later `record` that
/// grows the node list cannot leave it dangling), or an empty handle when nothing was recorded.
template <class T>
class node_ref {
 public:
  node_ref() = default;
  node_ref(std::vector<tape_node<T>>* nodes, int index) : nodes_(nodes), index_(index) {}
  explicit operator bool() const { return nodes_ != nullptr; }
  tape_node<T>* operator->() const { return &(*nodes_)[static_cast<std::size_t>(index_)]; }
  tape_node<T>& operator*() const { return (*nodes_)[static_cast<std::size_t>(index_)]; }

 private:
  std::vector<tape_node<T>>* nodes_ = nullptr;
  int index_ = -1;
};

template <class T>
class tape {
 public:
  using node_type = tape_node<T>;
  using backward_fn = typename node_type::backward_fn;

  explicit tape(tape_mode mode = tape_mode::train, std::uint64_t seed = 0x5eed)
      : recording_(mode == tape_mode::train), training_(mode == tape_mode::train), epoch_(next_epoch()), rng_(seed) {}
  tape(const tape&) = delete;
  tape& operator=(const tape&) = delete;

  // ---- modes ------------------------------------------------------------------------------
  bool recording() const { return recording_; }
  void set_recording(bool on) { recording_ = on; }
  /// Train-time behaviour of batch norm and dropout.
  bool training() const { return training_; }
  void set_training(bool on) { training_ = on; }
  /// Checks every op's output (and every gradient in backward) for NaN/Inf and throws
  /// `value_error` naming the first op that produced one. Off by default (costs a pass per op).
  void set_check_finite(bool on) { check_finite_ = on; }
  /// Mixed precision for the whole tape (autocast): dense products of layers left at
  /// `compute_type::automatic` run in `c` (`automatic` here means `fp32`). Parameters, gradients
  /// and optimizer state stay in `T`.
  void set_compute(compute_type c) { compute_ = c == compute_type::automatic ? compute_type::fp32 : c; }
  compute_type compute() const { return compute_; }
  bool check_finite() const { return check_finite_; }
  /// The generator for dropout masks (seeded at construction, re-seedable).
  recblocks::rng& rng() { return rng_; }

  // ---- values -------------------------------------------------------------------------------
  /// A parameter as a leaf: tracked when recording and the parameter is trainable, otherwise a
  /// constant view of its value (no copy).
  var<T> leaf(const param<T>& p) {
    var<T> v{p.value().data(), p.rows(), p.cols(), -1, 0};
    if (!recording_ || !p.trainable()) return v;
    param_grad_state<T>& st = *p.state_;
    v.epoch = epoch_;
    if (st.epoch == epoch_ && st.node >= 0) {
      v.node = st.node;
      return v;
    }
    node_type n;
    n.op = "leaf";
    n.value = v.data;
    n.rows = v.rows;
    n.cols = v.cols;
    n.leaf = &st;
    n.leaf_sparse = p.sparse_grad();
    nodes_.push_back(n);
    v.node = static_cast<int>(nodes_.size()) - 1;
    st.epoch = epoch_;
    st.node = v.node;
    return v;
  }

  /// A constant copied into the arena.
  template <class Derived>
  var<T> constant(const Eigen::MatrixBase<Derived>& m) {
    var<T> v = make(m.rows(), m.cols());
    out(v) = m.template cast<T>();
    return v;
  }

  /// A constant view of caller-owned row-major memory (no copy; must outlive the tape's use).
  var<T> view(const T* data, index_t rows, index_t cols) { return var<T>{data, rows, cols, -1, 0}; }

  /// A fresh `[rows, cols]` value in the arena (uninitialised).
  var<T> make(index_t rows, index_t cols) {
    if (rows < 0 || cols < 0) throw shape_error("tape::make: negative shape " + shape_string(rows, cols));
    return var<T>{values_.allocate_array<T>(static_cast<std::size_t>(rows * cols)), rows, cols, -1, epoch_};
  }

  /// The writable memory of `v`, a value this tape made in this step (`make`): how an op fills its
  /// output. `state_error` for anything else (a parameter, a caller's view, another tape's value).
  mutable_map<T> out(const var<T>& v) { return mutable_map<T>(out_data(v), v.rows, v.cols); }
  T* out_data(const var<T>& v) {
    if (v.epoch != epoch_ || v.node >= 0)
      throw state_error("tape::out: only an op's own fresh output (tape::make in this step) may be written");
    return const_cast<T*>(v.data);  // arena memory this tape owns; var hands out read-only views
  }

  /// `state_error` unless `v` may be used on this tape now (see `var`): it is a constant the tape
  /// does not own, or a value of this tape's current step. `what` names the op in the message.
  void check(const var<T>& v, const char* what) const {
    if (v.epoch != 0 && v.epoch != epoch_)
      throw state_error(std::string(what) + ": a value from another tape or from before this tape's reset() (its memory "
                        "is no longer valid); recompute it on this tape in this step");
    if (v.node >= static_cast<int>(nodes_.size()) || (v.node >= 0 && v.epoch != epoch_))
      throw state_error(std::string(what) + ": a tracked value that this tape did not record in this step");
  }

  /// Arena memory for an op's saved state (valid until `reset()`).
  template <class U>
  U* scratch(std::size_t n) {
    return values_.allocate_array<U>(n);
  }
  /// `n` value-initialised `U` in the arena (valid until `reset()`): per-step lists (a model's expert
  /// outputs, routing ids) without a heap allocation. `U` must be trivially destructible.
  template <class U>
  std::span<U> scratch_span(std::size_t n) {
    static_assert(std::is_trivially_destructible_v<U>, "tape::scratch_span: the arena never runs destructors");
    U* p = values_.allocate_array<U>(n);
    std::uninitialized_value_construct_n(p, n);
    return {p, n};
  }

  // ---- recording (used by ops) --------------------------------------------------------------
  /// Records `out = op(inputs)` if recording and any input is tracked; sets `out.node` and returns a
  /// handle to the node for its payload, else an empty handle. Every input is checked first
  /// (`state_error` for a stale or foreign value, see `check`); also runs the finite check when enabled.
  node_ref<T> record(const char* op, var<T>& out, std::initializer_list<var<T>> inputs, backward_fn fn) {
    return record_range(op, out, inputs.begin(), inputs.size(), fn);
  }
  node_ref<T> record_range(const char* op, var<T>& out, const var<T>* inputs, std::size_t count, backward_fn fn) {
    for (std::size_t k = 0; k < count; ++k) check(inputs[k], op);
    if (check_finite_) check_values(op, out);
    if (!recording_ || consumed_) return {};
    bool any = false;
    for (std::size_t k = 0; k < count; ++k) any = any || inputs[k].tracked();
    if (!any) return {};
    node_type n;
    n.op = op;
    n.backward = fn;
    n.value = out.data;
    n.rows = out.rows;
    n.cols = out.cols;
    n.inputs_begin = static_cast<int>(links_.size());
    n.inputs_count = static_cast<int>(count);
    links_.insert(links_.end(), inputs, inputs + count);
    nodes_.push_back(n);
    out.node = static_cast<int>(nodes_.size()) - 1;
    out.epoch = epoch_;
    return node_ref<T>(&nodes_, out.node);
  }

  /// The k-th input of a node (as it was at record time).
  const var<T>& input(const node_type& n, int k) const { return links_[static_cast<std::size_t>(n.inputs_begin + k)]; }

  /// Whether gradient should be computed for input `v` (it is tracked).
  static bool wants_grad(const var<T>& v) { return v.node >= 0; }

  /// The gradient buffer of `v`'s node, zero-filled on first use (for ops that write part of it).
  mutable_map<T> grad_buffer(const var<T>& v) {
    node_type& n = nodes_[static_cast<std::size_t>(v.node)];
    if (n.leaf) {
      param_grad_state<T>& p = *n.leaf;
      if (!p.written) {
        if (p.grad.rows() != n.rows || p.grad.cols() != n.cols) p.grad.resize(n.rows, n.cols);
        p.grad.setZero();
        p.written = true;
      }
      return mutable_map<T>(p.grad.data(), n.rows, n.cols);
    }
    if (!n.has_grad) {
      n.grad = grads_.allocate_array<T>(static_cast<std::size_t>(n.rows * n.cols));
      mutable_map<T>(n.grad, n.rows, n.cols).setZero();
      n.has_grad = true;
    }
    return mutable_map<T>(n.grad, n.rows, n.cols);
  }

  /// The gradient buffer of `v` for a caller that writes it whole (a GEMM): returns the buffer and
  /// whether this is the first write of the step (then assign, else add). `v` must be tracked.
  std::pair<mutable_map<T>, bool> grad_slot(const var<T>& v) {
    node_type& n = nodes_[static_cast<std::size_t>(v.node)];
    if (n.leaf) {
      param_grad_state<T>& p = *n.leaf;
      const bool first = !p.written;
      if (first && (p.grad.rows() != n.rows || p.grad.cols() != n.cols)) p.grad.resize(n.rows, n.cols);
      p.written = true;
      return {mutable_map<T>(p.grad.data(), n.rows, n.cols), first};
    }
    const bool first = !n.has_grad;
    if (first) {
      n.grad = grads_.allocate_array<T>(static_cast<std::size_t>(n.rows * n.cols));
      n.has_grad = true;
    }
    return {mutable_map<T>(n.grad, n.rows, n.cols), first};
  }

  /// Arena memory for temporaries of a backward pass (valid until `reset()`).
  T* grad_scratch(index_t n) { return grads_.allocate_array<T>(static_cast<std::size_t>(n)); }

  /// `grad(v) += expr` (the first write assigns). No-op for untracked `v`.
  template <class Expr>
  void accumulate(const var<T>& v, const Expr& expr) {
    if (v.node < 0) return;
    node_type& n = nodes_[static_cast<std::size_t>(v.node)];
    if (n.leaf) {
      param_grad_state<T>& p = *n.leaf;
      if (!p.written) {
        if (p.grad.rows() != n.rows || p.grad.cols() != n.cols) p.grad.resize(n.rows, n.cols);
        mutable_map<T>(p.grad.data(), n.rows, n.cols).noalias() = expr;
        p.written = true;
      } else {
        mutable_map<T>(p.grad.data(), n.rows, n.cols).noalias() += expr;
      }
      return;
    }
    if (!n.has_grad) {
      n.grad = grads_.allocate_array<T>(static_cast<std::size_t>(n.rows * n.cols));
      mutable_map<T>(n.grad, n.rows, n.cols).noalias() = expr;
      n.has_grad = true;
    } else {
      mutable_map<T>(n.grad, n.rows, n.cols).noalias() += expr;
    }
  }

  /// The row-sparse gradient of the parameter behind a leaf input that takes sparse gradients, or
  /// nullptr (used by gather).
  sparse_rows<T>* leaf_sparse_rows(const var<T>& v) const {
    if (v.node < 0) return nullptr;
    const node_type& n = nodes_[static_cast<std::size_t>(v.node)];
    if (!n.leaf || !n.leaf_sparse) return nullptr;
    n.leaf->sparse.cols = n.cols;
    return &n.leaf->sparse;
  }

  // ---- backward -------------------------------------------------------------------------------
  /// Reverse sweep from a scalar `[1, 1]` loss (seed 1). Allocates nothing.
  void backward(const var<T>& loss) {
    if (loss.rows != 1 || loss.cols != 1)
      throw shape_error("tape::backward: the loss must be [1, 1], got " + shape_string(loss.rows, loss.cols) +
                        " (use backward(out, seed) for a non-scalar output)");
    sweep(loss, Eigen::Matrix<T, 1, 1>::Ones());
  }

  /// Reverse sweep from `out` with upstream gradient `seed` (same shape as `out`).
  void backward(const var<T>& out, const Eigen::Ref<const matrix<T>>& seed) {
    require_same_shape("tape::backward (seed)", out.rows, out.cols, seed.rows(), seed.cols());
    sweep(out, seed);
  }

  /// The gradient of a tracked intermediate value after backward (zeros if none flowed).
  matrix<T> grad(const var<T>& v) const {
    if (v.node < 0) throw state_error("tape::grad: value is not tracked");
    check(v, "tape::grad");
    const node_type& n = nodes_[static_cast<std::size_t>(v.node)];
    if (n.leaf) return n.leaf->dense(n.rows, n.cols);
    if (!n.has_grad) return matrix<T>::Zero(n.rows, n.cols);
    return mutable_map<T>(n.grad, n.rows, n.cols);
  }

  /// Clears nodes and both arenas (keeping their memory) for the next step.
  void reset() {
    nodes_.clear();
    links_.clear();
    values_.reset();
    grads_.reset();
    consumed_ = false;
    epoch_ = next_epoch();
  }

  bool consumed() const { return consumed_; }
  std::size_t node_count() const { return nodes_.size(); }
  std::size_t arena_bytes() const { return values_.capacity() + grads_.capacity(); }

 private:
  template <class Seed>
  void sweep(const var<T>& out, const Seed& seed) {
    if (consumed_) throw state_error("tape::backward: this tape was already consumed by a backward pass; reset() it first");
    if (!recording_ && nodes_.empty())
      throw state_error("tape::backward: nothing was recorded (the tape is in inference mode or recording is off)");
    check(out, "tape::backward");
    if (out.node < 0)
      throw state_error("tape::backward: the output does not depend on any trainable parameter or was computed with recording off");
    consumed_ = true;
    accumulate(out, seed);
    for (int i = static_cast<int>(nodes_.size()) - 1; i >= 0; --i) {
      const node_type& n = nodes_[static_cast<std::size_t>(i)];
      if (!n.backward || !n.has_grad) continue;
      if (check_finite_ && !const_map<T>(n.grad, n.rows, n.cols).allFinite())
        throw value_error(std::string("tape::backward: non-finite gradient flowing into the output of op '") + n.op + "'");
      n.backward(*this, n);
    }
  }

  // Globally unique step ids, so a parameter's cached leaf node can never be mistaken for one of
  // another tape that happens to live at the same address.
  static std::uint64_t next_epoch() {
    static std::atomic<std::uint64_t> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed) + 1;
  }

  void check_values(const char* op, const var<T>& out) const {
    if (!out.value().allFinite())
      throw value_error(std::string("non-finite value (NaN or Inf) produced by op '") + op + "' with output shape " +
                        shape_string(out.rows, out.cols));
  }

  std::vector<node_type> nodes_;
  std::vector<var<T>> links_;
  arena values_{1 << 20};
  arena grads_{1 << 20};
  bool recording_;
  bool training_;
  bool consumed_ = false;
  bool check_finite_ = false;
  compute_type compute_ = compute_type::fp32;
  std::uint64_t epoch_;
  recblocks::rng rng_;
};

/// RAII: turns recording off for a scope (inference inside a training step, target networks, ...).
template <class T>
class no_grad {
 public:
  explicit no_grad(tape<T>& t) : t_(t), was_(t.recording()) { t_.set_recording(false); }
  ~no_grad() { t_.set_recording(was_); }
  no_grad(const no_grad&) = delete;
  no_grad& operator=(const no_grad&) = delete;

 private:
  tape<T>& t_;
  bool was_;
};

/// RAII: one step on a tape, reset when the scope ends. The serving pattern: values computed inside
/// the scope are valid until it closes (read them before), and a loop of calls reuses the arena
/// instead of growing it without bound.
///
///     tape<float> serving(tape_mode::infer);
///     for (const auto& request : requests) {
///       step_scope step(serving);                    // resets `serving` at the end of each iteration
///       var<float> logits = model(serving, request);
///       reply(logits.value());
///     }
///
/// Also usable for training steps (`step_scope step(t); ... t.backward(loss); opt.step();`).
template <class T>
class step_scope {
 public:
  explicit step_scope(tape<T>& t) : t_(t) {}
  ~step_scope() { t_.reset(); }
  step_scope(const step_scope&) = delete;
  step_scope& operator=(const step_scope&) = delete;
  tape<T>& get() const { return t_; }

 private:
  tape<T>& t_;
};

}  // namespace recblocks

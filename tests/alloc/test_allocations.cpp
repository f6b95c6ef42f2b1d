// Allocation claims as tests (issue 10, part 3): this binary replaces malloc/calloc/realloc (and so
// every operator new, which calls malloc) with counting versions, and checks that a steady-state
// training step (forward + backward), an optimizer step and an inference call of every registered
// model allocate nothing on the heap. Its own binary (test_alloc), header-only and without OpenBLAS:
// the claims are for the Eigen GEMM path (tests/CMakeLists.txt).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <recblocks/data/batcher.hpp>
#include <recblocks/data/dataset.hpp>
#include <recblocks/loss/bce_with_logits.hpp>
#include <recblocks/models/registry.hpp>
#include <recblocks/optim/adam.hpp>
#include <recblocks/optim/adagrad.hpp>
#include <recblocks/optim/sgd.hpp>

extern "C" void* __libc_malloc(std::size_t);
extern "C" void* __libc_calloc(std::size_t, std::size_t);
extern "C" void* __libc_realloc(void*, std::size_t);

namespace rb_alloc {
thread_local bool counting = false;  // only the measuring thread, only inside a measured scope
thread_local long count = 0;
// Debug aid: RECBLOCKS_ALLOC_TRAP=1 aborts at the first counted allocation (run under gdb for its stack).
inline bool trap() {
  static const bool on = std::getenv("RECBLOCKS_ALLOC_TRAP") != nullptr;
  return on;
}
}  // namespace rb_alloc

extern "C" void* malloc(std::size_t n) {
  if (rb_alloc::counting) {
    ++rb_alloc::count;
    if (rb_alloc::trap()) std::abort();
  }
  return __libc_malloc(n);
}
extern "C" void* calloc(std::size_t n, std::size_t m) {
  if (rb_alloc::counting) ++rb_alloc::count;
  return __libc_calloc(n, m);
}
extern "C" void* realloc(void* p, std::size_t n) {
  if (rb_alloc::counting) ++rb_alloc::count;
  return __libc_realloc(p, n);
}

using namespace recblocks;

namespace {

/// Heap allocations made by `f()` on this thread.
template <class F>
long allocations(F&& f) {
  rb_alloc::count = 0;
  rb_alloc::counting = true;
  f();
  rb_alloc::counting = false;
  return rb_alloc::count;
}

data::schema alloc_schema() {
  data::schema s;
  s.add({.name = "user", .kind = data::feature_kind::sparse, .vocabulary = 40});
  s.add({.name = "item", .kind = data::feature_kind::sparse, .vocabulary = 30});
  s.add({.name = "genre", .kind = data::feature_kind::sparse, .vocabulary = 6});
  s.add({.name = "age", .kind = data::feature_kind::dense});
  s.add({.name = "scenario", .kind = data::feature_kind::scenario, .scenarios = 3});
  s.add({.name = "click", .kind = data::feature_kind::label});
  return s;
}

data::batch<float> alloc_batch(index_t n) {
  data::dataset ds(alloc_schema());
  rng g(11);
  for (index_t i = 0; i < n; ++i) {
    const std::array<index_t, 3> sp{g.integer(0, 39), g.integer(0, 29), g.integer(0, 5)};
    const std::array<double, 1> de{g.uniform(0, 1)};
    const std::array<double, 1> lab{double(g.bernoulli(0.4))};
    ds.append(sp, de, i % 3, lab);
  }
  data::batch<float> b;
  std::vector<index_t> rows(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) rows[static_cast<std::size_t>(i)] = i;
  ds.gather(std::span<const index_t>(rows), b);
  return b;
}

struct counts {
  long train_step = 0;  // reset + forward + loss + backward on a warm training tape
  long optimizer = 0;   // Adam step (lazy rows for the embedding tables)
  long inference = 0;   // one forward on a warm inference tape inside a step_scope
};

template <class Model>
counts measure(Model& model, const data::batch<float>& b) {
  optim::adam<float> opt(nn::parameters(model));
  tape<float> t;
  tape<float> serve(tape_mode::infer);
  const index_t n = b.size;
  auto train_step = [&] {
    t.reset();
    var<float> logits = model(t, b);
    t.backward(loss::bce_with_logits(t, logits, t.view(b.labels.data(), n, 1)));
  };
  auto infer = [&] {
    step_scope<float> step(serve);  // resets the tape when the call is done
    var<float> z = model(serve, b);
    (void)z;
  };
  for (int k = 0; k < 4; ++k) {  // warm-up: arenas, optimizer state and sparse buffers reach their size
    opt.zero_grad();
    train_step();
    opt.step();
    infer();
  }
  counts c;
  opt.zero_grad();
  c.train_step = allocations(train_step);
  c.optimizer = allocations([&] { opt.step(); });
  c.inference = allocations(infer);
  return c;
}

}  // namespace

TEST_CASE("the allocation counter counts", "[alloc]") {
  CHECK(allocations([] { std::vector<int> v(100); (void)v; }) >= 1);
  CHECK(allocations([] { matrix<float> m(40, 40); (void)m; }) >= 1);  // Eigen goes through malloc too
  CHECK(allocations([] {}) == 0);
}

TEST_CASE("steady-state training, optimizer and inference steps of every model allocate nothing", "[alloc][models]") {
  const data::schema s = alloc_schema();
  const data::batch<float> b = alloc_batch(48);
  for (const auto& name : models::registry::names()) {
    rng gen(5);
    const counts c = models::registry::visit<float>(name, s, nlohmann::json::object(), gen, [&](auto& m) { return measure(m, b); });
    INFO(name << ": train step " << c.train_step << ", optimizer step " << c.optimizer << ", inference " << c.inference);
    // The one stated exception: Eigen's GEMM packs operands into a heap buffer once the packed blocks
    // exceed EIGEN_STACK_ALLOCATION_LIMIT (128 KB). HAMUR's default layers (fcn 256, 128) reach it in
    // one weight-gradient product of its training step (found with RECBLOCKS_ALLOC_TRAP under gdb:
    // ops::linear's backward -> eigen_gemm -> general_matrix_matrix_product). With recblocks::blas,
    // products of 32+ rows go to OpenBLAS instead. Before issue 10 every model allocated 3-28 times
    // per training step, 12-16 per Adam step and 2-19 per inference call.
    const long expected_train = name == "hamur" ? 1 : 0;
    CHECK(c.train_step == expected_train);
    CHECK(c.optimizer == 0);
    CHECK(c.inference == 0);
  }
}

TEST_CASE("sparse optimizer steps allocate nothing once warm (SGD, Adagrad, Adam; duplicates coalesced)", "[alloc][optim]") {
  param<float> table("t", matrix<float>::Constant(50, 4, 0.1f));
  table.set_sparse_grad(true);
  const std::vector<index_t> ids{3, 7, 3, 9, 7, 7};  // duplicates: coalescing sorts and sums
  auto run = [&](auto& opt) {
    tape<float> t;
    auto step = [&] {
      opt.zero_grad();
      t.reset();
      t.backward(ops::sum_all(t, ops::gather_rows(t, t.leaf(table), ids)));
      opt.step();
    };
    for (int k = 0; k < 3; ++k) step();
    return allocations(step);
  };
  optim::sgd<float> sgd({&table});
  optim::adagrad<float> adagrad({&table});
  optim::adam<float> adam({&table});
  CHECK(run(sgd) == 0);
  CHECK(run(adagrad) == 0);
  CHECK(run(adam) == 0);
}

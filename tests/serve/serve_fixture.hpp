#pragma once
// Shared set-up of the serve/ tests: two trained-shape MMoE checkpoints (different seeds, so their
// scores differ everywhere) in a private temporary folder, and requests of 1-4 rows of a synthetic
// dataset, with their single-thread reference scores.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include <recblocks/data/synthetic.hpp>
#include <recblocks/io.hpp>
#include <recblocks/models/mmoe.hpp>
#include <recblocks/serve.hpp>

namespace serve_test {

using namespace recblocks;
namespace fs = std::filesystem;

inline data::synthetic small_data() {
  data::synthetic_config c;
  c.rows = 600;
  c.users = 50;
  c.items = 40;
  return data::synthetic(c);
}

struct fixture {
  data::synthetic syn = small_data();
  fs::path root;
  fs::path dir_a, dir_b;  // two checkpoints of the same schema
  std::vector<data::batch<float>> requests;

  fixture() {
    static std::atomic<int> counter{0};
    root = fs::temp_directory_path() / ("recblocks_serve_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(root);
    dir_a = root / "a";
    dir_b = root / "b";
    save_model(dir_a, 1);
    save_model(dir_b, 2);
    // requests of 1..4 consecutive rows
    index_t at = 0;
    for (int k = 0; at < syn.data().rows(); ++k) {
      const index_t n = std::min<index_t>(1 + k % 4, syn.data().rows() - at);
      std::vector<index_t> rows;
      for (index_t i = 0; i < n; ++i) rows.push_back(at + i);
      data::batch<float> b;
      syn.data().gather(std::span<const index_t>(rows), b);
      requests.push_back(std::move(b));
      at += n;
    }
  }
  ~fixture() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }

  void save_model(const fs::path& dir, std::uint64_t seed) const {
    rng gen(seed);
    models::mmoe<float> m(syn.data().get_schema(), {}, gen);
    io::checkpoint::save(dir, m, {.seed = seed});
  }

  /// Single-thread reference: each request scored alone on a fresh tape.
  static std::vector<std::vector<float>> reference(const serve::scoring_model<float>& m,
                                                   const std::vector<data::batch<float>>& reqs) {
    std::vector<std::vector<float>> out;
    tape<float> t(tape_mode::infer);
    for (const auto& b : reqs) {
      t.reset();
      std::vector<float> p(static_cast<std::size_t>(b.size));
      m.probabilities(t, b, p);
      out.push_back(std::move(p));
    }
    return out;
  }
};

}  // namespace serve_test

#pragma once
/// \file topk.hpp
/// Exact top-k retrieval on the CPU: blocked Eigen/BLAS GEMM of queries against items plus a bounded
/// heap per query. The reference for approximate indexes and for the Thrust version.
///
///     inner_product: score(q, x) = q . x            best = largest score
///     l2:            score(q, x) = ||q - x||^2      best = smallest score (internally maximizes
///                                                   2 q.x - ||x||^2, then adds ||q||^2 back, >= 0)
///
/// Shapes: items [n, d] (copied at construction), queries [m, d]; result ids [m, k] and scores [m, k],
/// best first. Ties are broken by the lower item id (deterministic). Requires 1 <= k <= n, equal d,
/// finite values (`value_error` / `shape_error` otherwise; no silent clamp).
/// Complexity: O(m n d) FLOPs in GEMM blocks of 64 queries x 4096 items (1 MiB scratch) plus
/// O(m n) comparisons and O(m n_improving log k) heap updates.
/// Thread-safety: `search` is const and may run concurrently.

#include <Eigen/Core>
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../quant/nearest_centroid.hpp"

namespace recblocks::retrieval {

/// Scoring rule of exact top-k.
enum class topk_metric { inner_product, l2 };

/// Ids and scores of a batch of queries, `[m, k]` each, best first.
template <class T>
struct topk_result {
  matrix<index_t> ids;
  matrix<T> scores;
};

/// Exact top-k of queries against an item matrix (see the file comment).
template <class T>
class topk {
 public:
  topk(const Eigen::Ref<const matrix<T>>& items, topk_metric metric);

  /// The k best items of every query row.
  topk_result<T> search(const Eigen::Ref<const matrix<T>>& queries, index_t k) const;

  index_t size() const { return items_.rows(); }
  index_t dim() const { return items_.cols(); }
  topk_metric metric() const { return metric_; }
  const matrix<T>& items() const { return items_; }

 private:
  matrix<T> items_;
  col_vector<T> item_norms_;  // ||x||^2 (l2 only)
  topk_metric metric_;
};

// ---------------------------------------------------------------------------------------------
// implementation

template <class T>
topk<T>::topk(const Eigen::Ref<const matrix<T>>& items, topk_metric metric) : items_(items), metric_(metric) {
  if (items_.rows() < 1 || items_.cols() < 1)
    throw value_error("topk: items must be non-empty (got " + shape_string(items_.rows(), items_.cols()) + ")");
  if (!quant::all_finite<T>(items_)) throw value_error("topk: items contain NaN or Inf");
  if (metric_ == topk_metric::l2) item_norms_ = items_.rowwise().squaredNorm();
}

template <class T>
topk_result<T> topk<T>::search(const Eigen::Ref<const matrix<T>>& queries, index_t k) const {
  const index_t n = items_.rows(), m = queries.rows(), d = items_.cols();
  if (queries.cols() != d)
    throw shape_error("topk::search: queries have dimension " + std::to_string(queries.cols()) + ", items have " +
                      std::to_string(d));
  if (k < 1 || k > n)
    throw value_error("topk::search: k = " + std::to_string(k) + " must be in [1, items = " + std::to_string(n) + "]");
  if (!quant::all_finite<T>(queries)) throw value_error("topk::search: queries contain NaN or Inf");
  const bool l2 = metric_ == topk_metric::l2;
  topk_result<T> out{matrix<index_t>(m, k), matrix<T>(m, k)};
  constexpr index_t qblock = 64, iblock = 4096;
  using entry = std::pair<T, index_t>;  // (key, id); larger key is better, lower id wins ties
  // heap ordered so that the *worst* entry is on top
  const auto worse_first = [](const entry& a, const entry& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  std::vector<std::vector<entry>> heaps(static_cast<std::size_t>(std::min(qblock, m)));
  matrix<T> g(qblock, std::min(iblock, n));
  for (index_t q0 = 0; q0 < m; q0 += qblock) {
    const index_t qs = std::min(qblock, m - q0);
    for (index_t r = 0; r < qs; ++r) {
      heaps[r].clear();
      heaps[r].reserve(static_cast<std::size_t>(k));
    }
    for (index_t i0 = 0; i0 < n; i0 += iblock) {
      const index_t is = std::min(iblock, n - i0);
      const auto cb = items_.middleRows(i0, is);
      auto gb = g.topLeftCorner(qs, is);
      Eigen::Map<const matrix<T>, Eigen::Unaligned, Eigen::OuterStride<>> qb(
          queries.data() + q0 * queries.outerStride(), qs, d, Eigen::OuterStride<>(queries.outerStride()));
      gb.noalias() = qb * cb.transpose();
      for (index_t r = 0; r < qs; ++r) {
        auto& h = heaps[r];
        const T* row = g.data() + r * g.cols();
        for (index_t j = 0; j < is; ++j) {
          const T key = l2 ? T(2) * row[j] - item_norms_[i0 + j] : row[j];
          if (static_cast<index_t>(h.size()) < k) {
            h.emplace_back(key, i0 + j);
            std::push_heap(h.begin(), h.end(), worse_first);
          } else if (key > h.front().first) {  // equal key: the earlier (lower) id already there wins
            std::pop_heap(h.begin(), h.end(), worse_first);
            h.back() = entry(key, i0 + j);
            std::push_heap(h.begin(), h.end(), worse_first);
          }
        }
      }
    }
    for (index_t r = 0; r < qs; ++r) {
      auto& h = heaps[r];
      std::sort_heap(h.begin(), h.end(), worse_first);  // best first
      const T qn = l2 ? queries.row(q0 + r).squaredNorm() : T(0);
      for (index_t j = 0; j < k; ++j) {
        out.ids(q0 + r, j) = h[j].second;
        out.scores(q0 + r, j) = l2 ? std::max(T(0), qn - h[j].first) : h[j].first;
      }
    }
  }
  return out;
}

}  // namespace recblocks::retrieval

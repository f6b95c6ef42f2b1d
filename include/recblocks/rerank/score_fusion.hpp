#pragma once
/// \file score_fusion.hpp
/// RADIO's score fusion (papers.md §4, `score_cache_to_dataset.py`): two scored lists of the same
/// query's documents (the rationale scores and the retrieval scores) are min-max normalised per list,
///
///     ŝ = (s − min) / (max − min)
///
/// joined by document id and mixed,
///
///     s(d) = α · ŝ_rationale(d) + (1 − α) · ŝ_retrieval(d)          (α = 0.5 in the released code)
///
/// and sorted by s, descending (stable: ties keep the order of the rationale list, as Python's
/// `sorted` over the code's loop). α = 1 ranks by the rationale alone, α = 0 by retrieval alone.
///
/// Edge cases (defined, counted in `fused_list`): a list with one document or all-equal scores has no
/// spread; every ŝ of it is 1 (never a division by zero) and `constant_lists` counts it. A document in
/// only one list is dropped (the code's inner join, `missing_doc::drop`, counted in `missing`) or kept
/// with ŝ = 0 for the list it is missing from (`missing_doc::zero`). An empty list: with `drop` the
/// result is empty; with `zero` the other list alone. A duplicate id within a list or a non-finite
/// score is a `value_error` naming the list and position; α outside [0, 1] a `value_error`.
///
/// Complexity O(n log n). Thread-safety: const, reentrant.

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace recblocks::rerank {

/// A document id with a score.
struct scored_doc {
  index_t id = 0;
  double score = 0;
  friend bool operator==(const scored_doc&, const scored_doc&) = default;
};

/// Min-max normalisation `(s - min) / (max - min)`; a constant (or one-element) list gives all 1 and
/// sets `*constant` when given. Non-finite scores: `value_error` naming the position.
inline std::vector<double> min_max_normalize(std::span<const double> s, bool* constant = nullptr) {
  std::vector<double> out(s.size());
  if (constant) *constant = false;
  if (s.empty()) return out;
  double lo = s[0], hi = s[0];
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!std::isfinite(s[i])) throw value_error("rerank::min_max_normalize: score " + std::to_string(i) + " is not finite");
    lo = std::min(lo, s[i]);
    hi = std::max(hi, s[i]);
  }
  const double range = hi - lo;
  if (!(range > 0)) {
    std::fill(out.begin(), out.end(), 1.0);
    if (constant) *constant = true;
    return out;
  }
  for (std::size_t i = 0; i < s.size(); ++i) out[i] = (s[i] - lo) / range;
  return out;
}

enum class missing_doc { drop, zero };

struct score_fusion_options {
  double alpha = 0.5;                    ///< weight of the rationale list
  missing_doc missing = missing_doc::drop;  ///< the released code's inner join
};

/// The fused ranking with its counts.
struct fused_list {
  std::vector<scored_doc> docs;  ///< sorted by fused score, descending
  index_t missing = 0;           ///< documents present in only one list
  int constant_lists = 0;        ///< input lists (0..2) without spread
};

class score_fusion {
 public:
  explicit score_fusion(score_fusion_options opt = {}) : opt_(opt) {
    if (!(opt_.alpha >= 0 && opt_.alpha <= 1))
      throw value_error("rerank::score_fusion: alpha must lie in [0, 1], got " + std::to_string(opt_.alpha));
  }

  /// Fuses the `rationale` and `retrieval` lists of one query (any order within each list).
  fused_list operator()(std::span<const scored_doc> rationale, std::span<const scored_doc> retrieval) const {
    fused_list out;
    bool c1 = false, c2 = false;
    const auto n1 = normalized(rationale, "rationale", c1), n2 = normalized(retrieval, "retrieval", c2);
    out.constant_lists = int(c1 && !rationale.empty()) + int(c2 && !retrieval.empty());
    std::unordered_map<index_t, std::size_t> pos2;
    for (std::size_t k = 0; k < retrieval.size(); ++k) pos2.emplace(retrieval[k].id, k);
    std::vector<char> used2(retrieval.size(), 0);
    const double a = opt_.alpha;
    for (std::size_t j = 0; j < rationale.size(); ++j) {
      const auto it = pos2.find(rationale[j].id);
      if (it == pos2.end()) {
        ++out.missing;
        if (opt_.missing == missing_doc::zero) out.docs.push_back({rationale[j].id, a * n1[j]});
        continue;
      }
      used2[it->second] = 1;
      out.docs.push_back({rationale[j].id, a * n1[j] + (1 - a) * n2[it->second]});
    }
    for (std::size_t k = 0; k < retrieval.size(); ++k)
      if (!used2[k]) {
        ++out.missing;
        if (opt_.missing == missing_doc::zero) out.docs.push_back({retrieval[k].id, (1 - a) * n2[k]});
      }
    std::stable_sort(out.docs.begin(), out.docs.end(), [](const scored_doc& x, const scored_doc& y) { return x.score > y.score; });
    return out;
  }

  const score_fusion_options& options() const { return opt_; }

 private:
  static std::vector<double> normalized(std::span<const scored_doc> l, const char* name, bool& constant) {
    std::vector<double> s(l.size());
    std::unordered_map<index_t, std::size_t> seen;
    for (std::size_t i = 0; i < l.size(); ++i) {
      if (!seen.emplace(l[i].id, i).second)
        throw value_error(std::string("rerank::score_fusion: the ") + name + " list repeats document " + std::to_string(l[i].id) +
                          " (positions " + std::to_string(seen[l[i].id]) + " and " + std::to_string(i) + ")");
      if (!std::isfinite(l[i].score))
        throw value_error(std::string("rerank::score_fusion: the ") + name + " list has a non-finite score at position " + std::to_string(i));
      s[i] = l[i].score;
    }
    return min_max_normalize(s, &constant);
  }

  score_fusion_options opt_;
};

}  // namespace recblocks::rerank

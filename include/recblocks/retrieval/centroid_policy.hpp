#pragma once
/// \file centroid_policy.hpp
/// The classical child-selection policy of item-tree search: score each child by the similarity of the
/// query embedding to the child's centroid, and keep the best `top` children (all when `top == 0`).
///
///     score(c) = <q, mu_c>                          (inner product)
///     score(c) = <q, mu_c> / (|q| |mu_c|)           (cosine, default; 0 when a norm is 0)
///
/// Requires: the query embedding has the tree's dimension (> 0) and is finite.
/// Errors: `shape_error` on a dimension mismatch or a tree without embeddings.
/// Thread-safety: `choose` is `const`. Complexity: O(c d + c log c) per node with c children.

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "child_policy.hpp"

namespace recblocks::retrieval {

/// Options of `centroid_policy`.
struct centroid_policy_options {
  bool cosine = true;  ///< cosine similarity (true) or inner product (false)
  index_t top = 0;     ///< keep the best `top` children; 0 keeps all
};

/// Scores children by query/centroid similarity; satisfies `child_policy<centroid_policy, T>`.
class centroid_policy {
 public:
  explicit centroid_policy(centroid_policy_options options = {}) : options_(options) {}

  template <class T>
  std::vector<scored_child> choose(const tree_query<T>& query, std::string_view node_label,
                                   std::span<const child_info<T>> children) const;

 private:
  centroid_policy_options options_;
};

// ---- implementation ------------------------------------------------------------------------------

template <class T>
std::vector<scored_child> centroid_policy::choose(const tree_query<T>& query, std::string_view node_label,
                                                  std::span<const child_info<T>> children) const {
  std::vector<scored_child> out;
  out.reserve(children.size());
  const double qn = query.embedding.template cast<double>().norm();
  for (std::size_t c = 0; c < children.size(); ++c) {
    const col_vector<T>* mu = children[c].centroid;
    if (mu == nullptr || mu->size() == 0 || mu->size() != query.embedding.size())
      throw shape_error("retrieval::centroid_policy: query embedding has " + std::to_string(query.embedding.size()) +
                        " dims but the centroid of child '" + std::string(children[c].label) + "' of node '" +
                        std::string(node_label) + "' has " + std::to_string(mu ? mu->size() : 0));
    double s = query.embedding.template cast<double>().dot(mu->template cast<double>());
    if (options_.cosine) {
      const double d = qn * mu->template cast<double>().norm();
      s = d > 0.0 ? s / d : 0.0;
    }
    out.push_back({static_cast<index_t>(c), s});
  }
  std::stable_sort(out.begin(), out.end(), [](const scored_child& a, const scored_child& b) { return a.score > b.score; });
  if (options_.top > 0 && static_cast<index_t>(out.size()) > options_.top) out.resize(static_cast<std::size_t>(options_.top));
  return out;
}

}  // namespace recblocks::retrieval

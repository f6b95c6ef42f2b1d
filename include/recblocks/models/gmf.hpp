#pragma once
/// \file gmf.hpp
/// Generalized Matrix Factorization (He et al., "Neural Collaborative Filtering", WWW 2017, §3.2): the
/// candidate generator LLM4Rerank puts in front of every reranker (papers.md §8).
///
///     logit(u, i) = h^T (p_u ⊙ q_i)          P [users, dim], Q [items, dim], h [dim, 1]
///
/// trained on implicit feedback with binary cross-entropy over each observed (user, item) pair and
/// `negatives` items drawn uniformly from those the user never interacted with (label 0), as in NCF.
///
/// Shapes: `operator()(t, users, items)` takes `B` user ids and `B` item ids and returns `[B, 1]`
/// logits; `scores(user)` returns `[items]` logits of every item for one user, without a tape.
/// Requires: `users, items, dim >= 1`; ids in range (checked by the embedding lookups and by
/// `scores`); `train_epoch` needs every positive's user/item in range and `negatives >= 1`.
/// Errors: `value_error` naming the field and value.
/// Thread-safety: `operator()` and `scores` are `const` (one tape per thread); `train_epoch` mutates.
/// Complexity: forward O(B dim); `scores` O(items dim); an epoch O(|positives| (1 + negatives) dim).

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/ops/elementwise.hpp"
#include "../core/ops/matmul.hpp"
#include "../core/param.hpp"
#include "../core/rng.hpp"
#include "../core/tape.hpp"
#include "../loss/bce_with_logits.hpp"
#include "../nn/embedding.hpp"
#include "../nn/init.hpp"
#include "../nn/module.hpp"

namespace recblocks::models {

/// Sizes and initialisation of `gmf`.
struct gmf_options {
  index_t users = 0;        ///< number of user ids
  index_t items = 0;        ///< number of item ids
  index_t dim = 32;         ///< latent factors
  double init_std = 0.01;   ///< N(0, init_std) for P and Q (h starts at 1: a plain dot product)
};

/// Options of one `gmf::train_epoch` pass.
struct gmf_train_options {
  index_t negatives = 4;    ///< sampled negatives per observed pair
  index_t batch_size = 256; ///< observed pairs per step (each with its negatives)
};

/// Generalized Matrix Factorization; see the file comment.
template <class T>
class gmf {
 public:
  using scalar_type = T;

  gmf(gmf_options options, rng& gen);

  /// Logits `[B, 1]` of the pairs `(users[b], items[b])`.
  var<T> operator()(tape<T>& t, std::span<const index_t> users, std::span<const index_t> items) const;

  /// Logits of every item for `user`, `[items]` (no tape, no allocation beyond the result).
  col_vector<T> scores(index_t user) const;

  /// One shuffled pass over `positives` (user, item) with sampled negatives, BCE loss, one optimizer
  /// step per batch. `seen[u]` must hold the items of user `u` in increasing order (negatives avoid
  /// them). Returns the mean loss over the batches.
  template <class Optimizer>
  double train_epoch(const std::vector<std::pair<index_t, index_t>>& positives,
                     const std::vector<std::vector<index_t>>& seen, Optimizer& optimizer, rng& gen,
                     gmf_train_options options = {});

  const gmf_options& options() const { return options_; }

  /// The member list (see nn/module.hpp).
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("user", self.user_);
    v("item", self.item_);
    v("h", self.h_);
  }

 private:
  static gmf_options checked(gmf_options o);

  gmf_options options_;
  nn::embedding<T> user_, item_;
  param<T> h_;
};

// ---- implementation ------------------------------------------------------------------------------

template <class T>
gmf_options gmf<T>::checked(gmf_options o) {
  if (o.users < 1) throw value_error("models::gmf: users = " + std::to_string(o.users) + " must be >= 1");
  if (o.items < 1) throw value_error("models::gmf: items = " + std::to_string(o.items) + " must be >= 1");
  if (o.dim < 1) throw value_error("models::gmf: dim = " + std::to_string(o.dim) + " must be >= 1");
  if (!(o.init_std > 0.0)) throw value_error("models::gmf: init_std = " + std::to_string(o.init_std) + " must be > 0");
  return o;
}

template <class T>
gmf<T>::gmf(gmf_options options, rng& gen)
    : options_(checked(options)),
      user_(options_.users, options_.dim, gen, nn::init::normal(0.0, options_.init_std)),
      item_(options_.items, options_.dim, gen, nn::init::normal(0.0, options_.init_std)),
      h_("h", matrix<T>::Ones(options_.dim, 1)) {}

template <class T>
var<T> gmf<T>::operator()(tape<T>& t, std::span<const index_t> users, std::span<const index_t> items) const {
  if (users.size() != items.size())
    throw shape_error("models::gmf: users has " + std::to_string(users.size()) + " ids but items has " +
                      std::to_string(items.size()));
  const var<T> product = ops::mul(t, user_(t, users), item_(t, items));  // [B, dim]
  return ops::matmul(t, product, t.leaf(h_));                           // [B, 1]
}

template <class T>
col_vector<T> gmf<T>::scores(index_t user) const {
  if (user < 0 || user >= options_.users)
    throw value_error("models::gmf::scores: user = " + std::to_string(user) + " outside [0, " +
                      std::to_string(options_.users) + ")");
  const col_vector<T> w = user_.table().value().row(user).transpose().cwiseProduct(h_.value().col(0));
  return item_.table().value() * w;
}

template <class T>
template <class Optimizer>
double gmf<T>::train_epoch(const std::vector<std::pair<index_t, index_t>>& positives,
                           const std::vector<std::vector<index_t>>& seen, Optimizer& optimizer, rng& gen,
                           gmf_train_options o) {
  if (o.negatives < 1) throw value_error("models::gmf::train_epoch: negatives = " + std::to_string(o.negatives) + " must be >= 1");
  if (o.batch_size < 1) throw value_error("models::gmf::train_epoch: batch_size = " + std::to_string(o.batch_size) + " must be >= 1");
  if (static_cast<index_t>(seen.size()) != options_.users)
    throw shape_error("models::gmf::train_epoch: seen has " + std::to_string(seen.size()) + " users, the model " +
                      std::to_string(options_.users));
  std::vector<std::size_t> order(positives.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::shuffle(order.begin(), order.end(), gen.engine());
  std::vector<index_t> us, is;
  std::vector<T> labels;
  tape<T> t;
  double total = 0.0;
  index_t batches = 0;
  for (std::size_t start = 0; start < order.size(); start += static_cast<std::size_t>(o.batch_size)) {
    const std::size_t end = std::min(order.size(), start + static_cast<std::size_t>(o.batch_size));
    us.clear();
    is.clear();
    labels.clear();
    for (std::size_t k = start; k < end; ++k) {
      const auto [u, i] = positives[order[k]];
      if (u < 0 || u >= options_.users || i < 0 || i >= options_.items)
        throw value_error("models::gmf::train_epoch: positive (" + std::to_string(u) + ", " + std::to_string(i) +
                          ") outside the model's users/items");
      us.push_back(u);
      is.push_back(i);
      labels.push_back(T(1));
      const auto& s = seen[static_cast<std::size_t>(u)];
      if (static_cast<index_t>(s.size()) >= options_.items)
        throw value_error("models::gmf::train_epoch: user " + std::to_string(u) + " has seen every item; no negative to draw");
      for (index_t n = 0; n < o.negatives; ++n) {
        index_t j = 0;
        do j = gen.integer(0, options_.items - 1);
        while (std::binary_search(s.begin(), s.end(), j));
        us.push_back(u);
        is.push_back(j);
        labels.push_back(T(0));
      }
    }
    t.reset();
    const var<T> logits = (*this)(t, us, is);
    const var<T> y = t.view(labels.data(), static_cast<index_t>(labels.size()), 1);
    const var<T> loss = loss::bce_with_logits(t, logits, y);
    total += static_cast<double>(loss.value()(0, 0));
    t.backward(loss);
    optimizer.step();
    ++batches;
  }
  return batches ? total / static_cast<double>(batches) : 0.0;
}

}  // namespace recblocks::models

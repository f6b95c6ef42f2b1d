#pragma once
/// \file soft_prompt.hpp
/// Per-user soft prompt tokens (UserIP-Tuning, papers.md 5): one trainable table per profile slot
/// (e.g. hobby, background), `theta_{slot}(u) = E_slot[u]` `[d]`, fed to a frozen language model in place
/// of a word embedding. The paper's code: two tables `[n_users, hidden]` initialised U(-0.1, 0.1).
///
/// Shapes: `operator()(t, users, slot)` -> `[users.size(), d]`. Gradients are dense (a prompt table is
/// small and every row of a batch is trained). Errors: `value_error` for sizes < 1, no slot name, a
/// slot outside `[0, slots)` or a user outside `[0, users)` (named). Parameters: `<slot name>.table`.
/// Thread-safety: `const` forward.

#include <span>
#include <string>
#include <vector>

#include "../core/ops/gather.hpp"
#include "init.hpp"
#include "module.hpp"

namespace recblocks::nn {

template <class T>
class soft_prompt {
 public:
  using scalar_type = T;

  /// `slots` names (e.g. {"hobby", "background"}), one `[users, dim]` table each, U(-init_range, init_range).
  soft_prompt(index_t users, index_t dim, std::vector<std::string> slots, rng& gen, double init_range = 0.1) : names_(std::move(slots)) {
    if (users < 1 || dim < 1 || names_.empty())
      throw value_error("nn::soft_prompt: need users >= 1, dim >= 1 and at least one slot (users " + std::to_string(users) + ", dim " +
                        std::to_string(dim) + ", slots " + std::to_string(names_.size()) + ")");
    for (std::size_t s = 0; s < names_.size(); ++s) {
      tables_.emplace_back("table", users, dim);
      init::uniform(-init_range, init_range).apply(tables_.back().value(), gen, users, dim);
    }
  }

  /// The soft tokens of `users` for slot `slot` -> `[users.size(), dim]`.
  var<T> operator()(tape<T>& t, std::span<const index_t> users, index_t slot) const {
    if (slot < 0 || slot >= slots()) throw value_error("nn::soft_prompt: slot " + std::to_string(slot) + " outside [0, " + std::to_string(slots()) + ")");
    for (std::size_t i = 0; i < users.size(); ++i)
      if (users[i] < 0 || users[i] >= this->users())
        throw value_error("nn::soft_prompt: user " + std::to_string(users[i]) + " (row " + std::to_string(i) + ") outside [0, " +
                          std::to_string(this->users()) + ")");
    return ops::gather_rows(t, t.leaf(tables_[static_cast<std::size_t>(slot)]), users);
  }

  index_t users() const { return tables_.front().rows(); }
  index_t dim() const { return tables_.front().cols(); }
  index_t slots() const { return static_cast<index_t>(tables_.size()); }
  const std::vector<std::string>& slot_names() const { return names_; }
  param<T>& table(index_t slot) { return tables_.at(static_cast<std::size_t>(slot)); }
  const param<T>& table(index_t slot) const { return tables_.at(static_cast<std::size_t>(slot)); }

  template <class Self, class V>
  static void visit(Self& self, V& v) {
    for (std::size_t s = 0; s < self.tables_.size(); ++s) v(self.names_[s] + ".table", self.tables_[s]);
  }

 private:
  std::vector<std::string> names_;
  std::vector<param<T>> tables_;
};

}  // namespace recblocks::nn

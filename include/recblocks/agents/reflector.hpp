#pragma once
/// \file reflector.hpp
/// `reflector`: bounded critique-and-revise rounds over a recommendation list, as LLM4Rerank's
/// backward node does for lists (papers.md §6, §8).
///
/// One round: the critic reads the user's stated constraints (the session's messages and the
/// recalled memories) and the list, and names the positions that break them; each flagged item is
/// replaced by the next item of the candidate pool that was neither shown nor flagged before (a
/// flagged item with no replacement left is dropped). Rounds stop when the critic flags nothing
/// (`converged`) or after `max_rounds`:
///
///     for r = 1..max_rounds:  bad = critic(constraints, list);  if bad = {} stop;  list = revise(list, bad, pool)
///
/// The critic is any callable (`critic_fn`): `llm_critic` asks a model, `constraint_critic` checks
/// predicates. A critic that names positions out of range is ignored for those positions (counted
/// in `reflection_result::ignored`).
///
/// Requires: `max_rounds >= 0` (0: no reflection). Errors: `value_error` for a negative bound.
/// Thread-safety: `reflect` is const; as thread-safe as the critic.

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace recblocks::agents {

/// What a critic reads.
struct critique_input {
  std::vector<std::string> constraints;   ///< the user's stated wishes and recalled memories
  std::vector<index_t> items;             ///< the list under review, best first
};

/// A critic's verdict: the positions (0-based into `items`) that break the constraints.
struct critique {
  std::vector<std::size_t> violating;
  std::string reason;
};

/// A critic: any callable from `critique_input` to `critique`.
using critic_fn = std::function<critique(const critique_input&)>;

/// The outcome of `reflector::reflect`.
struct reflection_result {
  std::vector<index_t> items;   ///< the revised list
  int rounds = 0;               ///< critic calls made
  long flagged = 0;             ///< positions flagged over all rounds
  long replaced = 0;            ///< flagged items replaced from the pool
  long dropped = 0;             ///< flagged items dropped (pool exhausted)
  long ignored = 0;             ///< out-of-range positions named by the critic
  bool converged = false;       ///< the last critique flagged nothing
};

/// Bounded critique/revise rounds; see the file comment.
class reflector {
 public:
  explicit reflector(int max_rounds = 2) : max_rounds_(max_rounds) {
    if (max_rounds < 0) throw value_error("[agents::reflector] max_rounds must be >= 0, got " + std::to_string(max_rounds));
  }

  int max_rounds() const noexcept { return max_rounds_; }

  /// Reviews `list` against `constraints`, replacing flagged items from `pool` (best first; items of
  /// `list` and of `excluded` in it are skipped).
  reflection_result reflect(std::vector<index_t> list, const std::vector<index_t>& pool,
                            const std::vector<std::string>& constraints, const critic_fn& critic,
                            const std::vector<index_t>& excluded = {}) const {
    reflection_result out;
    std::vector<index_t> used(list.begin(), list.end());
    used.insert(used.end(), excluded.begin(), excluded.end());
    std::size_t next = 0;
    auto take = [&]() -> index_t {
      while (next < pool.size()) {
        const index_t c = pool[next++];
        if (std::find(used.begin(), used.end(), c) == used.end()) {
          used.push_back(c);
          return c;
        }
      }
      return -1;
    };
    for (int r = 0; r < max_rounds_ && !list.empty(); ++r) {
      const critique c = critic({constraints, list});
      ++out.rounds;
      std::vector<std::size_t> bad;
      for (std::size_t p : c.violating) {
        if (p >= list.size()) {
          ++out.ignored;
          continue;
        }
        if (std::find(bad.begin(), bad.end(), p) == bad.end()) bad.push_back(p);
      }
      if (bad.empty()) {
        out.converged = true;
        break;
      }
      out.flagged += static_cast<long>(bad.size());
      std::vector<index_t> revised;
      for (std::size_t p = 0; p < list.size(); ++p) {
        if (std::find(bad.begin(), bad.end(), p) == bad.end()) {
          revised.push_back(list[p]);
          continue;
        }
        const index_t rep = take();
        if (rep >= 0) {
          revised.push_back(rep);
          ++out.replaced;
        } else {
          ++out.dropped;
        }
      }
      list = std::move(revised);
    }
    out.items = std::move(list);
    return out;
  }

 private:
  int max_rounds_;
};

}  // namespace recblocks::agents

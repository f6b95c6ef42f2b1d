#pragma once
/// \file constraint_critic.hpp
/// `constraint_critic`: a rule-based critic for `reflector` — named predicates over items; an item
/// breaks the constraints when any predicate rejects it.
///
///     violating = { p : exists c in constraints, !c.accepts(items[p]) }
///
/// The predicates are the caller's reading of the user's wishes (e.g. "released in the 1990s" from
/// a keyword match on the messages); the constraint texts in `critique_input` are not read.
/// Requires: every predicate set. Errors: `value_error` for an empty predicate.
/// Thread-safety: `operator()` is const; as thread-safe as the predicates.

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "reflector.hpp"

namespace recblocks::agents {

/// One named predicate.
struct item_constraint {
  std::string name;
  std::function<bool(index_t)> accepts;
};

/// Rule critic; see the file comment.
class constraint_critic {
 public:
  explicit constraint_critic(std::vector<item_constraint> constraints) : constraints_(std::move(constraints)) {
    for (const auto& c : constraints_)
      if (!c.accepts) throw value_error("[agents::constraint_critic] constraint \"" + c.name + "\" has no predicate");
  }

  critique operator()(const critique_input& in) const {
    critique out;
    for (std::size_t p = 0; p < in.items.size(); ++p)
      for (const auto& c : constraints_)
        if (!c.accepts(in.items[p])) {
          out.violating.push_back(p);
          out.reason += (out.reason.empty() ? "" : "; ") + std::to_string(p + 1) + ": " + c.name;
          break;
        }
    return out;
  }

  const std::vector<item_constraint>& constraints() const noexcept { return constraints_; }

 private:
  std::vector<item_constraint> constraints_;
};

}  // namespace recblocks::agents

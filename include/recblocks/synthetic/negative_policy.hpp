#pragma once
/// \file negative_policy.hpp
/// The `negative_policy` concept: anything that writes synthetic hard-negative documents for a
/// (query, positive document) pair (SyNeg, papers.md §1, phase 1):
///
///     std::vector<std::string> P::generate(const negative_request& r)
///
/// returns at most `r.count` distinct, non-empty documents that are on the query's topic but do not
/// answer it; fewer (possibly none) when the policy could not produce valid ones (each policy counts
/// its failures). A returned document never equals the positive or the query (after trimming and
/// ASCII case folding). Shipped: `llm_negative_policy` (SyNeg's multi-attribute self-reflection
/// prompt over any `llm::llm_client`) and `perturbation_policy` (classical negation, number and
/// entity perturbations of the positive's sentences, offline and fast).

#include <concepts>
#include <string>
#include <vector>

namespace recblocks::synthetic {

/// One generation request: the training pair and SyNeg's attribute constraints.
struct negative_request {
  std::string query;                       ///< the user query (a SciFact claim)
  std::string positive;                    ///< its relevant document (title + text)
  std::string domain = "biomedical science";  ///< content domain attribute
  std::string difficulty = "hard";         ///< difficulty attribute ("easy", "medium", "hard")
  int length_words = 60;                   ///< length attribute: about this many words
  int count = 2;                           ///< documents wanted
};

/// A writer of synthetic negatives (see the file comment).
template <class P>
concept negative_policy = requires(P& p, const negative_request& r) {
  { p.generate(r) } -> std::convertible_to<std::vector<std::string>>;
};

namespace detail {
/// Trimmed, ASCII-lower-cased, inner whitespace runs collapsed: the key for "same document".
inline std::string fold(const std::string& s) {
  std::string out;
  bool space = false;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : ch);
  }
  return out;
}
}  // namespace detail

}  // namespace recblocks::synthetic

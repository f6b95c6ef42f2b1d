#pragma once
/// \file perturbation_policy.hpp
/// Classical synthetic negatives (no LLM): the positive document's opening words, changed so that
/// they no longer support the query. Satisfies `negative_policy`; fast and offline.
///
/// Negative k (k = 0 .. count-1) takes `length_words` words of the positive, starting at word
/// `k * length_words / 2` (windows overlap by half; the last window ends at the document's end), and
/// applies perturbation kind `(k + h) mod 3`, h = FNV-1a of the query, falling through to the next
/// kind when a kind changes nothing:
/// - negation: flips the first directional word ("increases" <-> "decreases", "higher" <-> "lower",
///   "more" <-> "less", "positive" <-> "negative", "promotes" <-> "inhibits", ... 40 pairs), else
///   inserts "not" after the first auxiliary ("is", "are", "was", "were", "can", "may", "does", ...);
/// - number: every number in the window is changed (integers n -> n * 3 + 1 ... deterministic
///   transforms that keep the format: integers stay integers, "0.5" becomes "1.9", a percent stays a percent);
/// - entity: the entity-like tokens (a capital or digit after the first letter, e.g. "BRCA1", "IL-6",
///   "mTOR") are replaced by entities of the `entity_pool` (constructor; drawn by the hash), or, without
///   a pool, the first two distinct entities of the window are swapped.
/// A window where no kind changes anything gives no negative (counted in `stats().unchanged`).
/// Results are distinct, differ from the positive and the query (`negative_policy`'s contract).
/// Thread-safety: `generate` is not (stats); the pool is read-only.

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "../core/error.hpp"
#include "negative_policy.hpp"

namespace recblocks::synthetic {

/// What the perturbation policy did.
struct perturbation_stats {
  long requests = 0;
  long documents = 0;
  long negation = 0, number = 0, entity = 0;  ///< documents by the kind that changed them
  long unchanged = 0;                         ///< windows no kind could change
};

/// Classical perturbation negatives (see the file comment).
class perturbation_policy {
 public:
  explicit perturbation_policy(std::vector<std::string> entity_pool = {}) : pool_(std::move(entity_pool)) {}

  /// Entity-like tokens of `text` (see the file comment), in order, distinct.
  static std::vector<std::string> entities(const std::string& text) {
    std::vector<std::string> out;
    std::unordered_set<std::string> seen;
    for (const auto& w : split(text)) {
      const std::string c = core_of(w);
      if (is_entity(c) && seen.insert(c).second) out.push_back(c);
    }
    return out;
  }

  std::vector<std::string> generate(const negative_request& r) {
    if (r.count < 1) throw value_error("synthetic::perturbation_policy: count = " + std::to_string(r.count) + " must be >= 1");
    if (r.length_words < 1)
      throw value_error("synthetic::perturbation_policy: length_words = " + std::to_string(r.length_words) + " must be >= 1");
    ++stats_.requests;
    const auto words = split(r.positive);
    std::uint64_t h = 1469598103934665603ULL;
    for (char ch : r.query) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ULL;
    std::vector<std::string> out;
    std::unordered_set<std::string> seen{detail::fold(r.positive), detail::fold(r.query)};
    const std::size_t len = static_cast<std::size_t>(r.length_words);
    for (int k = 0; k < r.count; ++k) {
      std::size_t start = static_cast<std::size_t>(k) * len / 2;
      if (start + len > words.size()) start = words.size() > len ? words.size() - len : 0;
      std::vector<std::string> win(words.begin() + static_cast<std::ptrdiff_t>(std::min(start, words.size())),
                                   words.begin() + static_cast<std::ptrdiff_t>(std::min(start + len, words.size())));
      bool done = false;
      for (int t = 0; t < 3 && !done; ++t) {
        const int kind = static_cast<int>((static_cast<std::uint64_t>(k) + h + static_cast<std::uint64_t>(t)) % 3);
        std::vector<std::string> w = win;
        const bool changed = kind == 0 ? negate(w) : kind == 1 ? renumber(w) : swap_entities(w, h + static_cast<std::uint64_t>(k));
        if (!changed) continue;
        std::string doc = join(w);
        if (!seen.insert(detail::fold(doc)).second) continue;
        out.push_back(std::move(doc));
        (kind == 0 ? stats_.negation : kind == 1 ? stats_.number : stats_.entity)++;
        ++stats_.documents;
        done = true;
      }
      if (!done) ++stats_.unchanged;
    }
    return out;
  }

  const perturbation_stats& stats() const { return stats_; }
  void reset_stats() { stats_ = {}; }

 private:
  static std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    for (char ch : s) {
      if (ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r') {
        if (!cur.empty()) out.push_back(std::move(cur));
        cur.clear();
      } else {
        cur.push_back(ch);
      }
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    return out;
  }
  static std::string join(const std::vector<std::string>& w) {
    std::string s;
    for (const auto& x : w) s += (s.empty() ? "" : " ") + x;
    return s;
  }
  static bool punct(char c) { return c == ',' || c == '.' || c == ';' || c == ':' || c == '(' || c == ')' || c == '"' || c == '\''; }
  /// The word without leading/trailing punctuation.
  static std::string core_of(const std::string& w) {
    std::size_t b = 0, e = w.size();
    while (b < e && punct(w[b])) ++b;
    while (e > b && punct(w[e - 1])) --e;
    return w.substr(b, e - b);
  }
  static bool is_entity(const std::string& c) {
    if (c.size() < 2 || !((c[0] >= 'A' && c[0] <= 'Z') || (c[0] >= 'a' && c[0] <= 'z'))) return false;
    for (std::size_t i = 1; i < c.size(); ++i)
      if ((c[i] >= 'A' && c[i] <= 'Z') || (c[i] >= '0' && c[i] <= '9')) return true;
    return false;
  }
  static void replace_core(std::string& w, const std::string& from, const std::string& to) {
    const auto p = w.find(from);
    if (p != std::string::npos) w.replace(p, from.size(), to);
  }

  static bool negate(std::vector<std::string>& w) {
    static const std::vector<std::pair<std::string, std::string>> pairs = {
        {"increases", "decreases"}, {"increased", "decreased"}, {"increase", "decrease"}, {"increasing", "decreasing"},
        {"higher", "lower"}, {"more", "less"}, {"positive", "negative"}, {"positively", "negatively"},
        {"promotes", "inhibits"}, {"promote", "inhibit"}, {"promoted", "inhibited"}, {"activates", "suppresses"},
        {"activate", "suppress"}, {"activated", "suppressed"}, {"enhances", "reduces"}, {"enhanced", "reduced"},
        {"upregulated", "downregulated"}, {"upregulates", "downregulates"}, {"greater", "smaller"}, {"larger", "smaller"},
        {"improves", "worsens"}, {"improved", "worsened"}, {"benefit", "harm"}, {"beneficial", "harmful"},
        {"associated", "unassociated"}, {"effective", "ineffective"}, {"significant", "insignificant"},
        {"significantly", "insignificantly"}, {"high", "low"}, {"gain", "loss"}, {"induces", "prevents"},
        {"induced", "prevented"}, {"required", "dispensable"}, {"essential", "dispensable"}, {"risk", "protection"},
        {"elevated", "reduced"}, {"rise", "fall"}, {"before", "after"}, {"always", "never"}, {"all", "no"}};
    for (auto& x : w) {
      const std::string c = core_of(x);
      std::string lc;
      for (char ch : c) lc.push_back(ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch);
      for (const auto& [a, b] : pairs) {
        if (lc == a || lc == b) {
          std::string to = lc == a ? b : a;
          if (!c.empty() && c[0] >= 'A' && c[0] <= 'Z') to[0] = static_cast<char>(to[0] - 'a' + 'A');
          replace_core(x, c, to);
          return true;
        }
      }
    }
    static const std::unordered_set<std::string> aux = {"is", "are", "was", "were", "can", "may", "does", "do",
                                                        "did", "has", "have", "will", "could", "might", "should"};
    for (std::size_t i = 0; i < w.size(); ++i)
      if (aux.count(core_of(w[i])) && core_of(w[i]) == w[i]) {
        w.insert(w.begin() + static_cast<std::ptrdiff_t>(i + 1), "not");
        return true;
      }
    return false;
  }

  static bool renumber(std::vector<std::string>& w) {
    bool any = false;
    for (auto& x : w) {
      std::string out;
      std::size_t i = 0;
      bool changed = false;
      while (i < x.size()) {
        if (x[i] >= '0' && x[i] <= '9') {
          std::size_t j = i;
          while (j < x.size() && ((x[j] >= '0' && x[j] <= '9') || (x[j] == '.' && j + 1 < x.size() && x[j + 1] >= '0' && x[j + 1] <= '9'))) ++j;
          const std::string num = x.substr(i, j - i);
          std::string rep;
          for (char ch : num) rep.push_back(ch == '.' ? '.' : static_cast<char>('0' + ((ch - '0') * 3 + 1) % 10));
          if (rep == num) rep[0] = rep[0] == '9' ? '1' : static_cast<char>(rep[0] + 1);
          if (rep.size() > 1 && rep[0] == '0' && rep[1] != '.') rep[0] = '1';  // no leading zero
          out += rep;
          changed = true;
          i = j;
        } else {
          out.push_back(x[i++]);
        }
      }
      if (changed) {
        x = out;
        any = true;
      }
    }
    return any;
  }

  bool swap_entities(std::vector<std::string>& w, std::uint64_t h) const {
    std::vector<std::string> ents;
    std::unordered_set<std::string> seen;
    for (const auto& x : w) {
      const std::string c = core_of(x);
      if (is_entity(c) && seen.insert(c).second) ents.push_back(c);
    }
    if (ents.empty()) return false;
    std::unordered_map<std::string, std::string> to;
    if (!pool_.empty()) {
      for (std::size_t i = 0; i < ents.size(); ++i) {
        const std::string& cand = pool_[(h + i * 2654435761ULL) % pool_.size()];
        if (cand != ents[i] && !seen.count(cand)) to[ents[i]] = cand;
      }
    } else if (ents.size() >= 2) {
      to[ents[0]] = ents[1];
      to[ents[1]] = ents[0];
    }
    if (to.empty()) return false;
    for (auto& x : w) {
      const std::string c = core_of(x);
      auto it = to.find(c);
      if (it != to.end()) replace_core(x, c, it->second);
    }
    return true;
  }

  std::vector<std::string> pool_;
  perturbation_stats stats_;
};

}  // namespace recblocks::synthetic

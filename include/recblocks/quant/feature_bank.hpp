#pragma once
/// \file feature_bank.hpp
/// UserIP-Tuning's feature bank (papers.md 5): pre-computed categorical features per user (the code ids
/// of the quantised profiles), looked up at serving time and fed to any CTR model as sparse features.
///
///     bank.code(u, f) = codes[u, f]                 when user u was assigned a code for field f
///                     = cardinality(f)              otherwise (cold start: the documented default code)
///
/// so field f takes `cardinality(f) + 1` distinct values (`vocabulary(f)`): K learnt codes plus one
/// shared "no profile" code for users without training behaviour. The bank is a module with two
/// buffers (`codes` `[users, fields]`, -1 = unassigned; `cardinalities` `[1, fields]`), so
/// `io::checkpoint::save(dir, bank)` / `io::checkpoint::open(dir).restore(bank)` store and load it
/// with the library's checkpoint format (code ids are small integers, exact in float).
///
/// Errors: `value_error` for no field, a cardinality < 1, a user, field or code out of range.
/// Thread-safety: `const` lookups may run concurrently; `set` mutates.

#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace recblocks::quant {

template <class T>
class feature_bank {
 public:
  using scalar_type = T;

  /// `users` rows, one field per name with `cardinalities[f]` codes; every user starts unassigned.
  feature_bank(index_t users, std::vector<std::string> fields, const std::vector<index_t>& cardinalities)
      : fields_(std::move(fields)) {
    if (users < 1 || fields_.empty() || fields_.size() != cardinalities.size())
      throw value_error("quant::feature_bank: need users >= 1 and one cardinality per field (users " + std::to_string(users) + ", fields " +
                        std::to_string(fields_.size()) + ", cardinalities " + std::to_string(cardinalities.size()) + ")");
    card_ = matrix<T>(1, static_cast<index_t>(fields_.size()));
    for (std::size_t f = 0; f < fields_.size(); ++f) {
      if (cardinalities[f] < 1)
        throw value_error("quant::feature_bank: field '" + fields_[f] + "' has cardinality " + std::to_string(cardinalities[f]) + " (need >= 1)");
      card_(0, static_cast<index_t>(f)) = T(cardinalities[f]);
    }
    codes_ = matrix<T>::Constant(users, static_cast<index_t>(fields_.size()), T(-1));
  }

  /// Stores code `code` in `[0, cardinality(field))` for `user`.
  void set(index_t user, index_t field, index_t code) {
    check(user, field);
    if (code < 0 || code >= cardinality(field))
      throw value_error("quant::feature_bank: code " + std::to_string(code) + " for field '" + fields_[static_cast<std::size_t>(field)] +
                        "' outside [0, " + std::to_string(cardinality(field)) + ")");
    codes_(user, field) = T(code);
  }

  /// The stored code, or the default `cardinality(field)` for an unassigned (cold-start) user.
  index_t code(index_t user, index_t field) const {
    check(user, field);
    const T c = codes_(user, field);
    return c < T(0) ? cardinality(field) : static_cast<index_t>(c);
  }
  bool assigned(index_t user, index_t field) const {
    check(user, field);
    return codes_(user, field) >= T(0);
  }

  index_t users() const { return codes_.rows(); }
  index_t fields() const { return codes_.cols(); }
  const std::vector<std::string>& field_names() const { return fields_; }
  index_t cardinality(index_t field) const { return static_cast<index_t>(card_(0, field)); }
  /// Distinct values of `field` including the default code: cardinality + 1.
  index_t vocabulary(index_t field) const { return cardinality(field) + 1; }
  /// Users per code of `field` (the last entry counts the unassigned users).
  std::vector<index_t> counts(index_t field) const {
    std::vector<index_t> n(static_cast<std::size_t>(vocabulary(field)), 0);
    for (index_t u = 0; u < users(); ++u) ++n[static_cast<std::size_t>(code(u, field))];
    return n;
  }

  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("codes", self.codes_);
    v("cardinalities", self.card_);
  }

 private:
  void check(index_t user, index_t field) const {
    if (field < 0 || field >= fields()) throw value_error("quant::feature_bank: field " + std::to_string(field) + " outside [0, " + std::to_string(fields()) + ")");
    if (user < 0 || user >= users()) throw value_error("quant::feature_bank: user " + std::to_string(user) + " outside [0, " + std::to_string(users()) + ")");
  }
  std::vector<std::string> fields_;
  matrix<T> codes_;
  matrix<T> card_;
};

}  // namespace recblocks::quant

#pragma once
/// \file mutual_information_policy.hpp
/// `featsel::mutual_information_policy`: ranks fields by their mutual information with the binary
/// label on the training rows (a classical filter baseline of AltFS's comparison):
///
///     I(X; Y) = Σ_{x,y} p(x, y) ln( p(x, y) / (p(x) p(y)) )          (nats, plug-in estimate)
///
/// Sparse fields use their ids as X; dense fields are cut into `bins` equal-frequency bins (ties
/// kept in one bin). With `miller_madow` the estimate subtracts the bias term (|X| − 1)(|Y| − 1)/(2n),
/// which otherwise favours many-valued fields (ids); off by default (the plain filter). The label is
/// `label` column of the dataset, thresholded at 0.5. It sees each field alone: a complementary pair
/// (two fields useful only together) scores near zero, and collinear copies score alike.
///
/// Errors: `value_error` for bins < 2, a label column out of range, an empty dataset, fewer than 2
/// fields. Complexity: O(rows * fields log rows). Thread-safety: `rank` is const in effect (no state).

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <unordered_map>
#include <vector>

#include "../core/error.hpp"
#include "../data/dataset.hpp"
#include "feature_ranking.hpp"

namespace recblocks::featsel {

struct mutual_information_options {
  index_t bins = 10;          ///< equal-frequency bins for dense fields
  bool miller_madow = false;  ///< subtract the (|X|-1)(|Y|-1)/(2n) bias
  index_t label = 0;          ///< label column
};

class mutual_information_policy {
 public:
  explicit mutual_information_policy(mutual_information_options options = {}) : options_(options) {
    if (options_.bins < 2) throw value_error("featsel::mutual_information_policy: bins = " + std::to_string(options_.bins) + " must be >= 2");
  }

  /// Ranks by I(X; Y) on `train` (`valid` is not used).
  feature_ranking rank(const data::dataset& train, const data::dataset& valid) const;

  /// I(X; Y) of one field of `d` in nats.
  double information(const data::dataset& d, const std::string& field) const;

 private:
  mutual_information_options options_;
};

inline double mutual_information_policy::information(const data::dataset& d, const std::string& field) const {
  const data::schema& s = d.get_schema();
  const std::string where = "featsel::mutual_information_policy: ";
  if (d.rows() < 1) throw value_error(where + "the dataset has no rows");
  if (options_.label < 0 || options_.label >= s.label_count())
    throw value_error(where + "label column " + std::to_string(options_.label) + " out of range [0, " + std::to_string(s.label_count()) + ")");
  const auto y = d.label_column(options_.label);
  const std::size_t n = y.size();
  std::vector<long long> x(n);
  if (s.at(field).kind == data::feature_kind::sparse) {
    const auto ids = d.sparse_column(s.index_of(field));
    for (std::size_t i = 0; i < n; ++i) x[i] = ids[i];
  } else if (s.at(field).kind == data::feature_kind::dense) {
    const auto v = d.dense_column(s.index_of(field));
    std::vector<double> sorted(v.begin(), v.end());
    std::sort(sorted.begin(), sorted.end());
    std::vector<double> cuts;  // upper edges of the first bins-1 bins
    for (index_t b = 1; b < options_.bins; ++b) cuts.push_back(sorted[std::min(n - 1, n * std::size_t(b) / std::size_t(options_.bins))]);
    for (std::size_t i = 0; i < n; ++i) x[i] = std::upper_bound(cuts.begin(), cuts.end(), v[i]) - cuts.begin();
  } else {
    throw value_error(where + "feature '" + field + "' is not a sparse or dense field");
  }
  std::unordered_map<long long, std::array<double, 2>> joint;
  double ny[2] = {0, 0};
  for (std::size_t i = 0; i < n; ++i) {
    const int c = y[i] > 0.5 ? 1 : 0;
    ++joint[x[i]][static_cast<std::size_t>(c)];
    ++ny[c];
  }
  double mi = 0;
  const double N = double(n);
  for (const auto& [k, c] : joint) {
    const double nx = c[0] + c[1];
    for (int l = 0; l < 2; ++l)
      if (c[static_cast<std::size_t>(l)] > 0) mi += c[static_cast<std::size_t>(l)] / N * std::log(c[static_cast<std::size_t>(l)] * N / (nx * ny[l]));
  }
  if (options_.miller_madow) {
    const double ky = (ny[0] > 0) + (ny[1] > 0);
    mi -= (double(joint.size()) - 1) * (ky - 1) / (2 * N);
  }
  return mi;
}

inline feature_ranking mutual_information_policy::rank(const data::dataset& train, const data::dataset&) const {
  const auto fields = selectable_fields(train.get_schema());
  std::vector<std::pair<double, std::string>> v;
  for (const auto& f : fields) v.emplace_back(information(train, f), f);
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  feature_ranking r;
  r.policy = options_.miller_madow ? "mutual_information_mm" : "mutual_information";
  for (const auto& [score, name] : v) r.order.push_back(name), r.scores.push_back(score);
  return r;
}

}  // namespace recblocks::featsel

// M-scan's counterfactual debiasing against ground truth: on the synthetic log with a known direct
// scenario effect on clicks (data::synthetic_sequences: click ~ Bernoulli(sigmoid(m + b_s)), and the
// counterfactual click without the S -> Y effect, interest_click ~ Bernoulli(sigmoid(m))), trains M-scan
// once per seed and scores the test split with the TIE score at several c (c does not enter training),
// next to M-scan trained without the debias head. Prints test AUC against the observed clicks and
// against the interest-only clicks, mean ± std over seeds, and the paired difference to c = 0.
//
//   mscan_debias [--rows N] [--seeds N] [--epochs E] [--batch-size B] [--lr X] [--patience P] [--threads T]
//                [--c 0,0.25,0.5,0.75,1] [--out results.csv] [--quiet]
//
// Seed k: generator seed 2024 + k, model seed 2022 + k. Early stopping watches the validation AUC of the
// c = 0 score (the one observed clicks can validate); the best epoch is restored.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <recblocks/data/synthetic_sequences.hpp>
#include <recblocks/eval/auc.hpp>
#include <recblocks/models/mscan.hpp>
#include <recblocks/train.hpp>

#include "common.hpp"

using namespace recblocks;
using namespace recblocks_examples;

namespace {

struct args : training_args {
  index_t seeds = 3;
  std::vector<double> cs{0.0, 0.25, 0.5, 0.75, 1.0};
  std::string out;
  args() {
    rows = 60000;
    epochs = 20;
  }
};

struct stats {
  double mean = 0, std = 0;
};
stats summarize(const std::vector<double>& v) {
  stats s;
  for (double x : v) s.mean += x;
  s.mean /= double(v.size());
  for (double x : v) s.std += (x - s.mean) * (x - s.mean);
  s.std = v.size() > 1 ? std::sqrt(s.std / double(v.size() - 1)) : 0.0;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  args a;
  command_line cl("mscan_debias",
                  "mscan_debias [--rows N] [--seeds N] [--epochs E] [--batch-size B] [--lr X] [--patience P] [--threads T]\n"
                  "                    [--c 0,0.25,0.5,0.75,1] [--out results.csv] [--quiet]");
  a.add_to(cl);
  cl.option("--seeds", a.seeds);
  cl.option("--out", a.out);
  cl.option("--c", [&](const std::string& v) {
    a.cs.clear();
    std::stringstream ss(v);
    for (std::string x; std::getline(ss, x, ',');) a.cs.push_back(std::stod(x));
  });
  cl.parse(argc, argv);
  if (a.seeds < 1 || a.rows < 600 || a.cs.empty()) cl.fail("--seeds >= 1, --rows >= 600 and a non-empty --c");
  try {
    // rows: c values, then "no debias head"; columns: AUC vs click, AUC vs interest_click (per seed)
    const std::size_t R = a.cs.size() + 1;
    std::vector<std::vector<double>> click(R), interest(R);
    index_t train_rows = 0, test_rows = 0;
    for (index_t k = 0; k < a.seeds; ++k) {
      data::synthetic_sequences_options so;
      so.users = std::max<index_t>(10, a.rows / so.per_user);
      so.seed = 2024 + static_cast<std::uint64_t>(k);
      const data::synthetic_sequences syn(so);
      const data::csv_splits s = syn.load();
      train_rows = s.train.rows();
      test_rows = s.test.rows();
      const auto y = s.test.label_column(0), yi = s.test.label_column(1);
      const std::vector<double> yc(y.begin(), y.end()), yint(yi.begin(), yi.end());
      for (bool debias : {true, false}) {
        models::mscan_options o;
        o.debias = debias;
        o.head.c = 0.0;
        rng init(2022 + static_cast<std::uint64_t>(k));
        models::mscan<float> m(syn.get_schema(), o, init);
        train::trainer<models::mscan<float>> tr(m, a.trainer_options(2022 + static_cast<std::uint64_t>(k)));
        const auto fit = tr.fit(s.train, &s.validation);
        if (!a.quiet)
          std::fprintf(stderr, "seed %lld, %s: %zu epochs, best %lld\n", (long long)k, debias ? "debias head" : "no debias head",
                       fit.history.size(), (long long)fit.best_epoch + 1);
        if (!debias) {
          const auto p = tr.predict(s.test);
          click[R - 1].push_back(eval::auc(yc, p));
          interest[R - 1].push_back(eval::auc(yint, p));
          continue;
        }
        for (std::size_t c = 0; c < a.cs.size(); ++c) {
          m.set_debias_coefficient(a.cs[c]);
          const auto p = tr.predict(s.test);
          click[c].push_back(eval::auc(yc, p));
          interest[c].push_back(eval::auc(yint, p));
        }
      }
    }
    std::printf("M-scan debiasing on synthetic S->Y data: %lld seeds, train/test %lld/%lld rows, b_s = -1.5/0/1.5\n\n",
                (long long)a.seeds, (long long)train_rows, (long long)test_rows);
    std::printf("%-16s %18s %18s %22s\n", "score", "AUC click", "AUC interest", "dAUC interest vs c=0");
    std::ostringstream csv;
    csv << "score,auc_click_mean,auc_click_std,auc_interest_mean,auc_interest_std,delta_interest_mean,delta_interest_std\n";
    for (std::size_t r = 0; r < R; ++r) {
      std::vector<double> d;
      for (std::size_t k = 0; k < interest[r].size(); ++k) d.push_back(interest[r][k] - interest[0][k]);
      const stats sc = summarize(click[r]), si = summarize(interest[r]), sd = summarize(d);
      char name[32];
      if (r + 1 < R) std::snprintf(name, sizeof name, "TIE c=%g", a.cs[r]);
      else std::snprintf(name, sizeof name, "no debias head");
      std::printf("%-16s %9.4f ± %.4f %9.4f ± %.4f %+11.4f ± %.4f\n", name, sc.mean, sc.std, si.mean, si.std, sd.mean, sd.std);
      csv << name << ',' << sc.mean << ',' << sc.std << ',' << si.mean << ',' << si.std << ',' << sd.mean << ',' << sd.std << '\n';
    }
    if (!a.out.empty()) {
      std::ofstream f(a.out);
      if (!f) throw io_error("mscan_debias: cannot write " + a.out);
      f << csv.str();
      std::printf("results: %s\n", a.out.c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mscan_debias: %s\n", e.what());
    return 1;
  }
}

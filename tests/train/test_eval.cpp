// eval/: AUC, log loss, scenario report, gAUC, NDCG/Recall/MRR@k against hand-computed values.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <recblocks/eval.hpp>
#include <vector>

using namespace recblocks;

TEST_CASE("auc: Mann-Whitney with midranks", "[eval][auc]") {
  // labels  1    0    1    0    1
  // scores .9   .4   .4   .2   .7
  // Ascending ranks: .2 -> 1, the two .4 share (2+3)/2 = 2.5, .7 -> 4, .9 -> 5.
  // R+ = 2.5 + 4 + 5 = 11.5; AUC = (11.5 - 3*4/2) / (3*2) = 5.5 / 6.
  // Pairwise check: 6 (pos, neg) pairs, 5 won and one tie (.4 vs .4) counted 1/2.
  const std::vector<double> y{1, 0, 1, 0, 1};
  const std::vector<float> s{0.9f, 0.4f, 0.4f, 0.2f, 0.7f};
  CHECK(eval::auc(y, s) == Approx(5.5 / 6.0));
  // only the order matters: logits give the same value
  const std::vector<double> logits{2.2, -0.4, -0.4, -1.4, 0.8};
  CHECK(eval::auc(y, logits) == Approx(5.5 / 6.0));
  // perfect, reversed, all tied
  CHECK(eval::auc(std::vector<int>{0, 0, 1, 1}, std::vector<double>{1, 2, 3, 4}) == 1.0);
  CHECK(eval::auc(std::vector<int>{0, 0, 1, 1}, std::vector<double>{4, 3, 2, 1}) == 0.0);
  CHECK(eval::auc(std::vector<int>{0, 1, 0, 1}, std::vector<double>{5, 5, 5, 5}) == 0.5);
  // Eigen inputs work too
  Eigen::VectorXd ey(3), es(3);
  ey << 0, 1, 1;
  es << 0.3, 0.2, 0.8;
  CHECK(eval::auc(ey, es) == Approx(0.5));
  // degenerate inputs
  CHECK_THROWS_WITH(eval::auc(std::vector<int>{1, 1}, std::vector<double>{0.1, 0.2}), Catch::Contains("one class"));
  CHECK_THROWS_AS(eval::auc(std::vector<int>{}, std::vector<double>{}), value_error);
  CHECK_THROWS_WITH(eval::auc(std::vector<int>{0, 1}, std::vector<double>{0.1, std::nan("")}),
                    Catch::Contains("position 1"));
  CHECK_THROWS_AS(eval::auc(std::vector<int>{0, 2}, std::vector<double>{0.1, 0.2}), value_error);
  CHECK_THROWS_AS(eval::auc(std::vector<int>{0, 1}, std::vector<double>{0.1}), shape_error);
}

TEST_CASE("log_loss: clipped binary cross-entropy", "[eval][log_loss]") {
  // -(ln 0.8 + ln 0.6) / 2 = (0.223144 + 0.510826) / 2 = 0.366985
  CHECK(eval::log_loss(std::vector<int>{1, 0}, std::vector<double>{0.8, 0.4}) == Approx(0.3669845850));
  // a confident mistake is clipped at eps = 1e-7: -ln(1e-7) = 16.118096
  CHECK(eval::log_loss(std::vector<int>{1}, std::vector<double>{0.0}) == Approx(16.1180956510));
  CHECK(eval::log_loss(std::vector<int>{0}, std::vector<double>{0.0}) == Approx(1e-7).margin(1e-9));
  CHECK(eval::log_loss(std::vector<int>{1}, std::vector<double>{0.0}, 1e-3) == Approx(-std::log(1e-3)));
  CHECK_THROWS_AS(eval::log_loss(std::vector<int>{}, std::vector<double>{}), value_error);
  CHECK_THROWS_AS(eval::log_loss(std::vector<int>{1}, std::vector<double>{1.5}), value_error);
  CHECK_THROWS_AS(eval::log_loss(std::vector<int>{1}, std::vector<double>{std::nan("")}), value_error);
  CHECK_THROWS_AS(eval::log_loss(std::vector<int>{1, 0}, std::vector<double>{0.5}), shape_error);
}

TEST_CASE("scenario_report: overall and per-scenario metrics", "[eval][scenario_report]") {
  // row        0    1    2    3    4    5
  // label      1    0    1    0    1    0
  // prob      .9   .2   .6   .7   .4   .1
  // scenario   0    0    1    1    1    2
  // overall: positives {.9,.6,.4} vs negatives {.2,.7,.1}: .9 wins 3, .6 wins 2, .4 wins 2 -> 7/9
  //          log loss = -(ln .9 + ln .8 + ln .6 + ln .3 + ln .4 + ln .9) / 6 = 0.510826
  // scenario 0: AUC 1, log loss -(ln .9 + ln .8)/2 = 0.164252, rate 1/2
  // scenario 1: positives {.6,.4} both below .7 -> AUC 0; log loss -(ln .6 + ln .3 + ln .4)/3 = 0.877030
  // scenario 2: negatives only -> AUC NaN; log loss -ln .9 = 0.105361; rate 0
  // scenario 3 (scenario_count = 4): no rows -> count 0, everything NaN
  const std::vector<double> y{1, 0, 1, 0, 1, 0}, p{.9, .2, .6, .7, .4, .1};
  const std::vector<index_t> s{0, 0, 1, 1, 1, 2};
  const eval::scenario_report r(y, p, s, 4);
  CHECK(r.overall().count == 6);
  CHECK(r.overall().auc == Approx(7.0 / 9.0));
  CHECK(r.overall().log_loss == Approx(0.5108256238));
  CHECK(r.overall().positive_rate == Approx(0.5));
  REQUIRE(r.scenarios() == 4);
  CHECK(r.scenario(0).auc == 1.0);
  CHECK(r.scenario(0).log_loss == Approx(0.1642520335));
  CHECK(r.scenario(1).auc == 0.0);
  CHECK(r.scenario(1).log_loss == Approx(0.8770297200));
  CHECK(r.scenario(1).positive_rate == Approx(2.0 / 3.0));
  CHECK(std::isnan(r.scenario(2).auc));
  CHECK(r.scenario(2).log_loss == Approx(0.1053605157));
  CHECK(r.scenario(2).positive_rate == 0.0);
  CHECK(r.scenario(3).count == 0);
  CHECK(std::isnan(r.scenario(3).log_loss));
  const auto j = r.to_json();
  CHECK(j["scenarios"][2]["auc"].is_null());
  CHECK(j["scenarios"][1]["count"] == 3);
  CHECK(eval::scenario_report(y, p, s).scenarios() == 3);  // inferred from max id
  CHECK_THROWS_AS(eval::scenario_report(y, p, s, 2), value_error);
  CHECK_THROWS_AS(eval::scenario_report(y, p, std::vector<index_t>{0}), shape_error);
}

TEST_CASE("gauc: impression-weighted per-user AUC", "[eval][gauc]") {
  // user 7: (1,.9) (0,.3) (0,.5)            -> AUC 1,     3 impressions
  // user 3: (1,.2) (0,.6) (1,.6) (0,.1)     -> pairs: .2<.6 0, .2>.1 1, .6=.6 1/2, .6>.1 1 -> 2.5/4 = .625, 4 impressions
  // user 9: (1,.5) (1,.4)                   -> one class, skipped
  // gAUC = (3 * 1 + 4 * .625) / 7 = 5.5 / 7
  const std::vector<int> y{1, 0, 0, 1, 0, 1, 0, 1, 1};
  const std::vector<double> s{.9, .3, .5, .2, .6, .6, .1, .5, .4};
  const std::vector<index_t> u{7, 7, 7, 3, 3, 3, 3, 9, 9};
  index_t counted = 0;
  CHECK(eval::gauc(y, s, u, &counted) == Approx(5.5 / 7.0));
  CHECK(counted == 2);
  CHECK_THROWS_WITH(eval::gauc(std::vector<int>{1, 0}, std::vector<double>{.1, .2}, std::vector<index_t>{1, 2}),
                    Catch::Contains("no user"));
  CHECK_THROWS_AS(eval::gauc(y, s, std::vector<index_t>{1}), shape_error);
}

TEST_CASE("ranking metrics: NDCG, Recall, MRR at k", "[eval][ranking]") {
  // ranked 5 3 9 1 7, relevant {3, 7, 8}
  // k = 3: hit at p = 2 -> DCG = 1/log2(3) = .630930; IDCG = 1 + 1/log2(3) + 1/log2(4) = 2.130930
  //        NDCG = .296082, Recall = 1/3, MRR = 1/2
  // k = 5: hits at p = 2, 5 -> DCG = 1/log2(3) + 1/log2(6) = 1.017783 -> NDCG = .477624, Recall = 2/3
  const std::vector<index_t> ranked{5, 3, 9, 1, 7}, relevant{3, 7, 8};
  CHECK(eval::ndcg_at_k(ranked, relevant, 3) == Approx(0.2960819110));
  CHECK(eval::recall_at_k(ranked, relevant, 3) == Approx(1.0 / 3.0));
  CHECK(eval::mrr_at_k(ranked, relevant, 3) == 0.5);
  CHECK(eval::ndcg_at_k(ranked, relevant, 5) == Approx(0.4776237035));
  CHECK(eval::recall_at_k(ranked, relevant, 5) == Approx(2.0 / 3.0));
  CHECK(eval::mrr_at_k(ranked, relevant, 1) == 0.0);
  CHECK(eval::ndcg_at_k(ranked, relevant, 100) == Approx(0.4776237035));  // list shorter than k
  const std::vector<index_t> perfect{3, 7, 8, 1};
  CHECK(eval::ndcg_at_k(perfect, relevant, 3) == Approx(1.0));
  CHECK_THROWS_AS(eval::ndcg_at_k(ranked, std::vector<index_t>{}, 3), value_error);
  CHECK_THROWS_AS(eval::recall_at_k(ranked, relevant, 0), value_error);
  CHECK_THROWS_AS(eval::mrr_at_k(std::vector<index_t>{1, 1}, relevant, 2), value_error);

  // graded: scores .1 .9 .5, grades 2 0 1, k = 2: ranking = [1, 2] -> DCG = 0 + (2^1-1)/log2(3) = .630930
  // ideal grades [2, 1] -> IDCG = 3 + 1/log2(3) = 3.630930 -> NDCG = .173765
  CHECK(eval::ndcg_at_k_graded(std::vector<double>{.1, .9, .5}, std::vector<double>{2, 0, 1}, 2) ==
        Approx(0.1737653429));
  CHECK(eval::ndcg_at_k_graded(std::vector<double>{.1, .9}, std::vector<double>{0, 0}, 2) == 0.0);
  CHECK_THROWS_AS(eval::ndcg_at_k_graded(std::vector<double>{std::nan("")}, std::vector<double>{1}, 1), value_error);
  CHECK_THROWS_AS(eval::ndcg_at_k_graded(std::vector<double>{1}, std::vector<double>{-1}, 1), value_error);
}

// loss/contrastive.hpp: InfoNCE with per-instance negatives, in-batch sharing and false-negative masking.
#include <cmath>
#include <vector>

#include "gradcheck_helpers.hpp"
#include <recblocks/loss/contrastive.hpp>

using namespace recblocks;

namespace {

// Reference: explicit candidate logits per instance, log-sum-exp by hand.
double reference(const matrix<double>& q, const matrix<double>& p, const matrix<double>& n,
                 const std::vector<index_t>& off, double tau, bool in_batch, const std::vector<index_t>& qid,
                 const std::vector<index_t>& pid, const std::vector<index_t>& nid) {
  const index_t B = q.rows();
  double total = 0;
  for (index_t i = 0; i < B; ++i) {
    std::vector<double> s;
    const double pos = q.row(i).dot(p.row(i)) / tau;
    s.push_back(pos);
    auto masked = [&](index_t id) {
      if (pid.empty() || id < 0) return false;
      for (index_t j = 0; j < B; ++j)
        if ((j == i || (!qid.empty() && qid[j] == qid[i])) && pid[j] == id) return true;
      return false;
    };
    for (index_t j = 0; j < B; ++j)
      if (j != i && in_batch && !masked(pid.empty() ? -1 : pid[j])) s.push_back(q.row(i).dot(p.row(j)) / tau);
    for (index_t r = 0; r < n.rows(); ++r) {
      const bool own = r >= off[i] && r < off[i + 1];
      if ((own || in_batch) && !masked(nid.empty() ? -1 : nid[r])) s.push_back(q.row(i).dot(n.row(r)) / tau);
    }
    double m = *std::max_element(s.begin(), s.end()), z = 0;
    for (double v : s) z += std::exp(v - m);
    total += m + std::log(z) - pos;
  }
  return total / B;
}

}  // namespace

TEST_CASE("contrastive matches the explicit softmax over candidates", "[loss][contrastive]") {
  rng g(7);
  matrix<double> q(3, 4), p(3, 4), n(5, 4);
  g.fill_uniform(q, -1, 1);
  g.fill_uniform(p, -1, 1);
  g.fill_uniform(n, -1, 1);
  const std::vector<index_t> off{0, 2, 2, 5};  // instance 1 has no negatives
  const std::vector<index_t> qid{10, 11, 10}, pid{100, 101, 102}, nid{102, 200, 201, 100, -1};
  for (bool in_batch : {false, true})
    for (bool mask : {false, true}) {
      tape<double> t;
      loss::contrastive_options o;
      o.temperature = 0.5;
      o.in_batch = in_batch;
      loss::contrastive_ids ids;
      if (mask) ids = {qid, pid, nid};
      loss::contrastive_stats st;
      auto l = loss::contrastive(t, t.view(q.data(), 3, 4), t.view(p.data(), 3, 4), t.view(n.data(), 5, 4), off, o, ids, &st);
      const double want = reference(q, p, n, off, 0.5, in_batch, mask ? qid : std::vector<index_t>{},
                                    mask ? pid : std::vector<index_t>{}, mask ? nid : std::vector<index_t>{});
      INFO("in_batch " << in_batch << " mask " << mask);
      CHECK(l.value()(0, 0) == Approx(want).epsilon(1e-12));
      if (!mask) CHECK(st.masked == 0);
    }
  // masking by hand: instance 0 (query 10) has positives 100 and 102 (instance 2 shares query 10)
  tape<double> t;
  loss::contrastive_stats st;
  loss::contrastive(t, t.view(q.data(), 3, 4), t.view(p.data(), 3, 4), t.view(n.data(), 5, 4), off, {0.5, false},
                    {qid, pid, nid}, &st);
  // own negatives: instance 0 rows {102 masked, 200}; instance 2 rows {201, 100 masked, -1}
  CHECK(st.masked == 2);
  CHECK(st.candidates == 3 + 1 + 2);
}

TEST_CASE("contrastive gradients pass the gradient check", "[loss][contrastive][gradcheck]") {
  const std::vector<index_t> off{0, 1, 4, 6};
  const std::vector<index_t> qid{1, 2, 1}, pid{5, 6, 7}, nid{7, 8, 9, 5, 10, -1};
  for (bool in_batch : {false, true}) {
    rbt::check_op(in_batch ? "contrastive in_batch" : "contrastive own negatives", {{3, 4}, {3, 4}, {6, 4}},
                  [&](tape<double>& t, const rbt::leaves& in) {
                    return loss::contrastive(t, in[0], in[1], in[2], off, {0.3, in_batch}, {qid, pid, nid});
                  });
  }
  // through l2 normalisation, as a bi-encoder uses it
  rbt::check_op("contrastive cosine", {{2, 5}, {2, 5}, {3, 5}}, [&](tape<double>& t, const rbt::leaves& in) {
    const std::vector<index_t> o{0, 2, 3};
    return loss::contrastive(t, ops::l2_normalize_rows(t, in[0]), ops::l2_normalize_rows(t, in[1]),
                             ops::l2_normalize_rows(t, in[2]), o, {0.05, true});
  });
}

TEST_CASE("contrastive: instance with only its positive contributes zero", "[loss][contrastive]") {
  matrix<double> q = matrix<double>::Ones(1, 3), p = matrix<double>::Ones(1, 3), n(0, 3);
  tape<double> t;
  const std::vector<index_t> off{0, 0};
  auto l = loss::contrastive(t, t.view(q.data(), 1, 3), t.view(p.data(), 1, 3), t.view(n.data(), 0, 3), off);
  CHECK(l.value()(0, 0) == 0.0);
}

TEST_CASE("contrastive rejects bad shapes, offsets, temperature and ids", "[loss][contrastive]") {
  matrix<double> q(2, 3), p(2, 3), n(3, 3), p_bad(2, 4);
  q.setOnes();
  p.setOnes();
  n.setOnes();
  p_bad.setOnes();
  tape<double> t;
  auto Q = t.view(q.data(), 2, 3), P = t.view(p.data(), 2, 3), N = t.view(n.data(), 3, 3);
  const std::vector<index_t> off{0, 1, 3}, bad_len{0, 3}, bad_end{0, 1, 2}, bad_dec{0, 2, 1};
  CHECK_THROWS_AS(loss::contrastive(t, Q, t.view(p_bad.data(), 2, 4), N, off), shape_error);
  CHECK_THROWS_AS(loss::contrastive(t, Q, P, N, bad_len), shape_error);
  CHECK_THROWS_AS(loss::contrastive(t, Q, P, N, bad_end), shape_error);
  CHECK_THROWS_AS(loss::contrastive(t, Q, P, N, std::vector<index_t>{0, 4, 3}), shape_error);
  CHECK_THROWS_AS(loss::contrastive(t, Q, P, N, off, {0.0, false}), value_error);
  CHECK_THROWS_AS(loss::contrastive(t, Q, P, N, off, {std::nan(""), false}), value_error);
  const std::vector<index_t> pid{1, 2}, nid_short{3};
  CHECK_THROWS_AS(loss::contrastive(t, Q, P, N, off, {}, {{}, pid, nid_short}), value_error);
  (void)bad_dec;
}

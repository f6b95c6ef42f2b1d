// Compose a small CTR model from blocks and train it on a generated problem (about 30 lines of model).
//
// The label depends on an interaction of user and item ids and a dense feature; a model with
// embeddings and an MLP learns it, while the base rate (a constant predictor) cannot.
#include <cstdio>
#include <recblocks/recblocks.hpp>

using namespace recblocks;

struct two_tower_ctr {
  using scalar_type = float;
  nn::embedding<float> users, items;
  nn::mlp<float> head;

  explicit two_tower_ctr(rng& gen)
      : users(100, 8, gen, nn::init::normal(0, 0.1)), items(200, 8, gen, nn::init::normal(0, 0.1)),
        head({.input_dim = 17, .hidden = {32, 16}, .act = activation::relu, .output_layer = true}, gen) {}

  var<float> operator()(tape<float>& t, std::span<const index_t> u, std::span<const index_t> i, const var<float>& dense) const {
    return head(t, ops::concat_cols(t, {users(t, u), items(t, i), dense}));
  }
  /// The member list: checkpoints, optimizers and parameter counts follow from it.
  template <class Self, class V>
  static void visit(Self& s, V& v) {
    v("users", s.users);
    v("items", s.items);
    v("head", s.head);
  }
};

int main() {
  rng gen(2024);
  const index_t n = 4096, batch = 256;
  std::vector<index_t> user(n), item(n);
  matrix<float> dense(n, 1), label(n, 1);
  for (index_t k = 0; k < n; ++k) {
    user[k] = gen.integer(0, 99);
    item[k] = gen.integer(0, 199);
    dense(k, 0) = float(gen.uniform(-1, 1));
    const double affinity = ((user[k] % 7) == (item[k] % 7) ? 2.0 : -1.0) + 1.5 * dense(k, 0);
    label(k, 0) = gen.bernoulli(1.0 / (1.0 + std::exp(-affinity))) ? 1.f : 0.f;
  }
  two_tower_ctr model(gen);
  optim::adam<float> opt(nn::parameters(model), {.learning_rate = 0.01});
  tape<float> t;
  double epoch_loss = 0;
  for (int epoch = 0; epoch < 8; ++epoch) {
    epoch_loss = 0;
    for (index_t s = 0; s < n; s += batch) {
      t.reset();
      std::span<const index_t> u(user.data() + s, batch), i(item.data() + s, batch);
      var<float> logits = model(t, u, i, t.view(dense.data() + s, batch, 1));
      var<float> loss = loss::bce_with_logits(t, logits, t.view(label.data() + s, batch, 1));
      t.backward(loss);
      opt.step();
      epoch_loss += loss.item() * batch / n;
    }
    std::printf("epoch %d  train log loss %.4f\n", epoch + 1, epoch_loss);
  }
  const double p = label.mean();
  const double base = -(p * std::log(p) + (1 - p) * std::log(1 - p));
  std::printf("base-rate log loss %.4f; model %.4f (%s)\n", base, epoch_loss, epoch_loss < base ? "learned" : "FAILED");
  return epoch_loss < base - 0.05 ? 0 : 1;
}

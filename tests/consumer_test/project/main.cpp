// A downstream project: composes a linear layer, trains one step and checks the loss falls.
#include <recblocks/recblocks.hpp>
#include <cstdio>

int main() {
  using namespace recblocks;
  rng gen(7);
  nn::linear<double> layer(3, 1, gen);
  matrix<double> x = matrix<double>::Random(8, 3);
  matrix<double> y = (x.col(0).array() > 0).cast<double>().matrix();
  optim::adam<double> opt(nn::parameters(layer), {.learning_rate = 0.05});
  double first = 0, last = 0;
  for (int step = 0; step < 50; ++step) {
    tape<double> t;
    auto loss = loss::bce_with_logits(t, layer(t, t.constant(x)), t.constant(y));
    if (step == 0) first = loss.item();
    last = loss.item();
    t.backward(loss);
    opt.step();
  }
  std::printf("loss %.4f -> %.4f\n", first, last);
  return last < first ? 0 : 1;
}

// Compile-time probe (issue 26, part 3): the smallest translation unit that trains one model, i.e.
// builds `models::star<float>` on the synthetic data and runs `train::trainer` over it. It is what a
// user's program that trains one model compiles; tools/compile_time/measure.sh times it (CPU seconds)
// with and without the optional `recblocks::instantiations` library (RECBLOCKS_EXTERN_TEMPLATES).
// It also runs: one epoch on 2,000 synthetic rows, prints the validation AUC.
#include <cstdio>
#include <recblocks/data/synthetic.hpp>
#include <recblocks/models/star.hpp>
#include <recblocks/train/trainer.hpp>

using namespace recblocks;

int main() {
  data::synthetic_config c;
  c.rows = 2000;
  const data::synthetic gen(c);
  const auto parts = gen.split({0.8, 0.1, 0.1}, 1);
  rng init(1);
  models::star<float> model(parts.parts[0].get_schema(), {}, init);
  train::trainer_options o;
  o.epochs = 1;
  train::trainer<models::star<float>> tr(model, o);
  const auto fit = tr.fit(parts.parts[0], parts.parts[1]);
  const auto report = tr.evaluate(parts.parts[2]);
  std::printf("epochs %d  test auc %.4f\n", static_cast<int>(fit.history.size()), report.overall().auc);
  return 0;
}

// A downstream project that links the optional recblocks::instantiations library (issue 26, part 3):
// trains STAR with train::trainer, whose code it does not compile itself (RECBLOCKS_EXTERN_TEMPLATES
// comes with the target); the link fails if the library lacks an instantiation the headers declare.
#include <cstdio>
#include <recblocks/data/synthetic.hpp>
#include <recblocks/models/star.hpp>
#include <recblocks/train/trainer.hpp>

#if !defined(RECBLOCKS_EXTERN_TEMPLATES)
#error "linking recblocks::instantiations should define RECBLOCKS_EXTERN_TEMPLATES"
#endif

int main() {
  using namespace recblocks;
  data::synthetic_config c;
  c.rows = 3000;
  const data::synthetic gen(c);
  const auto parts = gen.split({0.8, 0.1, 0.1}, 1);
  rng init(1);
  models::star<float> model(parts.parts[0].get_schema(), {}, init);
  train::trainer_options o;
  o.epochs = 2;
  train::trainer<models::star<float>> tr(model, o);
  tr.fit(parts.parts[0], parts.parts[1]);
  const double auc = tr.evaluate(parts.parts[2]).overall().auc;
  std::printf("star test auc %.4f\n", auc);
  return auc > 0.55 ? 0 : 1;
}

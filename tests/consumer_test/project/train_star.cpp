// A downstream project that links the optional recblocks::instantiations library (issue 26, part 3):
// trains STAR with train::trainer and round-trips it through a checkpoint, code it does not compile
// itself (RECBLOCKS_EXTERN_TEMPLATES comes with the target); the link fails if the library lacks an
// instantiation the headers declare. Checks: the training loss falls over three epochs, and the
// reloaded model predicts bit for bit what the trained one does.
#include <cstdio>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <recblocks/data/synthetic.hpp>
#include <recblocks/io/checkpoint.hpp>
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
  const data::dataset& d = gen.data();
  rng init(1);
  models::star<float> model(d.get_schema(), {}, init);
  train::trainer_options o;
  o.epochs = 3;
  train::trainer<models::star<float>> tr(model, o);
  const auto fit = tr.fit(d);
  const double first = fit.history.front().train_loss, last = fit.history.back().train_loss;
  std::printf("train loss %.4f -> %.4f\n", first, last);
  if (fit.history.size() != 3 || !(last < first)) return 1;

  const auto dir = std::filesystem::temp_directory_path() / ("recblocks_consumer_" + std::to_string(::getpid()));
  io::checkpoint::save(dir, model);
  models::star<float> reloaded = io::checkpoint::load<models::star<float>>(dir);
  std::filesystem::remove_all(dir);
  train::trainer<models::star<float>> check(reloaded, o);
  const bool same = tr.predict(d) == check.predict(d);
  std::printf("checkpoint round trip: %s\n", same ? "identical" : "DIFFERENT");
  return same ? 0 : 1;
}

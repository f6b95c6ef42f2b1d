// recblocks::instantiations (docs/performance.md, "Compile time"): models::adaptdhm for float,
// its float trainer and float checkpoint save / restore / make, compiled once for every target
// that links this library.
#include <recblocks/io/checkpoint.hpp>
#include <recblocks/models/adaptdhm.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::adaptdhm<float>;
template class train::trainer<models::adaptdhm<float>>;
template void io::checkpoint::save<models::adaptdhm<float>>(const std::filesystem::path&, const models::adaptdhm<float>&, const io::checkpoint_options&);
template void io::checkpoint::restore<models::adaptdhm<float>>(models::adaptdhm<float>&) const;
template models::adaptdhm<float> io::checkpoint::make<models::adaptdhm<float>>() const;
}  // namespace recblocks

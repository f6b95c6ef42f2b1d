// recblocks::instantiations (docs/performance.md, "Compile time"): models::shared_bottom for float,
// its float trainer and float checkpoint save / restore / make, compiled once for every target
// that links this library.
#include <recblocks/io/checkpoint.hpp>
#include <recblocks/models/shared_bottom.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::shared_bottom<float>;
template class train::trainer<models::shared_bottom<float>>;
template void io::checkpoint::save<models::shared_bottom<float>>(const std::filesystem::path&, const models::shared_bottom<float>&, const io::checkpoint_options&);
template void io::checkpoint::restore<models::shared_bottom<float>>(models::shared_bottom<float>&) const;
template models::shared_bottom<float> io::checkpoint::make<models::shared_bottom<float>>() const;
}  // namespace recblocks

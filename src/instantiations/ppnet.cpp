// recblocks::instantiations (docs/performance.md, "Compile time"): models::ppnet for float,
// its float trainer and float checkpoint save / restore / make, compiled once for every target
// that links this library.
#include <recblocks/io/checkpoint.hpp>
#include <recblocks/models/ppnet.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::ppnet<float>;
template class train::trainer<models::ppnet<float>>;
template void io::checkpoint::save<models::ppnet<float>>(const std::filesystem::path&, const models::ppnet<float>&, const io::checkpoint_options&);
template void io::checkpoint::restore<models::ppnet<float>>(models::ppnet<float>&) const;
template models::ppnet<float> io::checkpoint::make<models::ppnet<float>>() const;
}  // namespace recblocks

// recblocks::instantiations (docs/performance.md, "Compile time"): models::mmoe for float,
// its float trainer and float checkpoint save / restore / make, compiled once for every target
// that links this library.
#include <recblocks/io/checkpoint.hpp>
#include <recblocks/models/mmoe.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::mmoe<float>;
template class train::trainer<models::mmoe<float>>;
template void io::checkpoint::save<models::mmoe<float>>(const std::filesystem::path&, const models::mmoe<float>&, const io::checkpoint_options&);
template void io::checkpoint::restore<models::mmoe<float>>(models::mmoe<float>&) const;
template models::mmoe<float> io::checkpoint::make<models::mmoe<float>>() const;
}  // namespace recblocks

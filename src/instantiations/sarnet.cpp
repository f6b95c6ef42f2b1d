// recblocks::instantiations (docs/performance.md, "Compile time"): models::sarnet for float,
// its float trainer and float checkpoint save / restore / make, compiled once for every target
// that links this library.
#include <recblocks/io/checkpoint.hpp>
#include <recblocks/models/sarnet.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::sarnet<float>;
template class train::trainer<models::sarnet<float>>;
template void io::checkpoint::save<models::sarnet<float>>(const std::filesystem::path&, const models::sarnet<float>&, const io::checkpoint_options&);
template void io::checkpoint::restore<models::sarnet<float>>(models::sarnet<float>&) const;
template models::sarnet<float> io::checkpoint::make<models::sarnet<float>>() const;
}  // namespace recblocks

// recblocks::instantiations (docs/performance.md, "Compile time"): models::m3oe for float,
// its float trainer and float checkpoint save / restore / make, compiled once for every target
// that links this library.
#include <recblocks/io/checkpoint.hpp>
#include <recblocks/models/m3oe.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::m3oe<float>;
template class train::trainer<models::m3oe<float>>;
template void io::checkpoint::save<models::m3oe<float>>(const std::filesystem::path&, const models::m3oe<float>&, const io::checkpoint_options&);
template void io::checkpoint::restore<models::m3oe<float>>(models::m3oe<float>&) const;
template models::m3oe<float> io::checkpoint::make<models::m3oe<float>>() const;
}  // namespace recblocks

// recblocks::instantiations (docs/performance.md, "Compile time"): models::m2m for float,
// its float trainer and float checkpoint save / restore / make, compiled once for every target
// that links this library.
#include <recblocks/io/checkpoint.hpp>
#include <recblocks/models/m2m.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::m2m<float>;
template class train::trainer<models::m2m<float>>;
template void io::checkpoint::save<models::m2m<float>>(const std::filesystem::path&, const models::m2m<float>&, const io::checkpoint_options&);
template void io::checkpoint::restore<models::m2m<float>>(models::m2m<float>&) const;
template models::m2m<float> io::checkpoint::make<models::m2m<float>>() const;
}  // namespace recblocks

// recblocks::instantiations (docs/performance.md, "Compile time"): models::star for float,
// its float trainer and float checkpoint save / restore / make, compiled once for every target
// that links this library.
#include <recblocks/io/checkpoint.hpp>
#include <recblocks/models/star.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::star<float>;
template class train::trainer<models::star<float>>;
template void io::checkpoint::save<models::star<float>>(const std::filesystem::path&, const models::star<float>&, const io::checkpoint_options&);
template void io::checkpoint::restore<models::star<float>>(models::star<float>&) const;
template models::star<float> io::checkpoint::make<models::star<float>>() const;
}  // namespace recblocks

// recblocks::instantiations (docs/performance.md, "Compile time"): models::adasparse for float,
// its float trainer and float checkpoint save / restore / make, compiled once for every target
// that links this library.
#include <recblocks/io/checkpoint.hpp>
#include <recblocks/models/adasparse.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::adasparse<float>;
template class train::trainer<models::adasparse<float>>;
template void io::checkpoint::save<models::adasparse<float>>(const std::filesystem::path&, const models::adasparse<float>&, const io::checkpoint_options&);
template void io::checkpoint::restore<models::adasparse<float>>(models::adasparse<float>&) const;
template models::adasparse<float> io::checkpoint::make<models::adasparse<float>>() const;
}  // namespace recblocks

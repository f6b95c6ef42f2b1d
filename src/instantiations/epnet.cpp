// recblocks::instantiations (docs/performance.md, "Compile time"): models::epnet for float,
// its float trainer and float checkpoint save / restore / make, compiled once for every target
// that links this library.
#include <recblocks/io/checkpoint.hpp>
#include <recblocks/models/epnet.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::epnet<float>;
template class train::trainer<models::epnet<float>>;
template void io::checkpoint::save<models::epnet<float>>(const std::filesystem::path&, const models::epnet<float>&, const io::checkpoint_options&);
template void io::checkpoint::restore<models::epnet<float>>(models::epnet<float>&) const;
template models::epnet<float> io::checkpoint::make<models::epnet<float>>() const;
}  // namespace recblocks

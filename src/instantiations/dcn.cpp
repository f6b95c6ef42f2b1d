// recblocks::instantiations (docs/performance.md, "Compile time"): models::dcn for float,
// its float trainer and float checkpoint save / restore / make, compiled once for every target
// that links this library.
#include <recblocks/io/checkpoint.hpp>
#include <recblocks/models/dcn.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::dcn<float>;
template class train::trainer<models::dcn<float>>;
template void io::checkpoint::save<models::dcn<float>>(const std::filesystem::path&, const models::dcn<float>&, const io::checkpoint_options&);
template void io::checkpoint::restore<models::dcn<float>>(models::dcn<float>&) const;
template models::dcn<float> io::checkpoint::make<models::dcn<float>>() const;
}  // namespace recblocks

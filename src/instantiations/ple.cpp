// recblocks::instantiations (docs/performance.md, "Compile time"): models::ple for float,
// its float trainer and float checkpoint save / restore / make, compiled once for every target
// that links this library.
#include <recblocks/io/checkpoint.hpp>
#include <recblocks/models/ple.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::ple<float>;
template class train::trainer<models::ple<float>>;
template void io::checkpoint::save<models::ple<float>>(const std::filesystem::path&, const models::ple<float>&, const io::checkpoint_options&);
template void io::checkpoint::restore<models::ple<float>>(models::ple<float>&) const;
template models::ple<float> io::checkpoint::make<models::ple<float>>() const;
}  // namespace recblocks

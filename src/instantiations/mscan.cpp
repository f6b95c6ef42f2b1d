// recblocks::instantiations (docs/performance.md, "Compile time"): models::mscan for float,
// its float trainer and float checkpoint save / restore / make, compiled once for every target
// that links this library.
#include <recblocks/io/checkpoint.hpp>
#include <recblocks/models/mscan.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::mscan<float>;
template class train::trainer<models::mscan<float>>;
template void io::checkpoint::save<models::mscan<float>>(const std::filesystem::path&, const models::mscan<float>&, const io::checkpoint_options&);
template void io::checkpoint::restore<models::mscan<float>>(models::mscan<float>&) const;
template models::mscan<float> io::checkpoint::make<models::mscan<float>>() const;
}  // namespace recblocks

// recblocks::instantiations (docs/performance.md, "Compile time"): models::hamur for float,
// its float trainer and float checkpoint save / restore / make, compiled once for every target
// that links this library.
#include <recblocks/io/checkpoint.hpp>
#include <recblocks/models/hamur.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks {
template class models::hamur<float>;
template class train::trainer<models::hamur<float>>;
template void io::checkpoint::save<models::hamur<float>>(const std::filesystem::path&, const models::hamur<float>&, const io::checkpoint_options&);
template void io::checkpoint::restore<models::hamur<float>>(models::hamur<float>&) const;
template models::hamur<float> io::checkpoint::make<models::hamur<float>>() const;
}  // namespace recblocks

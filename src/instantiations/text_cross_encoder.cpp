// recblocks::instantiations (docs/performance.md, "Compile time"): text::cross_encoder for float,
// compiled once for every target that links this library (only built with recblocks::text).
#include <recblocks/text/cross_encoder.hpp>

namespace recblocks {
template class text::cross_encoder<float>;
}  // namespace recblocks

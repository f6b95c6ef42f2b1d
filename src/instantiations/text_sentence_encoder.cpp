// recblocks::instantiations (docs/performance.md, "Compile time"): text::sentence_encoder for float,
// compiled once for every target that links this library (only built with recblocks::text).
#include <recblocks/text/sentence_encoder.hpp>

namespace recblocks {
template class text::sentence_encoder<float>;
}  // namespace recblocks

// recblocks::instantiations (docs/performance.md, "Compile time"): models::feature_embedding, the
// input layer every registry model shares, for float.
#include <recblocks/models/feature_embedding.hpp>

namespace recblocks {
template class models::feature_embedding<float>;
}  // namespace recblocks

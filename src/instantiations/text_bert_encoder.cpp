// recblocks::instantiations (docs/performance.md, "Compile time"): nn::bert_encoder for float and
// double, compiled once for every target that links this library (only built with recblocks::text).
#include <recblocks/text/bert_encoder.hpp>

namespace recblocks {
template class nn::bert_encoder<float>;
template class nn::bert_encoder<double>;
}  // namespace recblocks

// recblocks::instantiations (docs/performance.md, "Compile time"): nn::causal_lm<float> (the in-process
// language model of UserIP-Tuning and SASRec), compiled once for every target that links this library.
#include <recblocks/nn/causal_lm.hpp>

namespace recblocks {
template class nn::causal_lm<float>;
}  // namespace recblocks

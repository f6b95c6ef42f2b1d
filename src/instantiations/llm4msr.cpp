// recblocks::instantiations (docs/performance.md, "Compile time"): models::llm4msr over the four
// backbones of examples/llm4msr_movielens.cpp (shared_bottom, mmoe, ple, star) on float, compiled once
// for every target that links this library.
#include <recblocks/models/llm4msr.hpp>

namespace recblocks {
template class models::llm4msr<models::shared_bottom<float>>;
template class models::llm4msr<models::mmoe<float>>;
template class models::llm4msr<models::ple<float>>;
template class models::llm4msr<models::star<float>>;
}  // namespace recblocks

// recblocks::instantiations (docs/performance.md, "Compile time"): models::userip<float>, compiled once
// for every target that links this library.
#include <recblocks/models/userip.hpp>

namespace recblocks {
template class models::userip<float>;
}  // namespace recblocks

// recblocks::instantiations (docs/performance.md, "Compile time"): the synthetic data generator's
// constructor and split, compiled once (out of line) for every target that links this library; the
// header declares them only when RECBLOCKS_EXTERN_TEMPLATES is defined.
#define RECBLOCKS_SYNTHETIC_DEFINITIONS
#include <recblocks/data/synthetic.hpp>

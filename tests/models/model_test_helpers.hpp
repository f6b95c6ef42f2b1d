#pragma once
// Helpers shared by the model tests (tests/models/*.cpp, which also compile together as one unity
// translation unit, so a helper lives here once instead of once per file).
#include <recblocks/data/dataset.hpp>
#include <recblocks/loss/bce_with_logits.hpp>

namespace recblocks_test {

/// The BCE-with-logits loss of model `m` on batch `b` (labels as targets), recorded on `t`.
template <class M>
recblocks::var<typename M::scalar_type> bce(recblocks::tape<typename M::scalar_type>& t, const M& m,
                                            const recblocks::data::batch<typename M::scalar_type>& b) {
  return recblocks::loss::bce_with_logits(t, m(t, b), t.view(b.labels.data(), b.size, 1));
}

}  // namespace recblocks_test

// libFuzzer target: hostile item-tree JSON (retrieval::item_tree<float>::from_json).
//
// Mode by the first input byte: 0, the rest is a whole JSON document; 1, the rest (JSON, or a string
// when it is not JSON) replaces one field of a valid tree's JSON, picked by the second byte (dim,
// options, node links and counts, item ids, leaves, vectors). The loader must either succeed -- then
// the tree passes check_invariants and answers a search -- or throw a recblocks::error; a crash, a
// sanitizer report, std::bad_alloc or an allocation beyond -rss_limit_mb is a bug.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <recblocks/core/rng.hpp>
#include <recblocks/retrieval/centroid_policy.hpp>
#include <recblocks/retrieval/item_tree.hpp>

using namespace recblocks;
namespace rt = recblocks::retrieval;
using tree = rt::item_tree<float>;

namespace {

nlohmann::json valid_tree() {
  rng g(3);
  matrix<float> x(24, 3);
  g.fill_normal(x, 0.0, 1.0);
  tree t(3, {5, 0, 3, 5, 7});
  t.build(x);
  return t.to_json();
}

const char* const paths[] = {"/dim",           "/options/max_leaf_size", "/options/branching", "/options/seed",
                             "/nodes/0",       "/nodes/1/parent",        "/nodes/1/children",  "/nodes/0/children",
                             "/nodes/1/count", "/nodes/1/kind",          "/nodes",             "/items",
                             "/items/0/id",    "/items/0/leaf",          "/items/0/vector",    "/items/0/vector/0",
                             "/items/0/path",  "/version",               "/format",            "/items/1"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const nlohmann::json good = valid_tree();
  if (size < 2) return 0;
  nlohmann::json j;
  if (data[0] % 2 == 0) {
    j = nlohmann::json::parse(data + 1, data + size, nullptr, false);
    if (j.is_discarded()) return 0;
  } else {
    const std::string text(reinterpret_cast<const char*>(data + 2), size - 2);
    nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
    if (value.is_discarded()) value = text;
    j = good;
    try {
      j[nlohmann::json::json_pointer(paths[data[1] % (sizeof(paths) / sizeof(paths[0]))])] = value;
    } catch (const nlohmann::json::exception&) {
      return 0;
    }
  }
  try {
    const tree t = tree::from_json(j);
    t.check_invariants();
    if (t.size() > 0) {
      rt::tree_query<float> q;
      q.embedding = vector<float>::Ones(t.dim());
      rt::tree_search_options o;
      o.k = 3;
      (void)t.search(q, rt::centroid_policy{}, o);
    }
  } catch (const recblocks::error&) {
  }
  return 0;
}

#pragma once
/// \file hnsw_index.hpp
/// Approximate nearest-neighbour index on hnswlib (HNSW graph), target `recblocks::hnsw`.
///
/// Metrics and the distance reported for a query q and an item x (smaller is closer):
///
///     l2             ||q - x||^2                      (squared Euclidean)
///     inner_product  1 - q . x                        (maximum inner product; not a metric)
///     cosine         1 - q . x / (||q|| ||x||)        (vectors are L2-normalized on add and search)
///
/// - **Ids:** any `index_t >= 0`; adding an id that exists replaces its vector (and undeletes it).
/// - **Search:** `k` results closest first, beam width `ef` given *per query* (max(ef, k) is used;
///   `ef = 0` takes `hnsw_options::ef_search`). No shared mutable search state, so concurrent searches
///   with different `ef` are safe. Requires 1 <= k <= size() (live elements): a larger k is a
///   `value_error`, never a silent clamp. Deleted elements are skipped; in a graph with many
///   deletions a query may find fewer than k live elements: the batch form then fills id -1 and
///   distance +inf.
/// - **Deletion:** `mark_deleted(id)` hides an element from results (hnswlib 0.6.2 has no
///   replace-deleted: the slot stays allocated).
/// - **Files:** `save(path)` writes a 72-byte header of our own (magic `RBHNSW\0\0`, format version,
///   endianness tag, metric, scalar size, dimension, element count, deleted count, M, ef_construction,
///   payload size) followed by hnswlib's own file. `load(path)` checks every header field, then
///   checks hnswlib's header fields against them and walks its per-element link-list sizes against
///   the file size *before* handing the payload to hnswlib (0.6.2 reads garbage on a truncated file),
///   and after loading checks every graph link (< element count, list sizes <= M / 2M). A truncated,
///   corrupted or mismatched file is an `io_error`; loading never reads past the end of the file.
///   The file is endian-specific (hnswlib writes host order); a file from the other endianness is
///   refused with a clear message. `save` writes to `path.tmp` and renames.
/// - **Capacity:** grows by doubling (hnswlib `resizeIndex`, under the exclusive lock).
///
/// Thread-safety: hnswlib cannot insert and search at the same time, so the index holds a
/// `std::shared_mutex`: `search`, `contains`, `size`, `save` take it shared (parallel searches run
/// concurrently); `add`, `mark_deleted`, `load` take it exclusively. One object may thus be shared by
/// many threads. Errors: `shape_error` (dimension mismatch), `value_error` (NaN/Inf, bad k or ef, bad
/// id, zero vector under cosine, unknown id), `io_error` (files).
/// Complexity: add O(ef_construction log n) distance evaluations, search O(ef log n) (empirical).
/// Memory: n (4 d + 8 M + 8 + 4) bytes plus upper layers.

#include <Eigen/Core>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "detail/hnswlib_include.hpp"

namespace recblocks::retrieval {

/// Distance of an `hnsw_index` (values are stored in files; do not renumber).
enum class hnsw_metric : std::uint32_t { l2 = 1, inner_product = 2, cosine = 3 };

/// Construction options of an `hnsw_index`.
struct hnsw_options {
  index_t dim = 0;                        ///< vector dimension (>= 1)
  hnsw_metric metric = hnsw_metric::l2;   ///< distance
  index_t m = 16;                         ///< graph degree M (2..10000); level 0 keeps 2M links
  index_t ef_construction = 200;          ///< beam width while inserting (>= 1)
  index_t ef_search = 64;                 ///< default beam width of `search` (>= 1)
  index_t capacity = 1024;                ///< initial capacity (grows by doubling)
  std::uint64_t seed = 100;               ///< level generator seed
};

/// One search result: the item id and its distance to the query (see the file comment).
struct hnsw_hit {
  index_t id;
  float distance;
};

/// Ids and distances of a batch of queries, `[queries, k]` each, closest first.
struct hnsw_batch_result {
  matrix<index_t> ids;
  matrix<float> distances;
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsubobject-linkage"

/// HNSW index of float vectors with per-query ef, deletion and validated files.
class hnsw_index {
 public:
  explicit hnsw_index(hnsw_options options);

  /// Loads an index written by `save`.
  static hnsw_index load(const std::string& path);

  /// Adds (or replaces) one vector of `dim()` floats under `id`.
  void add(index_t id, std::span<const float> vec);
  /// Adds the rows of `rows` [n, dim] under `ids` [n].
  void add(const Eigen::Ref<const matrix<float>>& rows, std::span<const index_t> ids);
  /// Adds the rows of `rows` under ids `first_id, first_id + 1, ...`.
  void add(const Eigen::Ref<const matrix<float>>& rows, index_t first_id = 0);

  /// Hides `id` from results. `value_error` if `id` was never added or is already deleted.
  void mark_deleted(index_t id);

  /// The `k` nearest live items of `query` (`dim()` floats), closest first.
  std::vector<hnsw_hit> search(std::span<const float> query, index_t k, index_t ef = 0) const;
  /// Batch form: row i holds the results of `queries.row(i)`.
  hnsw_batch_result search(const Eigen::Ref<const matrix<float>>& queries, index_t k, index_t ef = 0) const;

  /// True when `id` is present and not deleted.
  bool contains(index_t id) const;
  /// Live (non-deleted) elements.
  index_t size() const;
  /// Stored elements including deleted ones.
  index_t stored() const;
  index_t dim() const { return options_.dim; }
  hnsw_metric metric() const { return options_.metric; }
  const hnsw_options& options() const { return options_; }

  /// Writes the index (see the file comment).
  void save(const std::string& path) const;

  hnsw_index(hnsw_index&&) noexcept;
  hnsw_index& operator=(hnsw_index&&) noexcept;
  ~hnsw_index();

 private:
  struct file_header;
  void check_vector(const char* where, std::span<const float> v) const;
  const float* prepare(std::span<const float> v, std::vector<float>& buf) const;
  void add_locked(index_t id, const float* v);
  std::vector<hnsw_hit> search_locked(const float* q, index_t k, index_t ef) const;
  void make_space();

  hnsw_options options_;
  std::unique_ptr<hnswlib::SpaceInterface<float>> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph_;
  mutable std::unique_ptr<std::shared_mutex> mutex_ = std::make_unique<std::shared_mutex>();
};

#pragma GCC diagnostic pop

// ---------------------------------------------------------------------------------------------
// implementation

namespace detail {
constexpr char hnsw_magic[8] = {'R', 'B', 'H', 'N', 'S', 'W', '\0', '\0'};
constexpr std::uint32_t hnsw_format_version = 1;
constexpr std::uint32_t hnsw_endian_tag = 0x01020304u;
constexpr std::size_t hnsw_lib_header_bytes = 6 * 8 + 4 + 4 + 3 * 8 + 8 + 8;  // hnswlib 0.6.2 saveIndex header

inline std::string metric_name(std::uint32_t m) {
  switch (m) {
    case 1: return "l2";
    case 2: return "inner_product";
    case 3: return "cosine";
    default: return "unknown(" + std::to_string(m) + ")";
  }
}
}  // namespace detail

struct hnsw_index::file_header {
  char magic[8];
  std::uint32_t version;
  std::uint32_t endian;
  std::uint32_t metric;
  std::uint32_t scalar_bytes;
  std::uint64_t dim;
  std::uint64_t count;
  std::uint64_t deleted;
  std::uint64_t m;
  std::uint64_t ef_construction;
  std::uint64_t payload_bytes;
};
static_assert(sizeof(std::uint64_t) == 8 && sizeof(hnswlib::labeltype) == 8 && sizeof(hnswlib::tableint) == 4);

inline hnsw_index::hnsw_index(hnsw_options options) : options_(options) {
  if (options_.dim < 1) throw value_error("hnsw_index: dim must be >= 1 (got " + std::to_string(options_.dim) + ")");
  if (options_.m < 2 || options_.m > 10000)
    throw value_error("hnsw_index: m must be in [2, 10000] (got " + std::to_string(options_.m) + ")");
  if (options_.ef_construction < 1 || options_.ef_search < 1)
    throw value_error("hnsw_index: ef_construction and ef_search must be >= 1");
  if (options_.metric != hnsw_metric::l2 && options_.metric != hnsw_metric::inner_product &&
      options_.metric != hnsw_metric::cosine)
    throw value_error("hnsw_index: unknown metric " + std::to_string(static_cast<std::uint32_t>(options_.metric)));
  if (options_.capacity < 1) options_.capacity = 1;
  make_space();
  graph_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(
      space_.get(), static_cast<std::size_t>(options_.capacity), static_cast<std::size_t>(options_.m),
      static_cast<std::size_t>(options_.ef_construction), static_cast<std::size_t>(options_.seed));
}

inline hnsw_index::hnsw_index(hnsw_index&&) noexcept = default;
inline hnsw_index& hnsw_index::operator=(hnsw_index&&) noexcept = default;
inline hnsw_index::~hnsw_index() {
  graph_.reset();  // the graph refers to the space
  space_.reset();
}

inline void hnsw_index::make_space() {
  const auto d = static_cast<std::size_t>(options_.dim);
  if (options_.metric == hnsw_metric::l2)
    space_ = std::make_unique<hnswlib::L2Space>(d);
  else
    space_ = std::make_unique<hnswlib::InnerProductSpace>(d);
}

inline void hnsw_index::check_vector(const char* where, std::span<const float> v) const {
  if (static_cast<index_t>(v.size()) != options_.dim)
    throw shape_error(std::string("hnsw_index::") + where + ": vector has dimension " + std::to_string(v.size()) +
                      ", index has " + std::to_string(options_.dim));
  for (float x : v)
    if (!std::isfinite(x)) throw value_error(std::string("hnsw_index::") + where + ": vector contains NaN or Inf");
}

inline const float* hnsw_index::prepare(std::span<const float> v, std::vector<float>& buf) const {
  if (options_.metric != hnsw_metric::cosine) return v.data();
  double nn = 0.0;
  for (float x : v) nn += static_cast<double>(x) * x;
  if (!(nn > 0.0)) throw value_error("hnsw_index: zero vector has no cosine direction");
  const float inv = static_cast<float>(1.0 / std::sqrt(nn));
  buf.resize(v.size());
  for (std::size_t j = 0; j < v.size(); ++j) buf[j] = v[j] * inv;
  return buf.data();
}

inline void hnsw_index::add_locked(index_t id, const float* v) {
  if (id < 0) throw value_error("hnsw_index::add: id must be >= 0 (got " + std::to_string(id) + ")");
  auto& g = *graph_;
  if (g.cur_element_count >= g.max_elements_ && !g.label_lookup_.count(static_cast<hnswlib::labeltype>(id)))
    g.resizeIndex(std::max<std::size_t>(2 * g.max_elements_, 16));
  g.addPoint(v, static_cast<hnswlib::labeltype>(id));
}

inline void hnsw_index::add(index_t id, std::span<const float> vec) {
  check_vector("add", vec);
  std::vector<float> buf;
  const float* v = prepare(vec, buf);
  std::unique_lock lock(*mutex_);
  add_locked(id, v);
}

inline void hnsw_index::add(const Eigen::Ref<const matrix<float>>& rows, std::span<const index_t> ids) {
  if (static_cast<index_t>(ids.size()) != rows.rows())
    throw shape_error("hnsw_index::add: " + std::to_string(rows.rows()) + " rows but " + std::to_string(ids.size()) +
                      " ids");
  if (rows.cols() != options_.dim)
    throw shape_error("hnsw_index::add: rows have dimension " + std::to_string(rows.cols()) + ", index has " +
                      std::to_string(options_.dim));
  for (index_t i = 0; i < rows.rows(); ++i) {
    check_vector("add", std::span<const float>(rows.data() + i * rows.outerStride(), rows.cols()));
    if (ids[i] < 0) throw value_error("hnsw_index::add: id must be >= 0 (got " + std::to_string(ids[i]) + ")");
  }
  std::unique_lock lock(*mutex_);
  auto& g = *graph_;
  const std::size_t need = g.cur_element_count + static_cast<std::size_t>(rows.rows());
  if (need > g.max_elements_) g.resizeIndex(std::max(need, 2 * g.max_elements_));
  std::vector<float> buf;
  for (index_t i = 0; i < rows.rows(); ++i)
    add_locked(ids[i], prepare(std::span<const float>(rows.data() + i * rows.outerStride(), rows.cols()), buf));
}

inline void hnsw_index::add(const Eigen::Ref<const matrix<float>>& rows, index_t first_id) {
  std::vector<index_t> ids(static_cast<std::size_t>(rows.rows()));
  for (index_t i = 0; i < rows.rows(); ++i) ids[i] = first_id + i;
  add(rows, ids);
}

inline void hnsw_index::mark_deleted(index_t id) {
  std::unique_lock lock(*mutex_);
  auto& g = *graph_;
  auto it = id < 0 ? g.label_lookup_.end() : g.label_lookup_.find(static_cast<hnswlib::labeltype>(id));
  if (it == g.label_lookup_.end())
    throw value_error("hnsw_index::mark_deleted: unknown id " + std::to_string(id));
  if (g.isMarkedDeleted(it->second))
    throw value_error("hnsw_index::mark_deleted: id " + std::to_string(id) + " is already deleted");
  g.markDeletedInternal(it->second);
}

inline bool hnsw_index::contains(index_t id) const {
  std::shared_lock lock(*mutex_);
  const auto& g = *graph_;
  if (id < 0) return false;
  auto it = g.label_lookup_.find(static_cast<hnswlib::labeltype>(id));
  return it != g.label_lookup_.end() && !g.isMarkedDeleted(it->second);
}

inline index_t hnsw_index::size() const {
  std::shared_lock lock(*mutex_);
  return static_cast<index_t>(graph_->cur_element_count - graph_->num_deleted_);
}

inline index_t hnsw_index::stored() const {
  std::shared_lock lock(*mutex_);
  return static_cast<index_t>(graph_->cur_element_count);
}

// hnswlib's searchKnn with the beam width as an argument (0.6.2 reads the shared member ef_) and
// without its atomic metric counters.
inline std::vector<hnsw_hit> hnsw_index::search_locked(const float* q, index_t k, index_t ef) const {
  const auto& g = *graph_;
  using tableint = hnswlib::tableint;
  std::vector<hnsw_hit> out;
  if (g.cur_element_count == 0) return out;
  tableint cur = g.enterpoint_node_;
  float curdist = g.fstdistfunc_(q, g.getDataByInternalId(cur), g.dist_func_param_);
  for (int level = g.maxlevel_; level > 0; level--) {
    bool changed = true;
    while (changed) {
      changed = false;
      auto* data = reinterpret_cast<unsigned int*>(g.get_linklist(cur, level));
      const int size = g.getListCount(data);
      auto* datal = reinterpret_cast<tableint*>(data + 1);
      for (int i = 0; i < size; i++) {
        const tableint cand = datal[i];
        const float d = g.fstdistfunc_(q, g.getDataByInternalId(cand), g.dist_func_param_);
        if (d < curdist) {
          curdist = d;
          cur = cand;
          changed = true;
        }
      }
    }
  }
  const std::size_t beam = std::max(static_cast<std::size_t>(ef), static_cast<std::size_t>(k));
  auto top = g.num_deleted_ ? g.searchBaseLayerST<true, false>(cur, q, beam)
                            : g.searchBaseLayerST<false, false>(cur, q, beam);
  while (top.size() > static_cast<std::size_t>(k)) top.pop();
  out.resize(top.size());
  for (std::size_t i = top.size(); i-- > 0;) {
    out[i] = hnsw_hit{static_cast<index_t>(g.getExternalLabel(top.top().second)), top.top().first};
    top.pop();
  }
  return out;
}

inline std::vector<hnsw_hit> hnsw_index::search(std::span<const float> query, index_t k, index_t ef) const {
  check_vector("search", query);
  if (ef < 0) throw value_error("hnsw_index::search: ef must be >= 0 (got " + std::to_string(ef) + ")");
  std::vector<float> buf;
  const float* q = prepare(query, buf);
  std::shared_lock lock(*mutex_);
  const index_t live = static_cast<index_t>(graph_->cur_element_count - graph_->num_deleted_);
  if (k < 1 || k > live)
    throw value_error("hnsw_index::search: k = " + std::to_string(k) + " must be in [1, size() = " +
                      std::to_string(live) + "]");
  return search_locked(q, k, ef == 0 ? options_.ef_search : ef);
}

inline hnsw_batch_result hnsw_index::search(const Eigen::Ref<const matrix<float>>& queries, index_t k,
                                            index_t ef) const {
  if (queries.cols() != options_.dim)
    throw shape_error("hnsw_index::search: queries have dimension " + std::to_string(queries.cols()) +
                      ", index has " + std::to_string(options_.dim));
  if (ef < 0) throw value_error("hnsw_index::search: ef must be >= 0 (got " + std::to_string(ef) + ")");
  for (index_t i = 0; i < queries.rows(); ++i)
    check_vector("search", std::span<const float>(queries.data() + i * queries.outerStride(), queries.cols()));
  std::shared_lock lock(*mutex_);
  const index_t live = static_cast<index_t>(graph_->cur_element_count - graph_->num_deleted_);
  if (k < 1 || k > live)
    throw value_error("hnsw_index::search: k = " + std::to_string(k) + " must be in [1, size() = " +
                      std::to_string(live) + "]");
  hnsw_batch_result r{matrix<index_t>::Constant(queries.rows(), k, -1),
                      matrix<float>::Constant(queries.rows(), k, std::numeric_limits<float>::infinity())};
  std::vector<float> buf;
  for (index_t i = 0; i < queries.rows(); ++i) {
    const float* q = prepare(std::span<const float>(queries.data() + i * queries.outerStride(), queries.cols()), buf);
    const auto hits = search_locked(q, k, ef == 0 ? options_.ef_search : ef);
    for (std::size_t j = 0; j < hits.size(); ++j) {
      r.ids(i, static_cast<index_t>(j)) = hits[j].id;
      r.distances(i, static_cast<index_t>(j)) = hits[j].distance;
    }
  }
  return r;
}

inline void hnsw_index::save(const std::string& path) const {
  namespace fs = std::filesystem;
  std::shared_lock lock(*mutex_);
  const std::string blob_path = path + ".hnswlib.tmp";
  const std::string tmp_path = path + ".tmp";
  try {
    graph_->saveIndex(blob_path);
  } catch (const std::exception& e) {
    throw io_error("hnsw_index::save: hnswlib could not write " + blob_path + ": " + e.what());
  }
  std::error_code ec;
  const auto blob_size = fs::file_size(blob_path, ec);
  if (ec) throw io_error("hnsw_index::save: cannot write " + blob_path);
  file_header h{};
  std::memcpy(h.magic, detail::hnsw_magic, 8);
  h.version = detail::hnsw_format_version;
  h.endian = detail::hnsw_endian_tag;
  h.metric = static_cast<std::uint32_t>(options_.metric);
  h.scalar_bytes = sizeof(float);
  h.dim = static_cast<std::uint64_t>(options_.dim);
  h.count = graph_->cur_element_count;
  h.deleted = graph_->num_deleted_;
  h.m = graph_->M_;
  h.ef_construction = graph_->ef_construction_;
  h.payload_bytes = blob_size;
  {
    std::ifstream in(blob_path, std::ios::binary);
    std::ofstream out(tmp_path, std::ios::binary | std::ios::trunc);
    if (!in || !out) {
      fs::remove(blob_path, ec);
      throw io_error("hnsw_index::save: cannot write " + tmp_path);
    }
    out.write(reinterpret_cast<const char*>(&h), sizeof(h));
    out << in.rdbuf();
    out.flush();
    if (!out) {
      fs::remove(blob_path, ec);
      fs::remove(tmp_path, ec);
      throw io_error("hnsw_index::save: write failed for " + tmp_path);
    }
  }
  fs::remove(blob_path, ec);
  fs::rename(tmp_path, path, ec);
  if (ec) throw io_error("hnsw_index::save: cannot rename " + tmp_path + " to " + path + ": " + ec.message());
}

inline hnsw_index hnsw_index::load(const std::string& path) {
  namespace fs = std::filesystem;
  const auto fail = [&path](const std::string& why) { return io_error("hnsw_index::load(" + path + "): " + why); };
  std::ifstream in(path, std::ios::binary);
  if (!in) throw fail("cannot open file");
  std::error_code ec;
  const std::uint64_t file_size = fs::file_size(path, ec);
  if (ec) throw fail("cannot stat file");
  if (file_size < sizeof(file_header)) throw fail("file too short for the header (" + std::to_string(file_size) + " bytes)");
  file_header h{};
  in.read(reinterpret_cast<char*>(&h), sizeof(h));
  if (!in) throw fail("cannot read the header");
  if (std::memcmp(h.magic, detail::hnsw_magic, 8) != 0) throw fail("bad magic: not a recblocks hnsw index file");
  if (h.endian == 0x04030201u) throw fail("file was written on a machine of the other byte order");
  if (h.endian != detail::hnsw_endian_tag) throw fail("bad endianness tag");
  if (h.version != detail::hnsw_format_version)
    throw fail("unsupported format version " + std::to_string(h.version) + " (expected " +
               std::to_string(detail::hnsw_format_version) + ")");
  if (h.metric < 1 || h.metric > 3) throw fail("unknown metric " + detail::metric_name(h.metric));
  if (h.scalar_bytes != sizeof(float)) throw fail("scalar size " + std::to_string(h.scalar_bytes) + " is not 4");
  if (h.dim < 1 || h.dim > (1u << 24)) throw fail("bad dimension " + std::to_string(h.dim));
  if (h.m < 2 || h.m > 10000) throw fail("bad M " + std::to_string(h.m));
  if (h.deleted > h.count) throw fail("deleted count exceeds element count");
  if (h.payload_bytes != file_size - sizeof(file_header))
    throw fail("payload size " + std::to_string(h.payload_bytes) + " does not match the file (" +
               std::to_string(file_size - sizeof(file_header)) + " bytes after the header): truncated or extended");
  if (h.payload_bytes < detail::hnsw_lib_header_bytes) throw fail("payload too short for hnswlib's header");

  // hnswlib 0.6.2 header, validated against ours
  struct {
    std::size_t offset_level0, max_elements, count, size_per_element, label_offset, offset_data;
    int maxlevel;
    unsigned int enterpoint;
    std::size_t max_m, max_m0, m;
    double mult;
    std::size_t ef_construction;
  } lh{};
  auto rd = [&in](auto& v) { in.read(reinterpret_cast<char*>(&v), sizeof(v)); };
  rd(lh.offset_level0), rd(lh.max_elements), rd(lh.count), rd(lh.size_per_element), rd(lh.label_offset);
  rd(lh.offset_data), rd(lh.maxlevel), rd(lh.enterpoint), rd(lh.max_m), rd(lh.max_m0), rd(lh.m), rd(lh.mult);
  rd(lh.ef_construction);
  if (!in) throw fail("cannot read hnswlib's header");
  const std::size_t links0 = 2 * h.m * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
  const std::size_t links_upper = h.m * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
  const std::size_t data_size = h.dim * sizeof(float);
  if (lh.offset_level0 != 0 || lh.count != h.count || lh.max_elements < lh.count || lh.m != h.m ||
      lh.max_m != h.m || lh.max_m0 != 2 * h.m || lh.ef_construction != h.ef_construction ||
      lh.offset_data != links0 || lh.label_offset != links0 + data_size ||
      lh.size_per_element != links0 + data_size + sizeof(hnswlib::labeltype) || !std::isfinite(lh.mult))
    throw fail("hnswlib header does not match the recblocks header (corrupted file)");
  if (h.count == 0 ? (lh.maxlevel != -1) : (lh.maxlevel < 0 || lh.maxlevel > 64 || lh.enterpoint >= h.count))
    throw fail("bad entry point or top level in hnswlib's header");
  // level 0 block, then one (u32 size, links) record per element; all must end exactly at EOF
  const std::uint64_t body = detail::hnsw_lib_header_bytes;
  if (h.count > (h.payload_bytes - body) / lh.size_per_element) throw fail("truncated: element data past end of file");
  std::uint64_t pos = body + h.count * lh.size_per_element;
  in.seekg(static_cast<std::streamoff>(sizeof(file_header) + pos));
  for (std::uint64_t i = 0; i < h.count; ++i) {
    if (pos + 4 > h.payload_bytes) throw fail("truncated: link lists past end of file");
    std::uint32_t ls = 0;
    rd(ls);
    if (!in) throw fail("truncated: cannot read a link-list size");
    pos += 4;
    if (ls % links_upper != 0 || ls / links_upper > static_cast<std::uint64_t>(lh.maxlevel))
      throw fail("corrupted link-list size of element " + std::to_string(i));
    if (ls > h.payload_bytes - pos) throw fail("truncated: link list of element " + std::to_string(i));
    pos += ls;
    in.seekg(static_cast<std::streamoff>(ls), std::ios::cur);
  }
  if (pos != h.payload_bytes) throw fail("trailing bytes after the link lists (corrupted file)");
  in.close();

  // hand the validated payload to hnswlib through a temporary file (it reads from a path)
  static std::atomic<unsigned> counter{0};
  const fs::path tmp = fs::temp_directory_path() /
                       ("recblocks-hnsw-" + std::to_string(std::random_device{}()) + "-" + std::to_string(counter++));
  {
    std::ifstream src(path, std::ios::binary);
    std::ofstream dst(tmp, std::ios::binary | std::ios::trunc);
    if (!src || !dst) throw fail("cannot create temporary file " + tmp.string());
    src.seekg(sizeof(file_header));
    dst << src.rdbuf();
    dst.flush();
    if (!dst) {
      fs::remove(tmp, ec);
      throw fail("cannot write temporary file " + tmp.string());
    }
  }
  hnsw_options o;
  o.dim = static_cast<index_t>(h.dim);
  o.metric = static_cast<hnsw_metric>(h.metric);
  o.m = static_cast<index_t>(h.m);
  o.ef_construction = static_cast<index_t>(h.ef_construction);
  o.capacity = 1;
  hnsw_index idx(o);
  try {
    // capacity = element count: the file's max_elements field is never used to size an allocation
    idx.graph_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(idx.space_.get(), tmp.string(), false,
                                                                 std::max<std::size_t>(h.count, 1));
  } catch (const std::exception& e) {
    fs::remove(tmp, ec);
    throw fail(std::string("hnswlib rejected the payload: ") + e.what());
  }
  fs::remove(tmp, ec);
  idx.options_.capacity = static_cast<index_t>(idx.graph_->max_elements_);
  // graph integrity: every link in range, list sizes within M / 2M, labels unique, values finite
  auto& g = *idx.graph_;
  // hnswlib 0.6.2's loading constructor leaves num_deleted_ uninitialized before counting: recount
  std::size_t deleted = 0;
  for (std::size_t i = 0; i < g.cur_element_count; ++i) deleted += g.isMarkedDeleted(static_cast<hnswlib::tableint>(i));
  g.num_deleted_ = deleted;
  if (g.label_lookup_.size() != g.cur_element_count) throw fail("duplicate ids in the payload");
  for (const auto& kv : g.label_lookup_)
    if (kv.first > static_cast<hnswlib::labeltype>(std::numeric_limits<index_t>::max()))
      throw fail("id out of range in the payload");
  if (g.num_deleted_ != h.deleted) throw fail("deleted count does not match the header");
  for (std::size_t i = 0; i < g.cur_element_count; ++i) {
    const float* v = reinterpret_cast<const float*>(g.getDataByInternalId(static_cast<hnswlib::tableint>(i)));
    for (std::size_t j = 0; j < h.dim; ++j)
      if (!std::isfinite(v[j])) throw fail("non-finite vector value in element " + std::to_string(i));
    for (int level = 0; level <= g.element_levels_[i]; ++level) {
      const auto* ll = g.get_linklist_at_level(static_cast<hnswlib::tableint>(i), level);
      const std::size_t n = g.getListCount(const_cast<hnswlib::linklistsizeint*>(ll));
      if (n > (level == 0 ? g.maxM0_ : g.maxM_)) throw fail("corrupted link count of element " + std::to_string(i));
      const auto* links = reinterpret_cast<const hnswlib::tableint*>(ll + 1);
      for (std::size_t j = 0; j < n; ++j)
        if (links[j] >= g.cur_element_count || g.element_levels_[links[j]] < level)
          throw fail("corrupted link in element " + std::to_string(i));
    }
  }
  if (g.cur_element_count > 0 && g.element_levels_[g.enterpoint_node_] != g.maxlevel_)
    throw fail("entry point level does not match the top level");
  return idx;
}

}  // namespace recblocks::retrieval

#pragma once
/// \file sharded_checkpoint.hpp
/// Checkpoints of data-parallel training with row-sharded tables: one file per rank plus one
/// manifest, committed atomically as a whole; written by N ranks, loadable on M ranks (resharded)
/// and on a single process.
///
///     <dir>/LATEST                       the committed checkpoint's folder name (replaced atomically)
///     <dir>/step-<s>[-<k>]/manifest.json format, ranks, step, scheme, tables (field, parameter,
///                                        vocabulary, dim), every file's size and FNV-1a 64, metadata
///     <dir>/step-<s>/dense.safetensors   rank 0: every replicated parameter and buffer by dotted name
///     <dir>/step-<s>/rank-<r>.safetensors  rank r: per sharded table `<parameter>.ids` (I64 [k, 1],
///                                        global row ids) and `<parameter>.rows` (F32/F64 [k, dim])
///
/// Saving (`save`, collective; ranks share the filesystem): rank 0 creates `<folder>.partial`, every
/// rank writes its file into it (temporary file, fsync, rename), rank 0 gathers their sizes and
/// checksums, writes `dense.safetensors` and the manifest, renames the folder to its final name and
/// only then replaces `LATEST` (temporary file, fsync, rename: the commit). A crash at any instant
/// before that rename leaves `LATEST` naming the previous, complete checkpoint; readers ignore
/// `*.partial` folders and folders `LATEST` does not name; after the commit rank 0 removes them.
///
/// Loading (`restore`, collective, any rank count M): every rank reads `LATEST`, the manifest and
/// the files it needs, checks each file's size and checksum and the tensors' shapes, and keeps the
/// rows it owns under its own sharding (`row_owner_map`, scheme may differ): N -> M resharding.
/// `restore_model` (one process, no MPI) fills a model built as usual (full tables) from every
/// rank file: the checkpoint as a plain model. Both check that every row of every table is present
/// exactly once. Optimizer moments are not saved (as `io::checkpoint`); the step count is.
/// Errors: `io_error` naming the file and tensor (missing, truncated, tampered, mismatched).

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <type_traits>
#include <set>
#include <string>
#include <vector>

#include "../io/checkpoint.hpp"
#include "../io/safetensors.hpp"
#include "../nn/module.hpp"
#include "sharded_table.hpp"

namespace recblocks::dist {

class sharded_checkpoint {
 public:
  static constexpr int format_version = 1;
  static constexpr std::uint64_t max_file_bytes = 1ull << 40;

  /// Writes the trainer's model and shards (collective; see file docs). Returns the folder.
  template <class Trainer>
  static std::filesystem::path save(const std::filesystem::path& dir, Trainer& tr,
                                    const nlohmann::json& metadata = nlohmann::json::object());

  /// Loads the latest checkpoint of `dir` into the trainer's model and shards, any rank count (collective).
  template <class Trainer>
  static void restore(const std::filesystem::path& dir, Trainer& tr);

  /// Loads the latest checkpoint of `dir` into `model` (full tables) in one process, without MPI.
  template <class Model>
  static void restore_model(const std::filesystem::path& dir, Model& model);

  /// The committed checkpoint folder `LATEST` names (`io_error` if none).
  static std::filesystem::path latest(const std::filesystem::path& dir) {
    const std::string name = trim(read_file(dir / "LATEST", 4096));
    if (name.empty() || name.find('/') != std::string::npos || name.find("..") != std::string::npos)
      throw io_error("dist::sharded_checkpoint: '" + (dir / "LATEST").string() + "' does not name a checkpoint folder");
    return dir / name;
  }
  /// The manifest of the latest checkpoint.
  static nlohmann::json manifest(const std::filesystem::path& dir) {
    const auto folder = latest(dir);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(folder / "manifest.json", 64ull << 20));
    } catch (const nlohmann::json::exception& e) {
      throw io_error("dist::sharded_checkpoint: '" + (folder / "manifest.json").string() + "': " + e.what());
    }
    if (!j.is_object() || j.value("format", "") != "recblocks-sharded-checkpoint" || !j.contains("files") ||
        !j.contains("tables") || !j.contains("ranks") || j.value("format_version", 0) > format_version)
      throw io_error("dist::sharded_checkpoint: '" + (folder / "manifest.json").string() + "' is not a sharded checkpoint manifest");
    return j;
  }

 private:
  /// The whole file (at most `max_bytes`); `io_error` otherwise.
  static std::string read_file(const std::filesystem::path& path, std::uint64_t max_bytes) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) throw io_error("dist::sharded_checkpoint: cannot read '" + path.string() + "': " + ec.message());
    if (size > max_bytes) throw io_error("dist::sharded_checkpoint: '" + path.string() + "' is larger than allowed");
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) throw io_error("dist::sharded_checkpoint: cannot open '" + path.string() + "'");
    std::string out(static_cast<std::size_t>(size), '\0');
    const std::size_t got = size ? std::fread(out.data(), 1, out.size(), f) : 0;
    std::fclose(f);
    if (got != out.size()) throw io_error("dist::sharded_checkpoint: '" + path.string() + "' changed size while being read");
    return out;
  }
  /// `bytes` to a temporary file next to `path`, fsync, rename over `path` (POSIX: MPI implies it).
  static void write_atomically(const std::filesystem::path& path, std::string_view bytes) {
    static std::atomic<unsigned> counter{0};
    std::filesystem::path tmp = path;
    tmp += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw io_error("dist::sharded_checkpoint: cannot create '" + tmp.string() + "'");
    bool ok = bytes.empty() || std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    ok = std::fflush(f) == 0 && ok;
    ok = ::fsync(::fileno(f)) == 0 && ok;
    ok = std::fclose(f) == 0 && ok;
    std::error_code ec;
    if (ok) std::filesystem::rename(tmp, path, ec);
    if (!ok || ec) {
      std::filesystem::remove(tmp, ec);
      throw io_error("dist::sharded_checkpoint: cannot write '" + path.string() + "' (disk full?)");
    }
  }
  /// Makes a rename in `dir` durable (fsync of the directory).
  static void sync_directory(const std::filesystem::path& dir) {
    if (std::FILE* f = std::fopen(dir.c_str(), "r")) {
      (void)::fsync(::fileno(f));
      std::fclose(f);
    }
  }
  static std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
    return s;
  }
  /// A file of the checkpoint, size and checksum checked against the manifest.
  static io::safetensors read_checked(const std::filesystem::path& folder, const nlohmann::json& man, const std::string& file) {
    if (!man["files"].contains(file))
      throw io_error("dist::sharded_checkpoint: the manifest in '" + folder.string() + "' lists no file '" + file + "'");
    const auto& rec = man["files"][file];
    const std::string bytes = read_file(folder / file, max_file_bytes);
    if (bytes.size() != rec.value("bytes", std::uint64_t(0)) || io::checkpoint::fnv1a64(bytes) != rec.value("fnv1a64", ""))
      throw io_error("dist::sharded_checkpoint: '" + (folder / file).string() + "' does not match its manifest entry "
                     "(size or checksum): truncated or tampered");
    return io::safetensors::from_bytes(bytes, (folder / file).string());
  }
  template <class T>
  static matrix<T> tensor(const io::safetensors& st, const std::string& name, const std::string& file) {
    if (!st.contains(name)) throw io_error("dist::sharded_checkpoint: '" + file + "' has no tensor '" + name + "'");
    return st.template get<T>(name);
  }
  /// Calls `take(global id, row pointer)` for every stored row of table `parameter`, from every rank file.
  template <class T, class Take>
  static void for_each_row(const std::filesystem::path& folder, const nlohmann::json& man, const std::string& parameter,
                           index_t dim, Take&& take) {
    const int n = man["ranks"].get<int>();
    for (int r = 0; r < n; ++r) {
      const std::string file = "rank-" + std::to_string(r) + ".safetensors";
      const io::safetensors st = read_checked(folder, man, file);
      const matrix<std::int64_t> ids = tensor<std::int64_t>(st, parameter + ".ids", file);
      const matrix<T> rows = tensor<T>(st, parameter + ".rows", file);
      if (rows.rows() != ids.rows() || rows.cols() != dim || ids.cols() != 1)
        throw io_error("dist::sharded_checkpoint: '" + file + "': table '" + parameter + "' has " +
                       shape_string(ids.rows(), ids.cols()) + " ids and " + shape_string(rows.rows(), rows.cols()) +
                       " rows, expected [k, 1] and [k, " + std::to_string(dim) + "]");
      for (index_t k = 0; k < ids.rows(); ++k) take(index_t(ids(k, 0)), rows.row(k).data());
    }
  }
  /// A whole table `p` (a model's parameter `[vocabulary, dim]`) from every rank file, each row once.
  template <class T>
  static void fill_full(const std::filesystem::path& folder, const nlohmann::json& man, param<T>& p, const std::string& name) {
    const nlohmann::json* t = table_entry(man, name);
    if (!t || (*t)["vocabulary"].get<index_t>() != p.rows() || (*t)["dim"].get<index_t>() != p.cols())
      throw io_error("dist::sharded_checkpoint: table '" + name + "' is stored with another shape than the model's " +
                     shape_string(p.rows(), p.cols()));
    matrix<T> full(p.rows(), p.cols());
    std::vector<char> seen(static_cast<std::size_t>(p.rows()), 0);
    for_each_row<T>(folder, man, name, p.cols(), [&](index_t id, const T* src) {
      if (id < 0 || id >= p.rows() || seen[std::size_t(id)]++)
        throw io_error("dist::sharded_checkpoint: table '" + name + "' stores row id " + std::to_string(id) +
                       (id < 0 || id >= p.rows() ? " outside the table" : " twice"));
      std::copy_n(src, p.cols(), full.row(id).data());
    });
    for (std::size_t k = 0; k < seen.size(); ++k)
      if (!seen[k]) throw io_error("dist::sharded_checkpoint: table '" + name + "' lacks row " + std::to_string(k));
    p.value() = std::move(full);
  }
  static const nlohmann::json* table_entry(const nlohmann::json& man, const std::string& parameter) {
    for (const auto& t : man["tables"])
      if (t.value("parameter", "") == parameter) return &t;
    return nullptr;
  }
  /// Replicated parameters and buffers from dense.safetensors into `model`, skipping `skip` names.
  template <class Model>
  static void restore_dense(const std::filesystem::path& folder, const nlohmann::json& man, Model& model,
                            const std::set<std::string>& skip) {
    using T = typename Model::scalar_type;
    const io::safetensors st = read_checked(folder, man, "dense.safetensors");
    std::vector<std::pair<matrix<T>*, matrix<T>>> loaded;
    auto one = [&](const std::string& name, matrix<T>& m) {
      if (skip.count(name)) return;
      matrix<T> v = tensor<T>(st, name, "dense.safetensors");
      if (v.rows() != m.rows() || v.cols() != m.cols())
        throw io_error("dist::sharded_checkpoint: dense.safetensors: '" + name + "' is " + shape_string(v.rows(), v.cols()) +
                       ", the model's is " + shape_string(m.rows(), m.cols()));
      loaded.emplace_back(&m, std::move(v));
    };
    nn::visit_members(model, [&](const std::string& name, param<T>& p) { one(name, p.value()); },
                      [&](const std::string& name, matrix<T>& b) { one(name, b); });
    for (auto& [dst, v] : loaded) *dst = std::move(v);  // all or nothing
  }
};

template <class Trainer>
std::filesystem::path sharded_checkpoint::save(const std::filesystem::path& dir, Trainer& tr, const nlohmann::json& metadata) {
  using T = typename std::remove_reference_t<decltype(tr.model())>::scalar_type;
  auto& comm = tr.comm();
  namespace fs = std::filesystem;
  // rank 0 picks a fresh folder name and creates <name>.partial; everyone learns the name
  std::string name;
  if (comm.rank() == 0) {
    fs::create_directories(dir);
    char buf[32];
    std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(tr.steps()));
    name = buf;
    for (int k = 1; fs::exists(dir / name); ++k) name = std::string(buf) + "-" + std::to_string(k);
    std::error_code ec;
    fs::remove_all(dir / (name + ".partial"), ec);
    fs::create_directories(dir / (name + ".partial"));
  }
  std::vector<std::int64_t> len{std::int64_t(name.size())};
  comm.broadcast(std::span<std::int64_t>(len), 0, "checkpoint folder name length");
  name.resize(static_cast<std::size_t>(len[0]));
  comm.broadcast(std::span<char>(name.data(), name.size()), 0, "checkpoint folder name");
  const fs::path partial = dir / (name + ".partial");
  // every rank: its shard rows with their global ids
  io::safetensors mine;
  for (const auto& s : tr.sharded_tables()) {
    const auto& m = s->owners();
    matrix<std::int64_t> ids(s->shard().rows(), 1);
    for (index_t k = 0; k < ids.rows(); ++k) ids(k, 0) = m.global(comm.rank(), k);
    mine.add<std::int64_t>(s->parameter_name() + ".ids", ids);
    mine.add<T>(s->parameter_name() + ".rows", s->shard().value());
  }
  const std::string file = "rank-" + std::to_string(comm.rank()) + ".safetensors";
  const std::string bytes = mine.to_bytes();
  write_atomically(partial / file, bytes);
  const std::string record = nlohmann::json{{"file", file}, {"bytes", bytes.size()}, {"fnv1a64", io::checkpoint::fnv1a64(bytes)}}.dump();
  const auto records = comm.allgatherv(std::span<const char>(record.data(), record.size()), "checkpoint file records");
  if (comm.rank() == 0) {
    nlohmann::json files = nlohmann::json::object();
    for (const auto& r : records) {
      const auto j = nlohmann::json::parse(std::string(r.begin(), r.end()));
      files[j["file"].get<std::string>()] = {{"bytes", j["bytes"]}, {"fnv1a64", j["fnv1a64"]}};
    }
    std::set<std::string> staging;
    nlohmann::json tables = nlohmann::json::array();
    for (const auto& s : tr.sharded_tables()) {
      staging.insert(s->parameter_name());
      tables.push_back({{"field", s->field()}, {"parameter", s->parameter_name()}, {"vocabulary", s->owners().vocabulary},
                        {"dim", s->dim()}});
    }
    io::safetensors dense;
    nn::visit_members(tr.model(), [&](const std::string& n, const param<T>& p) { if (!staging.count(n)) dense.add<T>(n, p.value()); },
                      [&](const std::string& n, const matrix<T>& b) { dense.add<T>(n, b); });
    const std::string dense_bytes = dense.to_bytes();
    write_atomically(partial / "dense.safetensors", dense_bytes);
    files["dense.safetensors"] = {{"bytes", dense_bytes.size()}, {"fnv1a64", io::checkpoint::fnv1a64(dense_bytes)}};
    const nlohmann::json man = {{"format", "recblocks-sharded-checkpoint"}, {"format_version", format_version},
                                {"ranks", comm.size()}, {"step", tr.steps()},
                                {"scheme", tr.sharded_tables().empty() ? "none" : to_string(tr.sharded_tables()[0]->owners().scheme)},
                                {"scalar", sizeof(T) == 4 ? "F32" : "F64"}, {"tables", tables}, {"files", files},
                                {"metadata", metadata}};
    write_atomically(partial / "manifest.json", man.dump(1));
    fs::rename(partial, dir / name);
    sync_directory(dir);
    write_atomically(dir / "LATEST", name + "\n");  // the commit
    sync_directory(dir);
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_directory() && e.path().filename() != name && e.path().filename().string().rfind("step-", 0) == 0)
        fs::remove_all(e.path(), ec);
  }
  comm.barrier("checkpoint commit");
  return dir / name;
}

template <class Trainer>
void sharded_checkpoint::restore(const std::filesystem::path& dir, Trainer& tr) {
  using T = typename std::remove_reference_t<decltype(tr.model())>::scalar_type;
  const auto folder = latest(dir);
  const nlohmann::json man = manifest(dir);
  std::set<std::string> sharded_here;
  for (const auto& s : tr.sharded_tables()) sharded_here.insert(s->parameter_name());
  // tables sharded in the checkpoint but replicated here are filled whole below, not from dense
  std::set<std::string> skip = sharded_here;
  for (const auto& t : man["tables"]) skip.insert(t["parameter"].get<std::string>());
  restore_dense(folder, man, tr.model(), skip);
  auto& comm = tr.comm();
  for (auto& s : tr.sharded_tables()) {
    const auto& m = s->owners();
    matrix<T> rows(m.owned_rows(comm.rank()), s->dim());
    std::vector<char> seen(static_cast<std::size_t>(rows.rows()), 0);
    auto take = [&](index_t id, const T* src) {
      if (id < 0 || id >= m.vocabulary)
        throw io_error("dist::sharded_checkpoint: table '" + s->parameter_name() + "' stores row id " + std::to_string(id) +
                       " outside [0, " + std::to_string(m.vocabulary) + ")");
      if (m.owner(id) != comm.rank()) return;
      const index_t k = m.local(id);
      if (seen[std::size_t(k)]++) throw io_error("dist::sharded_checkpoint: table '" + s->parameter_name() + "' stores row " + std::to_string(id) + " twice");
      std::copy_n(src, s->dim(), rows.row(k).data());
    };
    if (const nlohmann::json* t = table_entry(man, s->parameter_name())) {
      if ((*t)["vocabulary"].get<index_t>() != m.vocabulary || (*t)["dim"].get<index_t>() != s->dim())
        throw io_error("dist::sharded_checkpoint: table '" + s->parameter_name() + "' is stored with another shape");
      for_each_row<T>(folder, man, s->parameter_name(), s->dim(), take);
    } else {  // replicated when saved: take the owned rows of the full table
      const matrix<T> full = tensor<T>(read_checked(folder, man, "dense.safetensors"), s->parameter_name(), "dense.safetensors");
      if (full.rows() != m.vocabulary || full.cols() != s->dim())
        throw io_error("dist::sharded_checkpoint: table '" + s->parameter_name() + "' is stored with another shape");
      for (index_t id = 0; id < m.vocabulary; ++id) take(id, full.row(id).data());
    }
    for (std::size_t k = 0; k < seen.size(); ++k)
      if (!seen[k]) throw io_error("dist::sharded_checkpoint: table '" + s->parameter_name() + "' lacks row " + std::to_string(m.global(comm.rank(), index_t(k))));
    s->shard().value() = std::move(rows);
  }
  // tables sharded in the checkpoint but replicated in this trainer
  for (const auto& t : man["tables"]) {
    const std::string p = t["parameter"].get<std::string>();
    if (sharded_here.count(p)) continue;
    for (auto& [name, prm] : nn::named_parameters(tr.model()))
      if (name == p) fill_full<T>(folder, man, *prm, p);
  }
  tr.comm().barrier("checkpoint restore");
}

template <class Model>
void sharded_checkpoint::restore_model(const std::filesystem::path& dir, Model& model) {
  using T = typename Model::scalar_type;
  const auto folder = latest(dir);
  const nlohmann::json man = manifest(dir);
  std::set<std::string> skip;
  for (const auto& t : man["tables"]) skip.insert(t["parameter"].get<std::string>());
  for (const auto& p : skip) {
    bool found = false;
    for (auto& [name, prm] : nn::named_parameters(model))
      if (name == p) found = true;
    if (!found) throw io_error("dist::sharded_checkpoint: the model has no table '" + p + "' stored in '" + folder.string() + "'");
  }
  restore_dense(folder, man, model, skip);
  for (auto& [name, prm] : nn::named_parameters(model))
    if (skip.count(name)) fill_full<T>(folder, man, *prm, name);
}

}  // namespace recblocks::dist

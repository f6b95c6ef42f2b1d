// libFuzzer target: the CSV reader and the CSV -> dataset builder on arbitrary bytes.
//
// The first input byte picks the options (delimiter, quoting, header, error mode); the rest is the
// text. Every cell is read raw and through the typed accessors; then, when the table has a header
// with at least two columns, it is fed to csv_dataset (first column sparse, second dense, last
// column a binary label). Only recblocks::error may escape the library; anything else (a crash,
// a sanitizer report, another exception type) is a finding.
#include <cstddef>
#include <cstdint>
#include <recblocks/data/csv_dataset.hpp>
#include <recblocks/data/csv_reader.hpp>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  using namespace recblocks;
  if (size == 0) return 0;
  const std::uint8_t mode = bytes[0];
  const std::string_view text(reinterpret_cast<const char*>(bytes + 1), size - 1);
  static constexpr char delimiters[] = {',', '\t', '|', ';'};
  data::csv_options o;
  o.delimiter = delimiters[mode & 3];
  o.quote = (mode & 4) ? '\0' : '"';
  o.header = (mode & 8) != 0;
  o.errors = (mode & 16) ? data::on_error::skip : data::on_error::raise;
  try {
    const data::csv_reader r(text, o, "fuzz.csv");
    volatile std::size_t sink = 0;
    for (index_t row = 0; row < r.rows(); ++row) {
      sink = sink + static_cast<std::size_t>(r.line(row));
      for (index_t col = 0; col < r.columns(); ++col) {
        sink = sink + r.cell(row, col).size();
        try { sink = sink + static_cast<std::size_t>(r.number(row, col) != 0); } catch (const error&) {}
        try { sink = sink + static_cast<std::size_t>(r.integer(row, col)); } catch (const error&) {}
        try { sink = sink + static_cast<std::size_t>(r.binary(row, col)); } catch (const error&) {}
      }
    }
    if (r.header().size() >= 2) {
      data::csv_dataset_config c;
      c.sparse = {r.header().front()};
      c.dense = {r.header()[1]};
      c.labels = {{r.header().back()}};
      c.errors = o.errors;
      if (mode & 32) {
        c.scenario_column = r.header().front();
        c.scenario_of = [](std::string_view v) { return static_cast<index_t>(v.size() % 3) - 1; };
        c.drop_unknown_scenarios = true;
        c.compact_scenarios = (mode & 64) != 0;
      }
      data::csv_dataset b(c);
      const auto s = b.load(r, {0.8, 0.1, 0.1}, mode);
      s.train.validate();
      sink = sink + static_cast<std::size_t>(s.train.rows() + s.validation.rows() + s.test.rows());
      (void)b.to_json().dump();
    }
  } catch (const error&) {
  }
  return 0;
}

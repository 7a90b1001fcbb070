// Test helpers for the csv module: in-memory sources with chosen read sizes, a sink that records
// rows, and a one-call Tokenize().
#pragma once

#include <algorithm>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "csv/csv.h"

namespace opendms::csv::test_util {

// A field as the tests write it: U("a") unquoted, Q("a") quoted.
struct F {
  std::string value;
  bool quoted = false;
  bool operator==(const F&) const = default;
};
inline F U(std::string v) { return F{std::move(v), false}; }
inline F Q(std::string v) { return F{std::move(v), true}; }
using Fields = std::vector<F>;

inline void PrintTo(const F& f, std::ostream* os) {
  *os << (f.quoted ? "Q(" : "U(") << ::testing::PrintToString(f.value) << ")";
}

// Everything a sink sees of one row, copied.
struct RecordedRow {
  Fields fields;
  uint64_t line = 0;
  uint64_t byte_offset = 0;
  std::string raw;
  uint64_t next_offset = 0;
  uint64_t next_line = 0;
  bool operator==(const RecordedRow&) const = default;
};

inline void PrintTo(const RecordedRow& r, std::ostream* os) {
  *os << "{line " << r.line << ", offset " << r.byte_offset << ", raw "
      << ::testing::PrintToString(r.raw) << ", next " << r.next_offset << "/" << r.next_line
      << ", fields " << ::testing::PrintToString(r.fields) << "}";
}

struct RecordingSink {
  std::vector<RecordedRow> rows;
  size_t stop_after = SIZE_MAX;  // OnRow returns false on this row (1-based count)

  bool OnRow(std::span<const Field> fields, const RowInfo& info) {
    RecordedRow r;
    for (const Field& f : fields) r.fields.push_back(F{std::string(f.value), f.quoted});
    r.line = info.line;
    r.byte_offset = info.byte_offset;
    r.raw = std::string(info.raw);
    r.next_offset = info.next_offset;
    r.next_line = info.next_line;
    rows.push_back(std::move(r));
    return rows.size() < stop_after;
  }
};

// How a source cuts its input into reads.
struct Chunking {
  enum Kind { kWhole, kFixed, kRandom } kind = kWhole;
  size_t size = 0;    // kFixed: bytes per read; kRandom: largest read
  uint32_t seed = 0;  // kRandom
};

// Delivers `data` in reads of the chosen sizes (never more than the tokenizer asks for).
class StringSource {
 public:
  StringSource(std::string data, Chunking chunking)
      : data_(std::move(data)), chunking_(chunking), rng_(chunking.seed) {}

  Result<size_t> operator()(char* dst, size_t capacity) {
    size_t n = std::min(capacity, data_.size() - pos_);
    if (chunking_.kind == Chunking::kFixed) n = std::min(n, chunking_.size);
    if (chunking_.kind == Chunking::kRandom) {
      n = std::min(n, std::uniform_int_distribution<size_t>(1, chunking_.size)(rng_));
    }
    std::memcpy(dst, data_.data() + pos_, n);
    pos_ += n;
    ++reads_;
    return n;
  }
  size_t reads() const { return reads_; }

 private:
  std::string data_;
  Chunking chunking_;
  std::mt19937 rng_;
  size_t pos_ = 0;
  size_t reads_ = 0;
};

struct TokenizeResult {
  bool ok = false;
  std::vector<RecordedRow> rows;
  CsvError error;
  TokenizeStats stats;
};

inline TokenizeResult Tokenize(const std::string& input, const Dialect& dialect,
                               const TokenizerOptions& options = {}, Chunking chunking = {},
                               size_t stop_after = SIZE_MAX) {
  Tokenizer tokenizer(dialect, options);
  StringSource source(input, chunking);
  RecordingSink sink;
  sink.stop_after = stop_after;
  TokenizeResult result;
  result.ok = tokenizer.Run(source, sink);
  result.rows = std::move(sink.rows);
  result.error = tokenizer.error();
  result.stats = tokenizer.stats();
  return result;
}

inline std::vector<Fields> FieldsOf(const std::vector<RecordedRow>& rows) {
  std::vector<Fields> out;
  for (const RecordedRow& r : rows) out.push_back(r.fields);
  return out;
}

inline Dialect MakeDialect(char delimiter = ',', RowDelimiter rows = RowDelimiter::kLf,
                           bool rfc4180 = true) {
  Dialect d;
  d.delimiter = delimiter;
  d.row_delimiter = rows;
  d.rfc4180 = rfc4180;
  return d;
}

}  // namespace opendms::csv::test_util

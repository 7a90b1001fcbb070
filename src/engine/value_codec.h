// engine (internal): the value codec — one CSV field of a DMS-typed column to the bytes of a
// PostgreSQL COPY stream (binary or text format), and the framing of that stream.
//
// This is the full load's hot path: every field of every row goes through ColumnEncoder. Its
// EncodeTo writes through a raw pointer into room the caller reserved (a CopyBuffer), calls one
// conversion chosen in Make, and builds no message; Encode is the same conversion appending to a
// std::string, with the issue's message. Neither allocates on success, uses iostreams or a
// locale. The accepted text forms and NULL rules are in docs/types.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.h"
#include "engine/table_definition.h"

namespace opendms::engine {

// PostgreSQL COPY's formats: binary is ~1.5–1.8× cheaper for the server to ingest than text or
// CSV (bench/RESULTS.md), so the full load converts on the client; text is the fallback.
enum class CopyFormat { kBinary, kText };

// What is wrong with a source row or value. The row-level kinds (field count, quoting, row
// length) are the CSV reader's; the value-level kinds are ColumnEncoder's.
enum class DataErrorKind {
  kNone,
  kFieldCount,
  kUnterminatedQuote,
  kInvalidQuoting,
  kRowTooLong,
  kInvalidValue,
  kOutOfRange,
  kTruncation,
  kNullNotAllowed,
  kInvalidUtf8,
};

// "NONE", "FIELD_COUNT", "UNTERMINATED_QUOTE", "INVALID_QUOTING", "ROW_TOO_LONG",
// "INVALID_VALUE", "OUT_OF_RANGE", "TRUNCATION", "NULL_NOT_ALLOWED", "INVALID_UTF8".
std::string_view DataErrorKindName(DataErrorKind kind);

// The outcome of encoding one value. `message` says what is wrong with the value, without the
// column, key or line (the caller adds where it is), e.g. "'abc' is not a valid INT4",
// "value 40000 out of range for INT2", "value has 70 characters, ColumnLength is 64".
struct ValueIssue {
  DataErrorKind kind = DataErrorKind::kNone;
  std::string message;
  bool ok() const { return kind == DataErrorKind::kNone; }
};

// Converts one CSV field to one column's COPY representation. Built once per column, then used
// for every row: everything that depends only on the column (the date layout, integer range,
// length limit, output widths) is decided in Make. Immutable; Encode may be called from any
// number of threads at once.
class ColumnEncoder {
 public:
  // InvalidArgument when the column definition is out of range for its type (a NUMERIC without
  // precision, a DATETIME scale above 9, a ColumnDateFormat DMS doesn't allow, …).
  // ParseExternalTableDefinition's output always passes.
  static Result<ColumnEncoder> Make(const ColumnDefinition& column, CopyFormat format);

  // The most bytes Encode or EncodeTo write for a field of `size` bytes (NULL included).
  size_t MaxEncodedSize(size_t size) const {
    return max_fixed_bytes_ + size * max_bytes_per_input_byte_;
  }

  // Appends the value to `out`: binary = int32 big-endian length + bytes (-1 for NULL); text =
  // PostgreSQL text-format COPY escaping (backslash, tab, newline, CR) or \N. `is_null` = the
  // field is NULL in the source (an unquoted empty field); for every type but STRING, WSTRING,
  // CLOB and NCLOB an empty field is NULL as well. On an issue nothing is appended, except
  // kTruncation: then the value cut to ColumnLength characters (bytes for BYTE) IS appended (DMS
  // loads truncated values) and the issue says so. NULL in a non-nullable column →
  // kNullNotAllowed. Allocates only to build an issue's message.
  ValueIssue Encode(std::string_view text, bool is_null, std::string& out) const;

  // Encode for hot loops: writes the same bytes at `out`, which must have room for
  // MaxEncodedSize(text.size()) bytes, and moves `out` past them; returns the issue's kind only
  // (kNone on success), building no message. Conversions are deterministic: Encode of the same
  // field returns the same kind with its message.
  DataErrorKind EncodeTo(std::string_view text, bool is_null, char*& out) const {
    const EncodeResult r = encode_(*this, text, is_null, out, nullptr);
    out = r.end;
    return r.kind;
  }

  const ColumnDefinition& column() const { return column_; }
  CopyFormat format() const { return format_; }

 private:
  // How Encode treats the field; one per group of DMS types sharing a conversion.
  enum class Kind {
    kInt16,         // INT1, INT2, UINT1 → SMALLINT
    kInt32,         // INT4, UINT2 → INTEGER
    kInt64,         // INT8, UINT4, UINT8 → BIGINT
    kNumeric,       // NUMERIC(p,s)
    kFloat4,        // REAL4
    kFloat8,        // REAL8
    kBoolean,       // BOOLEAN
    kDate,          // DATE
    kTime,          // TIME
    kTimestamp,     // DATETIME scale 0–6
    kDateTimeText,  // DATETIME scale 7–9 → VARCHAR(37)
    kText,          // STRING, WSTRING, CLOB, NCLOB
    kBytes,         // BYTE, BLOB
  };

  // Where the written bytes end, and the issue's kind.
  struct EncodeResult {
    char* end;
    DataErrorKind kind;
  };
  // One conversion, specialised for a Kind and a CopyFormat (value_codec.cc): writes at `out` and
  // sets `*message` on an issue when `message` is not null.
  using EncodeFn = EncodeResult (*)(const ColumnEncoder& e, std::string_view text, bool is_null,
                                    char* out, std::string* message);
  struct Codecs;  // the conversions, in value_codec.cc
  friend struct Codecs;

  ColumnEncoder() = default;

  EncodeFn encode_ = nullptr;
  size_t max_fixed_bytes_ = 0;           // MaxEncodedSize: bytes whatever the input's size…
  size_t max_bytes_per_input_byte_ = 0;  // …plus this many per input byte
  ColumnDefinition column_;
  CopyFormat format_ = CopyFormat::kBinary;
  Kind kind_ = Kind::kText;
  std::string type_label_;  // "INT4", "NUMERIC(12,2)", "DATETIME": for messages
  int64_t min_ = 0;         // integer range of the DMS type
  int64_t max_ = 0;
  int64_t max_length_ = 0;   // characters (text) or bytes (BYTE); 0 = unlimited
  int fraction_digits_ = 6;  // DATETIME/TIME: fraction digits kept (rounded); NUMERIC scale
  DateTimeLayout layout_;
  std::string expected_form_;  // "YYYY-MM-DD", or the ColumnDateFormat: for messages
};

// A growable byte buffer that hot loops write through a raw pointer: Reserve room, write, Commit
// the end. One capacity check per Reserve instead of one per append, and growing never
// zero-fills. Move-only.
class CopyBuffer {
 public:
  CopyBuffer() = default;
  CopyBuffer(CopyBuffer&&) = default;
  CopyBuffer& operator=(CopyBuffer&&) = default;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::string_view view() const { return {data_.get(), size_}; }
  void clear() { size_ = 0; }
  // Drops the bytes past `size` (≤ size()).
  void Truncate(size_t size) { size_ = size; }

  // The end of the data, with room for at least `n` more bytes; valid until the next Reserve or
  // Append. Written bytes become data with Commit.
  char* Reserve(size_t n) {
    if (capacity_ - size_ < n) Grow(n);
    return data_.get() + size_;
  }
  // `end`: a pointer from the last Reserve, moved past the bytes written there.
  void Commit(const char* end) { size_ = static_cast<size_t>(end - data_.get()); }
  void Append(std::string_view bytes) {
    std::memcpy(Reserve(bytes.size()), bytes.data(), bytes.size());
    size_ += bytes.size();
  }

 private:
  void Grow(size_t n);

  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// Framing of a COPY stream: header/trailer for binary, field separators/row ends for both. A row
// is BeginRow, then for each field BeforeField(i) and ColumnEncoder::Encode, then EndRow.
class CopyRowWriter {
 public:
  // The most bytes BeginRow, BeforeField or EndRow writes.
  static constexpr size_t kMaxFramingBytes = 2;

  CopyRowWriter(CopyFormat format, int column_count);

  void BeginStream(std::string& out) const;             // binary: signature, flags, extension
  void BeginRow(std::string& out) const;                // binary: int16 column count
  void BeforeField(int index, std::string& out) const;  // text: '\t' before fields 1..n-1
  void EndRow(std::string& out) const;                  // text: '\n'
  void EndStream(std::string& out) const;               // binary trailer (int16 -1)

  // The same for a CopyBuffer, and through a raw pointer with room for kMaxFramingBytes (they
  // return the end of what they wrote).
  void BeginStream(CopyBuffer& out) const;
  void EndStream(CopyBuffer& out) const;
  char* BeginRow(char* p) const {
    if (format_ != CopyFormat::kBinary) return p;
    p[0] = static_cast<char>(static_cast<uint16_t>(column_count_) >> 8);
    p[1] = static_cast<char>(column_count_);
    return p + 2;
  }
  char* BeforeField(int index, char* p) const {
    if (format_ == CopyFormat::kText && index > 0) *p++ = '\t';
    return p;
  }
  char* EndRow(char* p) const {
    if (format_ == CopyFormat::kText) *p++ = '\n';
    return p;
  }

  // `COPY <qualified_table> ("a","b") FROM STDIN (FORMAT binary)`. `qualified_table` is SQL
  // already (quoted by the caller, e.g. "s"."t"); the column names are quoted here.
  std::string CopySql(std::string_view qualified_table,
                      const std::vector<std::string>& columns) const;
  // The same with schema and table quoted here.
  std::string CopySql(std::string_view schema, std::string_view table,
                      const std::vector<std::string>& columns) const;

  CopyFormat format() const { return format_; }
  int column_count() const { return column_count_; }

 private:
  CopyFormat format_;
  int column_count_;
};

}  // namespace opendms::engine

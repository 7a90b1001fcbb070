// csv: the streaming CSV tokenizer for DMS's S3 source. It owns the dialect (DMS's CsvDelimiter,
// CsvRowDelimiter and Rfc4180 settings), the split of an object's bytes into rows and fields, and
// the exact position (line, byte offset, column) of every row and every tokenizing error.
//
// Start reading at Tokenizer. What it does not do: decide what a field means (NULL vs empty string,
// type conversion, UTF-8 validation, field counts) — that is the engine's row decoder, which gets
// each field's bytes and whether the field was quoted.
//
// Quoting rules (Rfc4180 = true), as DMS documents them plus the usual lenient reading:
//   - a field that starts with the quote character is quoted; inside it "" is one quote, and the
//     delimiter and the row delimiter are data;
//   - after the closing quote only the delimiter, the row delimiter or the end of input may follow,
//     anything else is CsvErrorKind::kInvalidQuoting;
//   - a quote in the middle of an unquoted field (a"b) is data, like PostgreSQL's and Python's
//     readers do, rather than an error;
//   - the input ending inside a quoted field is CsvErrorKind::kUnterminatedQuote.
// With Rfc4180 = false the quote character is an ordinary byte and delimiters always split.
//
// Rows: the row delimiter is "\n" or the pair "\r\n" (then a lone "\r" or "\n" is data; in "\n"
// mode a "\r" is data). A last row without a row delimiter is a row; a final row delimiter does not
// make an extra empty row; an empty line is a row of one unquoted empty field. A UTF-8 byte order
// mark at the start of an object is skipped.
//
// Speed: unquoted fields are split with a bit mask of the delimiters and newlines in each 64-byte
// block (SSE2 compares; 64-bit words elsewhere), quoted fields are scanned 16 bytes at a time.
// Fields are views into the tokenizer's buffer; the only copies are the unescaping of "" into a
// per-row scratch area, and moving a row split across two reads to the buffer's front.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/core.h"

namespace opendms::csv {

enum class RowDelimiter { kLf, kCrLf };

// How an object's bytes are split. A plain struct: FromDms() builds one from DMS settings and
// validates it; a Dialect built by hand must pass Validate() before it reaches a Tokenizer.
struct Dialect {
  char delimiter = ',';
  RowDelimiter row_delimiter = RowDelimiter::kLf;
  bool rfc4180 = true;  // true: quoting per RFC 4180; false: quotes are ordinary bytes
  char quote = '"';

  // From DMS S3Settings values: CsvDelimiter (any single char; also "\\t" written escaped),
  // CsvRowDelimiter ("\n", "\\n", "\r\n", "\\r\\n"), Rfc4180. Error (InvalidArgument) names the
  // field and repeats the value. Callers pass DMS's defaults ("," and "\n") for unset settings; an
  // empty string is an error.
  static Result<Dialect> FromDms(std::string_view csv_delimiter, std::string_view csv_row_delimiter,
                                 bool rfc4180);

  // InvalidArgument when the characters collide: the delimiter is "\n" (or "\r" with "\r\n" rows),
  // or, with rfc4180, the quote equals the delimiter or is a row delimiter character.
  Status Validate() const;
};

struct Field {
  std::string_view value;  // unescaped content, without enclosing quotes
  bool quoted =
      false;  // enclosed in quotes: "" is an empty string, an unquoted empty field is NULL
};

struct RowInfo {
  uint64_t line = 0;         // 1-based physical line number where the row starts (counts every row
                             // delimiter, including ones inside quoted fields and header lines)
  uint64_t byte_offset = 0;  // offset of the row's first byte in the object
  std::string_view raw;      // the row's original bytes, without its row delimiter
  // Where the next row starts: the offset just past this row's delimiter and its line number. A
  // run restarted with start_offset = next_offset and start_line = next_line continues right after
  // this row (the engine's checkpoint).
  uint64_t next_offset = 0;
  uint64_t next_line = 0;
};

enum class CsvErrorKind { kUnterminatedQuote, kInvalidQuoting, kRowTooLong, kReadError };

struct CsvError {
  CsvErrorKind kind = CsvErrorKind::kReadError;
  uint64_t line = 0;         // line of the row that holds the error
  uint64_t byte_offset = 0;  // offset of the offending byte in the object: for kUnterminatedQuote
                             // the opening quote, for kInvalidQuoting the byte after the closing
                             // quote, for kRowTooLong the row's first byte, for kReadError the
                             // first byte that could not be read
  uint64_t column = 0;       // 1-based field number within the row; 0 for kRowTooLong, kReadError
  std::string message;  // human text, e.g. "unterminated quoted field starting at line 7, column 3"
  Status source_status;  // kReadError only: the source's Status, kind kept (e.g. worth a retry)
};

// "UnterminatedQuote", "InvalidQuoting", "RowTooLong", "ReadError".
std::string_view CsvErrorKindName(CsvErrorKind kind);

struct TokenizerOptions {
  uint64_t ignore_header_rows = 0;  // rows skipped at the start (IgnoreHeaderRows); only when
                                    // start_offset == 0. Header rows are tokenized like any row
                                    // (a quoting error in one is an error) but not delivered.
  uint64_t start_offset = 0;        // byte offset in the object where the source starts (resume)
  uint64_t start_line = 1;          // line number of the first byte the source delivers
  size_t buffer_size = 1 << 20;     // bytes read per refill; raised to at least kMinBufferSize
  size_t max_row_bytes = 64 << 20;  // longest row (raw bytes, without the row delimiter). A
                                    // quoting error found more than max_row_bytes + 2 bytes into
                                    // a row is reported as kRowTooLong, so that the result never
                                    // depends on how the source splits its reads.
};

struct TokenizeStats {
  uint64_t rows = 0;   // rows delivered to the sink (header rows not included)
  uint64_t lines = 0;  // physical lines consumed, header lines included
  uint64_t bytes = 0;  // bytes consumed from the source, up to the end of the last row handled
  bool stopped = false;
};

// Splits a stream of bytes into rows of fields and hands each row to a sink.
//
//   csv::Tokenizer tokenizer(dialect, options);
//   if (!tokenizer.Run(source, sink)) return ToStatus(tokenizer.error());
//
// Memory: one buffer of options.buffer_size bytes (plus a little padding), grown only to hold a
// single row longer than that — at most max_row_bytes + 2 — and kept at that size for later runs;
// the field list and an unescaping scratch area no larger than the buffer. Not thread-safe; one
// Tokenizer per stream. Reusable: each Run starts afresh.
class Tokenizer {
 public:
  static constexpr size_t kMinBufferSize = 64;

  // `dialect` must be valid (Dialect::Validate()).
  Tokenizer(const Dialect& dialect, const TokenizerOptions& options);

  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Source: callable `Result<size_t>(char* dst, size_t capacity)` writing at most `capacity`
  // bytes; returns 0 at end of input, a Status on failure (becomes kReadError).
  // Sink: object with `bool OnRow(std::span<const Field> fields, const RowInfo& row)` — return
  // false to stop early (then stats().stopped is true). The fields, their values and row.raw are
  // valid only during the call.
  // Rows are tokenized once the buffer is full or the input has ended, so the source is read ahead
  // by up to one buffer before the first row arrives.
  // Returns true when input ended or the sink stopped; false on error (see error()). After an error
  // no further rows are delivered: a bad quote leaves no reliable place to resynchronise. The rows
  // delivered before it are complete and stats() counts them.
  template <class Source, class Sink>
  bool Run(Source&& source, Sink& sink);

  const CsvError& error() const { return error_; }
  const TokenizeStats& stats() const { return stats_; }

 private:
  enum class RowStatus { kRow, kNeedMore, kError };
  // The end of a row that ParseRow found complete.
  struct ParsedRow {
    const char* data_end = nullptr;  // end of the row's bytes (start of its row delimiter)
    const char* next = nullptr;      // first byte after the row delimiter
    uint64_t inner_lines = 0;        // row delimiters inside quoted fields
  };
  using RowParser = RowStatus (Tokenizer::*)(const char* row, const char* end, bool eof,
                                             ParsedRow& out);

  // Tokenizes the row starting at `row` into fields_. [row, end) holds the buffered bytes and at
  // least kScanPadding readable bytes follow `end`. kNeedMore: the row does not end before `end`
  // and more input may follow. kError: error_ is set.
  // Delimiter and "\n" positions in the 64 bytes from `base` (bit i: base[i]); bits before the
  // scan's position are cleared. Valid until the buffer's bytes move or change.
  struct BlockScan {
    const char* base = nullptr;
    uint64_t bits = 0;
  };
  static const char* NextDelimiterOrNewline(BlockScan& scan, const char* from, const char* end,
                                            char delimiter);
  static RowParser ChooseRowParser(const Dialect& dialect);
  template <bool kRfc4180, bool kCrLf>
  RowStatus ParseRow(const char* row, const char* end, bool eof, ParsedRow& out);
  // Whether the byte at `decisive` lies in the first max_row_bytes + 2 bytes from `row`, the most a
  // buffer ever holds of one row.
  bool WithinRowWindow(const char* row, const char* decisive) const;
  std::string_view Unescape(const char* begin, const char* end, const char* row,
                            const char* buffer_end);
  void AddField(std::string_view value, bool quoted) {
    if (field_count_ == fields_.size()) GrowFields();
    fields_[field_count_++] = Field{value, quoted};
  }
  void GrowFields();

  void Reset();
  void SkipByteOrderMark();
  // Makes room after a row that did not fit: moves the unconsumed bytes to the front, or grows the
  // buffer when one row fills it. False (error_ set) when the row is longer than max_row_bytes.
  bool MakeRoom();
  // The Fail* functions set error_; those returning bool also update stats_ and return false.
  bool FailReadError(Status status);
  bool FailRowTooLong(const char* row);
  // `physical_line` is the line of the offending byte, which differs from the row's line when an
  // earlier quoted field of the row holds row delimiters.
  void FailUnterminatedQuote(const char* open, size_t column, uint64_t physical_line);
  void FailInvalidQuoting(const char* bad, size_t column, uint64_t physical_line);
  uint64_t OffsetOf(const char* p) const {
    return buffer_offset_ + static_cast<uint64_t>(p - buffer_.get());
  }
  void UpdateStats() {
    stats_.lines = line_ - options_.start_line;
    stats_.bytes = buffer_offset_ + begin_ - options_.start_offset;
  }

  // Constant after construction.
  const Dialect dialect_;
  const TokenizerOptions options_;
  const RowParser parse_row_;

  // The buffer: [0, filled_) holds input bytes, the object offset of byte 0 is buffer_offset_, and
  // the next row starts at begin_. capacity_ bytes are usable; kScanPadding more are allocated
  // (and initialised once) so the scanners may read past the end of the data.
  std::unique_ptr<char[]> buffer_;
  size_t capacity_ = 0;
  size_t filled_ = 0;
  size_t begin_ = 0;
  uint64_t buffer_offset_ = 0;
  bool eof_ = false;
  bool bom_checked_ = false;

  uint64_t line_ = 1;  // line of the row at begin_
  uint64_t header_rows_left_ = 0;

  // The current row. Unescaped values live in scratch_, which is grown (only when scratch_used_ is
  // 0, so no live view points into it) to the bytes left in the buffer from the row's start: a
  // row's unescaped values are never longer than that.
  std::vector<Field> fields_;  // [0, field_count_) are the row's; the size is the capacity
  size_t field_count_ = 0;
  std::unique_ptr<char[]> scratch_;
  size_t scratch_capacity_ = 0;
  size_t scratch_used_ = 0;

  BlockScan scan_;  // carried from one row to the next within one buffer-full

  CsvError error_;
  TokenizeStats stats_;
};

// ---------------------------------------------------------------------------------------------
// Implementation of the template. The per-row work is in tokenizer.cc; this loop only fills the
// buffer and passes rows to the sink, so the sink's OnRow inlines here.
// ---------------------------------------------------------------------------------------------

template <class Source, class Sink>
bool Tokenizer::Run(Source&& source, Sink& sink) {
  Reset();
  for (;;) {
    // Fill the buffer completely (or to the end of input) before tokenizing, so that a row split
    // across reads is re-tokenized once per buffer-full, not once per short read.
    while (!eof_ && filled_ < capacity_) {
      Result<size_t> got = source(buffer_.get() + filled_, capacity_ - filled_);
      if (!got.ok()) return FailReadError(got.status());
      if (*got > capacity_ - filled_) {
        return FailReadError(Status::Internal("source returned more bytes than requested"));
      }
      if (*got == 0) {
        eof_ = true;
      } else {
        filled_ += *got;
      }
    }
    if (!bom_checked_) SkipByteOrderMark();

    const char* const end = buffer_.get() + filled_;
    const char* p = buffer_.get() + begin_;
    ParsedRow row;
    for (;;) {
      if (p == end) {
        if (eof_) {
          UpdateStats();
          return true;
        }
        break;
      }
      RowStatus status = (this->*parse_row_)(p, end, eof_, row);
      if (status == RowStatus::kNeedMore) break;
      if (status == RowStatus::kError) {
        UpdateStats();
        return false;
      }
      const size_t raw_size = static_cast<size_t>(row.data_end - p);
      if (raw_size > options_.max_row_bytes) return FailRowTooLong(p);
      const RowInfo info{line_, OffsetOf(p), std::string_view(p, raw_size), OffsetOf(row.next),
                         line_ + 1 + row.inner_lines};
      bool keep_going = true;
      if (header_rows_left_ > 0) {
        --header_rows_left_;
      } else {
        ++stats_.rows;
        keep_going = sink.OnRow(std::span<const Field>(fields_.data(), field_count_), info);
      }
      line_ = info.next_line;
      p = row.next;
      begin_ = static_cast<size_t>(p - buffer_.get());
      if (!keep_going) {
        stats_.stopped = true;
        UpdateStats();
        return true;
      }
    }
    if (!MakeRoom()) return false;
  }
}

}  // namespace opendms::csv

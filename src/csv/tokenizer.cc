// The per-row state machine, buffer management and error construction of Tokenizer.
//
// Invariants between rows: [begin_, filled_) are unconsumed input; buffer_offset_ + begin_ is the
// object offset of the next row and line_ its line. A row is tokenized only from its first byte:
// when it runs past the buffered bytes, the partial row is moved to the buffer's front, the buffer
// is refilled (and grown if the row alone fills it) and the row is tokenized again from its start.
// Rows are short next to the buffer, so the repeated work is one row per buffer-full.
//
// The outcome does not depend on how the source splits its input: a row is read through a window
// of at most max_row_bytes + 2 bytes from its start, so a quoting error decided by a byte beyond
// that window is reported as kRowTooLong — as it must be when the buffer cannot hold the row — even
// when the buffer happens to hold it.

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "csv/byte_scan.h"
#include "csv/csv.h"

namespace opendms::csv {

using internal::FindEither;
using internal::kScanPadding;
using internal::MatchMask64;

namespace {

// Every row delimiter is at most 2 bytes; the buffer never needs to hold more than the longest
// allowed row and its delimiter.
constexpr size_t kMaxRowDelimiterBytes = 2;

TokenizerOptions Sanitized(TokenizerOptions options) {
  options.buffer_size = std::max(options.buffer_size, Tokenizer::kMinBufferSize);
  options.max_row_bytes = std::min(options.max_row_bytes, std::numeric_limits<size_t>::max() / 4);
  return options;
}

std::string DescribeByte(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7F) return fmt::format("'{}'", c);
  return fmt::format("byte 0x{:02x}", u);
}

}  // namespace

// The first delimiter or "\n" at or after `from`, or `end`. Remembers the matches of one 64-byte
// block, so that the fields of a block cost one bit scan each rather than one vector compare each.
// Bits below `from` are dropped as the scan moves on; bits past `end` are never reported.
inline const char* Tokenizer::NextDelimiterOrNewline(BlockScan& scan, const char* from,
                                                     const char* end, char delimiter) {
  const uintptr_t skip = reinterpret_cast<uintptr_t>(from) - reinterpret_cast<uintptr_t>(scan.base);
  if (skip < 64) {
    scan.bits &= ~uint64_t{0} << skip;
  } else {
    scan.base = from;
    scan.bits = MatchMask64(from, delimiter, '\n');
  }
  while (scan.bits == 0) {
    scan.base += 64;
    if (scan.base >= end) return end;
    scan.bits = MatchMask64(scan.base, delimiter, '\n');
  }
  const char* q = scan.base + std::countr_zero(scan.bits);
  return q < end ? q : end;
}

Tokenizer::Tokenizer(const Dialect& dialect, const TokenizerOptions& options)
    : dialect_(dialect), options_(Sanitized(options)), parse_row_(ChooseRowParser(dialect)) {
  assert(dialect.Validate().ok());
}

Tokenizer::RowParser Tokenizer::ChooseRowParser(const Dialect& dialect) {
  const bool crlf = dialect.row_delimiter == RowDelimiter::kCrLf;
  if (dialect.rfc4180) {
    return crlf ? &Tokenizer::ParseRow<true, true> : &Tokenizer::ParseRow<true, false>;
  }
  return crlf ? &Tokenizer::ParseRow<false, true> : &Tokenizer::ParseRow<false, false>;
}

void Tokenizer::Reset() {
  if (!buffer_ || capacity_ < options_.buffer_size) {
    // Value-initialised: the scanners read (and ignore) bytes past the data.
    buffer_ = std::make_unique<char[]>(options_.buffer_size + kScanPadding);
    capacity_ = options_.buffer_size;
  }
  filled_ = 0;
  begin_ = 0;
  buffer_offset_ = options_.start_offset;
  eof_ = false;
  bom_checked_ = options_.start_offset != 0;
  line_ = options_.start_line;
  header_rows_left_ = options_.start_offset == 0 ? options_.ignore_header_rows : 0;
  field_count_ = 0;
  scratch_used_ = 0;
  scan_ = BlockScan{};
  error_ = CsvError{};
  stats_ = TokenizeStats{};
}

void Tokenizer::SkipByteOrderMark() {
  // Called after the first fill, which holds kMinBufferSize bytes or the whole input.
  bom_checked_ = true;
  if (filled_ >= 3 && std::memcmp(buffer_.get(), "\xEF\xBB\xBF", 3) == 0) begin_ = 3;
}

bool Tokenizer::MakeRoom() {
  scan_ = BlockScan{};  // the bytes it matched move or change
  if (begin_ > 0) {
    const size_t left = filled_ - begin_;
    std::memmove(buffer_.get(), buffer_.get() + begin_, left);
    buffer_offset_ += begin_;
    filled_ = left;
    begin_ = 0;
    return true;
  }
  // One row fills the whole buffer. A buffer of max_row_bytes + 2 bytes that holds no complete row
  // holds more than max_row_bytes of it, whatever its last bytes are.
  const size_t limit = options_.max_row_bytes + kMaxRowDelimiterBytes;
  if (capacity_ >= limit) return FailRowTooLong(buffer_.get());
  const size_t new_capacity = std::min(limit, capacity_ * 2);
  auto bigger = std::make_unique<char[]>(new_capacity + kScanPadding);
  std::memcpy(bigger.get(), buffer_.get(), filled_);
  buffer_ = std::move(bigger);
  capacity_ = new_capacity;
  return true;
}

void Tokenizer::GrowFields() { fields_.resize(std::max<size_t>(16, 2 * fields_.size())); }

bool Tokenizer::WithinRowWindow(const char* row, const char* decisive) const {
  return static_cast<size_t>(decisive - row) < options_.max_row_bytes + kMaxRowDelimiterBytes;
}

template <bool kRfc4180, bool kCrLf>
Tokenizer::RowStatus Tokenizer::ParseRow(const char* row, const char* end, bool eof,
                                         ParsedRow& out) {
  field_count_ = 0;
  scratch_used_ = 0;
  const char delimiter = dialect_.delimiter;
  const char quote = dialect_.quote;
  // The block scan continues from the previous row; a local copy stays in registers.
  BlockScan scan = scan_;
  struct SaveScan {
    BlockScan& from;
    BlockScan& to;
    ~SaveScan() { to = from; }
  } save_scan{scan, scan_};
  uint64_t inner_lines = 0;
  const char* p = row;  // first byte of the current field
  for (;;) {
    if constexpr (kRfc4180) {
      if (p < end && *p == quote) {
        // Quoted field: only the quote character matters until the closing quote.
        const char* const open = p;
        const char* search = open + 1;
        const char* close;
        bool escaped = false;
        uint64_t field_lines = 0;  // row delimiters inside this field
        for (;;) {
          const char* q = FindEither(search, end, quote, '\n');
          if (q == end) {
            if (!eof) return RowStatus::kNeedMore;
            if (!WithinRowWindow(row, end)) {
              FailRowTooLong(row);
              return RowStatus::kError;
            }
            FailUnterminatedQuote(open, field_count_ + 1, line_ + inner_lines);
            return RowStatus::kError;
          }
          if (*q == '\n') {
            // q[-1] is at worst the opening quote, never before the row.
            if (!kCrLf || q[-1] == '\r') ++field_lines;
            search = q + 1;
            continue;
          }
          if (q + 1 == end) {
            if (!eof) return RowStatus::kNeedMore;  // "" or a closing quote: the next byte says
            close = q;
            break;
          }
          if (q[1] == quote) {
            escaped = true;
            search = q + 2;
            continue;
          }
          close = q;
          break;
        }
        const char* const content = open + 1;
        AddField(escaped ? Unescape(content, close, row, end)
                         : std::string_view(content, close - content),
                 true);
        const char* const after = close + 1;
        if (after == end) {  // end of input (otherwise we returned kNeedMore above)
          out = ParsedRow{end, end, inner_lines + field_lines};
          return RowStatus::kRow;
        }
        if (*after == delimiter) {
          inner_lines += field_lines;
          p = after + 1;
          continue;
        }
        if constexpr (kCrLf) {
          if (*after == '\r') {
            if (after + 1 == end && !eof) return RowStatus::kNeedMore;
            if (after + 1 < end && after[1] == '\n') {
              out = ParsedRow{after, after + 2, inner_lines + field_lines};
              return RowStatus::kRow;
            }
          }
        } else {
          if (*after == '\n') {
            out = ParsedRow{after, after + 1, inner_lines + field_lines};
            return RowStatus::kRow;
          }
        }
        // In "\r\n" mode a "\r" is judged by the byte after it.
        if (!WithinRowWindow(row, kCrLf && *after == '\r' ? after + 1 : after)) {
          FailRowTooLong(row);
          return RowStatus::kError;
        }
        FailInvalidQuoting(after, field_count_, line_ + inner_lines + field_lines);
        return RowStatus::kError;
      }
    }
    // Unquoted field: runs to the next delimiter or row delimiter. A quote in it is data.
    const char* const start = p;
    const char* search = p;
    for (;;) {
      const char* q = NextDelimiterOrNewline(scan, search, end, delimiter);
      if (q == end) {
        if (!eof) return RowStatus::kNeedMore;
        AddField(std::string_view(start, end - start), false);
        out = ParsedRow{end, end, inner_lines};
        return RowStatus::kRow;
      }
      if (*q == delimiter) {
        AddField(std::string_view(start, q - start), false);
        p = q + 1;
        break;
      }
      if constexpr (kCrLf) {
        if (q > start && q[-1] == '\r') {
          AddField(std::string_view(start, q - 1 - start), false);
          out = ParsedRow{q - 1, q + 1, inner_lines};
          return RowStatus::kRow;
        }
        search = q + 1;  // a lone "\n" is data
      } else {
        AddField(std::string_view(start, q - start), false);
        out = ParsedRow{q, q + 1, inner_lines};
        return RowStatus::kRow;
      }
    }
  }
}

std::string_view Tokenizer::Unescape(const char* begin, const char* end, const char* row,
                                     const char* buffer_end) {
  if (scratch_used_ == 0) {
    // No view into scratch_ is live yet in this row, so it may move. A row's unescaped values fit
    // in the bytes from its start to the end of the buffer.
    const size_t needed = static_cast<size_t>(buffer_end - row);
    if (scratch_capacity_ < needed) {
      scratch_capacity_ = std::max(needed, 2 * scratch_capacity_);
      scratch_ = std::make_unique_for_overwrite<char[]>(scratch_capacity_);
    }
  }
  char* const out = scratch_.get() + scratch_used_;
  char* o = out;
  const char* s = begin;
  // Every quote inside [begin, end) is the first of a "" pair.
  for (;;) {
    const char* q =
        static_cast<const char*>(std::memchr(s, dialect_.quote, static_cast<size_t>(end - s)));
    if (q == nullptr) {
      std::memcpy(o, s, static_cast<size_t>(end - s));
      o += end - s;
      break;
    }
    std::memcpy(o, s, static_cast<size_t>(q + 1 - s));
    o += q + 1 - s;
    s = q + 2;
  }
  scratch_used_ += static_cast<size_t>(o - out);
  return std::string_view(out, static_cast<size_t>(o - out));
}

bool Tokenizer::FailReadError(Status status) {
  error_ = CsvError{};
  error_.kind = CsvErrorKind::kReadError;
  error_.line = line_;
  error_.byte_offset = buffer_offset_ + filled_;
  error_.message =
      fmt::format("read error at byte offset {}: {}", error_.byte_offset, status.message());
  error_.source_status = std::move(status);
  UpdateStats();
  return false;
}

bool Tokenizer::FailRowTooLong(const char* row) {
  error_ = CsvError{};
  error_.kind = CsvErrorKind::kRowTooLong;
  error_.line = line_;
  error_.byte_offset = OffsetOf(row);
  error_.message = fmt::format("row starting at line {} (byte offset {}) is longer than {} bytes",
                               line_, error_.byte_offset, options_.max_row_bytes);
  UpdateStats();
  return false;
}

void Tokenizer::FailUnterminatedQuote(const char* open, size_t column, uint64_t physical_line) {
  error_ = CsvError{};
  error_.kind = CsvErrorKind::kUnterminatedQuote;
  error_.line = line_;
  error_.byte_offset = OffsetOf(open);
  error_.column = column;
  error_.message =
      fmt::format("unterminated quoted field starting at line {}, column {} (byte offset {})",
                  physical_line, column, error_.byte_offset);
}

void Tokenizer::FailInvalidQuoting(const char* bad, size_t column, uint64_t physical_line) {
  error_ = CsvError{};
  error_.kind = CsvErrorKind::kInvalidQuoting;
  error_.line = line_;
  error_.byte_offset = OffsetOf(bad);
  error_.column = column;
  error_.message = fmt::format(
      "invalid quoting at line {}, column {} (byte offset {}): {} after the closing quote, "
      "expected the delimiter or the end of the row",
      physical_line, column, error_.byte_offset, DescribeByte(*bad));
}

}  // namespace opendms::csv

// Property tests: on generated CSV (well-formed and random bytes), the tokenizer gives the same
// rows, error and statistics whatever the read sizes and buffer size, and the same as a plain
// byte-at-a-time reference written from the rules in csv.h.

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "csv/byte_scan.h"
#include "csv/csv.h"
#include "csv_test_util.h"

namespace opendms::csv {
namespace {

using test_util::Chunking;
using test_util::F;
using test_util::Fields;
using test_util::RecordedRow;
using test_util::Tokenize;
using test_util::TokenizeResult;

// The rules of csv.h, one byte at a time over the whole input.
TokenizeResult ReferenceTokenize(const std::string& in, const Dialect& d,
                                 const TokenizerOptions& o) {
  TokenizeResult res;
  const bool crlf = d.row_delimiter == RowDelimiter::kCrLf;
  const size_t n = in.size();
  const size_t window = o.max_row_bytes + 2;
  size_t i = 0;
  if (o.start_offset == 0 && in.compare(0, 3, "\xEF\xBB\xBF") == 0) i = 3;
  uint64_t line = o.start_line;
  uint64_t headers = o.start_offset == 0 ? o.ignore_header_rows : 0;
  auto fail = [&](CsvErrorKind kind, size_t row, size_t at, uint64_t column) {
    res.ok = false;
    res.error.kind = kind;
    res.error.line = line;
    res.error.byte_offset = o.start_offset + (kind == CsvErrorKind::kRowTooLong ? row : at);
    res.error.column = kind == CsvErrorKind::kRowTooLong ? 0 : column;
    res.stats.lines = line - o.start_line;
    res.stats.bytes = row;
    return res;
  };
  while (i < n) {
    const size_t row = i;
    Fields fields;
    size_t data_end = 0;
    size_t next = 0;
    size_t p = i;
    bool done = false;
    while (!done) {
      if (d.rfc4180 && p < n && in[p] == d.quote) {
        size_t j = p + 1;
        std::string value;
        for (;;) {
          if (j >= n) {
            if (n - row >= window) return fail(CsvErrorKind::kRowTooLong, row, row, 0);
            return fail(CsvErrorKind::kUnterminatedQuote, row, p, fields.size() + 1);
          }
          if (in[j] == d.quote) {
            if (j + 1 < n && in[j + 1] == d.quote) {
              value += d.quote;
              j += 2;
              continue;
            }
            break;
          }
          value += in[j++];
        }
        fields.push_back(F{value, true});
        const size_t a = j + 1;
        if (a == n) {
          data_end = next = n;
          done = true;
        } else if (in[a] == d.delimiter) {
          p = a + 1;
        } else if (!crlf && in[a] == '\n') {
          data_end = a;
          next = a + 1;
          done = true;
        } else if (crlf && in[a] == '\r' && a + 1 < n && in[a + 1] == '\n') {
          data_end = a;
          next = a + 2;
          done = true;
        } else {
          const size_t decisive = crlf && in[a] == '\r' ? a + 1 : a;
          if (decisive - row >= window) return fail(CsvErrorKind::kRowTooLong, row, row, 0);
          return fail(CsvErrorKind::kInvalidQuoting, row, a, fields.size());
        }
      } else {
        for (size_t j = p;; ++j) {
          const bool at_end = j == n;
          const bool at_lf = !at_end && !crlf && in[j] == '\n';
          const bool at_crlf = !at_end && crlf && in[j] == '\r' && j + 1 < n && in[j + 1] == '\n';
          if (at_end || at_lf || at_crlf || in[j] == d.delimiter) {
            fields.push_back(F{in.substr(p, j - p), false});
            if (!at_end && !at_lf && !at_crlf) {
              p = j + 1;
            } else {
              data_end = j;
              next = at_end ? n : j + (at_crlf ? 2 : 1);
              done = true;
            }
            break;
          }
        }
      }
    }
    const std::string raw = in.substr(row, data_end - row);
    if (raw.size() > o.max_row_bytes) return fail(CsvErrorKind::kRowTooLong, row, row, 0);
    uint64_t inner = 0;
    for (size_t k = 0; k < raw.size(); ++k) {
      if (crlf ? (raw[k] == '\r' && k + 1 < raw.size() && raw[k + 1] == '\n') : raw[k] == '\n') {
        ++inner;
      }
    }
    const uint64_t next_line = line + 1 + inner;
    if (headers > 0) {
      --headers;
    } else {
      res.rows.push_back(
          RecordedRow{fields, line, o.start_offset + row, raw, o.start_offset + next, next_line});
      ++res.stats.rows;
    }
    line = next_line;
    i = next;
  }
  res.ok = true;
  res.stats.lines = line - o.start_line;
  res.stats.bytes = n;
  return res;
}

// CSV that follows the dialect, with many delimiters, quotes, \r and \n inside fields.
std::string GenerateCsv(std::mt19937& rng, const Dialect& d) {
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  const bool crlf = d.row_delimiter == RowDelimiter::kCrLf;
  const std::string row_delimiter = crlf ? "\r\n" : "\n";
  const std::string alphabet = std::string("ab\xC3\xA9 ") + d.delimiter + d.quote + "\r\n";
  std::string out = pick(4) == 0 ? "\xEF\xBB\xBF" : "";
  const int rows = pick(25);
  for (int r = 0; r < rows; ++r) {
    const int fields = 1 + pick(6);
    for (int f = 0; f < fields; ++f) {
      if (f) out += d.delimiter;
      const int length = pick(5) == 0 ? pick(60) : pick(6);
      std::string value;
      for (int k = 0; k < length; ++k) value += alphabet[pick(static_cast<int>(alphabet.size()))];
      if (d.rfc4180 && pick(3) == 0) {
        out += d.quote;
        for (char c : value) {
          out += c;
          if (c == d.quote) out += c;
        }
        out += d.quote;
      } else {
        // An unquoted field holds no delimiter and no row delimiter, and (with Rfc4180) does not
        // start with a quote.
        std::string plain;
        for (char c : value) {
          if (c == d.delimiter || (!crlf && c == '\n')) continue;
          if (crlf && c == '\n' && !plain.empty() && plain.back() == '\r') continue;
          plain += c;
        }
        if (crlf && !plain.empty() && plain.back() == '\r') plain.pop_back();
        while (d.rfc4180 && !plain.empty() && plain[0] == d.quote) plain.erase(0, 1);
        out += plain;
      }
    }
    if (r + 1 < rows || pick(2) == 0) out += row_delimiter;
  }
  return out;
}

// Arbitrary bytes over the characters that matter: mostly errors and odd corners.
std::string GenerateNoise(std::mt19937& rng, const Dialect& d) {
  const std::string alphabet = std::string("aa") + d.delimiter + d.quote + d.quote + "\r\n\xEF";
  std::string out;
  const int length = std::uniform_int_distribution<int>(0, 40)(rng);
  for (int k = 0; k < length; ++k) {
    out += alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(rng)];
  }
  return out;
}

void ExpectSameOutcome(const TokenizeResult& got, const TokenizeResult& want, bool messages) {
  ASSERT_EQ(got.ok, want.ok) << (got.ok ? want.error.message : got.error.message);
  EXPECT_EQ(got.rows, want.rows);
  EXPECT_EQ(got.stats.rows, want.stats.rows);
  EXPECT_EQ(got.stats.lines, want.stats.lines);
  EXPECT_EQ(got.stats.bytes, want.stats.bytes);
  if (!got.ok) {
    EXPECT_EQ(CsvErrorKindName(got.error.kind), CsvErrorKindName(want.error.kind));
    EXPECT_EQ(got.error.line, want.error.line);
    EXPECT_EQ(got.error.byte_offset, want.error.byte_offset);
    EXPECT_EQ(got.error.column, want.error.column);
    if (messages) {
      EXPECT_EQ(got.error.message, want.error.message);
    }
  }
}

TEST(CsvTokenizerProperty, ReadSizesDoNotChangeTheResult) {
  std::mt19937 rng(20240611);
  const char delimiters[] = {',', '\t', '|', ';'};
  int errors_seen = 0;
  int too_long_seen = 0;
  for (int iteration = 0; iteration < 3000; ++iteration) {
    Dialect d;
    d.delimiter = delimiters[iteration % 4];
    d.row_delimiter = (iteration / 4) % 2 ? RowDelimiter::kCrLf : RowDelimiter::kLf;
    d.rfc4180 = (iteration / 8) % 4 != 0;
    const std::string input = iteration % 3 == 0 ? GenerateNoise(rng, d) : GenerateCsv(rng, d);

    TokenizerOptions options;
    options.ignore_header_rows = iteration % 5 == 0 ? 1 : 0;
    if (iteration % 7 == 0) {
      options.start_offset = 1000;
      options.start_line = 50;
    }
    if (iteration % 6 == 0) options.max_row_bytes = 10 + iteration % 90;

    SCOPED_TRACE(::testing::PrintToString(input) + " delimiter " +
                 ::testing::PrintToString(d.delimiter) + (d.rfc4180 ? " rfc4180" : "") +
                 (d.row_delimiter == RowDelimiter::kCrLf ? " crlf" : " lf") + " max_row_bytes " +
                 std::to_string(options.max_row_bytes));
    const TokenizeResult want = ReferenceTokenize(input, d, options);
    const TokenizeResult whole = Tokenize(input, d, options);
    ExpectSameOutcome(whole, want, /*messages=*/false);
    errors_seen += !want.ok;
    too_long_seen += !want.ok && want.error.kind == CsvErrorKind::kRowTooLong;

    struct Variant {
      size_t buffer_size;
      Chunking chunking;
    };
    const uint32_t seed = static_cast<uint32_t>(iteration);
    const Variant variants[] = {
        {Tokenizer::kMinBufferSize, Chunking{Chunking::kWhole, 0, 0}},
        {Tokenizer::kMinBufferSize, Chunking{Chunking::kFixed, 1, 0}},
        {Tokenizer::kMinBufferSize, Chunking{Chunking::kRandom, 7, seed}},
        {80, Chunking{Chunking::kRandom, 100, seed}},
        {1 << 16, Chunking{Chunking::kRandom, 3, seed}},
    };
    for (const Variant& v : variants) {
      SCOPED_TRACE("buffer " + std::to_string(v.buffer_size) + " chunks " +
                   std::to_string(v.chunking.kind) + "/" + std::to_string(v.chunking.size));
      TokenizerOptions chunked = options;
      chunked.buffer_size = v.buffer_size;
      ExpectSameOutcome(Tokenize(input, d, chunked, v.chunking), whole, /*messages=*/true);
    }
    if (::testing::Test::HasFailure()) break;  // one counterexample is enough to read
  }
  // The generators must reach the error paths, or the test proves less than it claims.
  EXPECT_GT(errors_seen, 300);
  EXPECT_GT(too_long_seen, 15);
}

TEST(CsvTokenizerProperty, LongGeneratedObjectMatchesReference) {
  // One object of many rows through small buffers: compaction and growth on every refill.
  std::mt19937 rng(7);
  Dialect d;
  std::string input;
  while (input.size() < 200000) {
    std::string piece = GenerateCsv(rng, d);
    if (piece.starts_with("\xEF\xBB\xBF")) piece.erase(0, 3);  // data, not a mark, mid-object
    input += piece + "\n";
  }
  const TokenizeResult want = ReferenceTokenize(input, d, {});
  ASSERT_TRUE(want.ok) << "generator made bad CSV at byte " << want.error.byte_offset << " kind "
                       << CsvErrorKindName(want.error.kind) << ": "
                       << ::testing::PrintToString(input.substr(want.error.byte_offset - 40, 80));
  ASSERT_GT(want.rows.size(), 1000u);
  TokenizerOptions options;
  options.buffer_size = 256;
  ExpectSameOutcome(Tokenize(input, d, options, Chunking{Chunking::kRandom, 500, 1}), want, false);
}

TEST(ByteScan, FindsFirstDelimiterOrNewlineAndNothingPastTheEnd) {
  std::mt19937 rng(3);
  const char alphabet[] = {'a', 'b', ',', '\n', '"', '\xff', '\x80', '\0'};
  for (int iteration = 0; iteration < 2000; ++iteration) {
    const size_t length = std::uniform_int_distribution<size_t>(0, 70)(rng);
    // Bytes past the end are matches, to catch a scanner that reports one.
    std::string buffer(length + internal::kScanPadding, ',');
    for (size_t k = 0; k < length; ++k) buffer[k] = alphabet[rng() % sizeof(alphabet)];
    const char* begin = buffer.data();
    const char* end = begin + length;
    for (const char* p = begin; p <= end; ++p) {
      const char* want = p;
      while (want < end && *want != ',' && *want != '\n') ++want;
#if defined(__SSE2__)
      ASSERT_EQ(internal::FindEitherSse2(p, end, ',', '\n'), want);
#endif
      ASSERT_EQ(internal::FindEitherSwar(p, end, ',', '\n'), want);
      ASSERT_EQ(internal::FindEither(p, end, '\xff', '\x80') - p,
                std::find_if(p, end, [](char c) { return c == '\xff' || c == '\x80'; }) - p);
    }
  }
}

TEST(ByteScan, MatchMaskHasOneBitPerMatchingByte) {
  std::mt19937 rng(5);
  const char alphabet[] = {'a', ',', '\n', '"', '\xff', '\x80', '\0', '\x7f'};
  for (int iteration = 0; iteration < 2000; ++iteration) {
    char block[64];
    for (char& c : block) c = alphabet[rng() % sizeof(alphabet)];
    for (auto [a, b] : {std::pair{',', '\n'}, std::pair{'\xff', '\0'}, std::pair{'\x80', '\x7f'}}) {
      uint64_t want = 0;
      for (int i = 0; i < 64; ++i) {
        if (block[i] == a || block[i] == b) want |= uint64_t{1} << i;
      }
#if defined(__SSE2__)
      ASSERT_EQ(internal::MatchMask64Sse2(block, a, b), want);
#endif
      ASSERT_EQ(internal::MatchMask64Swar(block, a, b), want);
    }
  }
}

}  // namespace
}  // namespace opendms::csv

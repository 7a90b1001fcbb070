// Tokenizer semantics, one table per rule. Every table also runs with a source that delivers one
// byte per read and the smallest buffer, so each case crosses read and buffer boundaries.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "csv/csv.h"
#include "csv_test_util.h"

namespace opendms::csv {
namespace {

using test_util::Chunking;
using test_util::Fields;
using test_util::FieldsOf;
using test_util::MakeDialect;
using test_util::Q;
using test_util::RecordedRow;
using test_util::Tokenize;
using test_util::TokenizeResult;
using test_util::U;

constexpr RowDelimiter kLf = RowDelimiter::kLf;
constexpr RowDelimiter kCrLf = RowDelimiter::kCrLf;

struct RowsCase {
  std::string_view name;
  std::string input;
  std::vector<Fields> want;
};

// Runs each case whole and byte by byte with a tiny buffer; both must give `want`.
void ExpectRows(const Dialect& dialect, const std::vector<RowsCase>& cases) {
  TokenizerOptions small;
  small.buffer_size = Tokenizer::kMinBufferSize;
  for (const RowsCase& c : cases) {
    SCOPED_TRACE(std::string(c.name) + ": " + ::testing::PrintToString(c.input));
    TokenizeResult whole = Tokenize(c.input, dialect);
    ASSERT_TRUE(whole.ok) << whole.error.message;
    EXPECT_EQ(FieldsOf(whole.rows), c.want);
    TokenizeResult bytes = Tokenize(c.input, dialect, small, Chunking{Chunking::kFixed, 1});
    ASSERT_TRUE(bytes.ok) << bytes.error.message;
    EXPECT_EQ(bytes.rows, whole.rows);
  }
}

TEST(CsvTokenizer, RowsAndFieldsRfc4180) {
  ExpectRows(
      MakeDialect(',', kLf, true),
      {
          {"empty input", "", {}},
          {"one field", "a", {{U("a")}}},
          {"last row without delimiter", "a,b\nc,d", {{U("a"), U("b")}, {U("c"), U("d")}}},
          {"final delimiter makes no extra row", "a,b\n", {{U("a"), U("b")}}},
          {"empty line in the middle", "a\n\nb\n", {{U("a")}, {U("")}, {U("b")}}},
          {"only a row delimiter", "\n", {{U("")}}},
          {"two empty lines", "\n\n", {{U("")}, {U("")}}},
          {"unquoted empty fields", ",,\n", {{U(""), U(""), U("")}}},
          {"trailing empty field", "a,\n", {{U("a"), U("")}}},
          {"trailing empty field at end", "a,", {{U("a"), U("")}}},
          {"quoted empty string", "\"\",a", {{Q(""), U("a")}}},
          {"quoted delimiter", "\"a,b\",c", {{Q("a,b"), U("c")}}},
          {"quoted newline stays in field", "\"a\nb\",c\nd", {{Q("a\nb"), U("c")}, {U("d")}}},
          {"doubled quote", "\"a\"\"b\"", {{Q("a\"b")}}},
          {"only a doubled quote", "\"\"\"\"", {{Q("\"")}}},
          {"escapes in several fields",
           "\"a\"\"\",\"\"\"b\",\"c\",\"\"\"\"\"\"",
           {{Q("a\""), Q("\"b"), Q("c"), Q("\"\"")}}},
          {"quoted field at end of input", "a,\"b\"", {{U("a"), Q("b")}}},
          {"quoted field then row delimiter", "\"a\"\n\"b\"\n", {{Q("a")}, {Q("b")}}},
          {"quote inside unquoted field is data", "a\"b,c", {{U("a\"b"), U("c")}}},
          {"quote ending unquoted field is data", "ab\",c", {{U("ab\""), U("c")}}},
          {"space before quote makes it unquoted", " \"a\",b", {{U(" \"a\""), U("b")}}},
          {"spaces kept", " a , b ", {{U(" a "), U(" b ")}}},
          {"cr is data with lf rows", "a\r\nb\r", {{U("a\r")}, {U("b\r")}}},
          {"long fields cross scan words",
           "abcdefghijklmnopqrstuvwxyz0123456789,x\n0123456789abcdef,0123456789abcdefg",
           {{U("abcdefghijklmnopqrstuvwxyz0123456789"), U("x")},
            {U("0123456789abcdef"), U("0123456789abcdefg")}}},
          {"utf-8 passes through", "é,日本\n", {{U("é"), U("日本")}}},
          {"invalid utf-8 passes through", "\xff\xfe,\xc3", {{U("\xff\xfe"), U("\xc3")}}},
          {"nul bytes are data", std::string("a\0b,c", 5), {{U(std::string("a\0b", 3)), U("c")}}},
      });
}

TEST(CsvTokenizer, ByteOrderMarkSkippedOnlyAtObjectStart) {
  ExpectRows(
      MakeDialect(),
      {
          {"bom then row",
           "\xEF\xBB\xBF"
           "a,b\n",
           {{U("a"), U("b")}}},
          {"bom alone", "\xEF\xBB\xBF", {}},
          {"bom then quoted field", "\xEF\xBB\xBF\"a\"", {{Q("a")}}},
          {"bom in a later row is data",
           "a\n\xEF\xBB\xBF"
           "b",
           {{U("a")},
            {U("\xEF\xBB\xBF"
               "b")}}},
          {"two boms: the second is data", "\xEF\xBB\xBF\xEF\xBB\xBF", {{U("\xEF\xBB\xBF")}}},
          {"partial bom is data",
           "\xEF\xBB"
           "a",
           {{U("\xEF\xBB"
               "a")}}},
      });
}

TEST(CsvTokenizer, OtherDelimiters) {
  ExpectRows(MakeDialect('\t'), {{"tab", "a\tb,c\t\"d\te\"", {{U("a"), U("b,c"), Q("d\te")}}}});
  ExpectRows(MakeDialect('|'), {{"pipe", "|a|\n", {{U(""), U("a"), U("")}}}});
  ExpectRows(MakeDialect('\r'), {{"cr with lf rows", "a\rb\n", {{U("a"), U("b")}}}});
}

TEST(CsvTokenizer, QuotesAreOrdinaryBytesWithoutRfc4180) {
  ExpectRows(MakeDialect(',', kLf, false),
             {
                 {"delimiter in quotes splits", "\"a,b\",c", {{U("\"a"), U("b\""), U("c")}}},
                 {"newline in quotes ends the row", "\"a\nb\"", {{U("\"a")}, {U("b\"")}}},
                 {"doubled quotes kept", "\"\",a\"\"b", {{U("\"\""), U("a\"\"b")}}},
                 {"unbalanced quote", "\"abc\n", {{U("\"abc")}}},
                 {"text after closing quote", "\"a\"b,c", {{U("\"a\"b"), U("c")}}},
             });
}

TEST(CsvTokenizer, CrLfRowsEndOnlyAtThePair) {
  ExpectRows(MakeDialect(',', kCrLf, true),
             {
                 {"two rows", "a,b\r\nc\r\n", {{U("a"), U("b")}, {U("c")}}},
                 {"lone lf is data", "a\nb\r\nc", {{U("a\nb")}, {U("c")}}},
                 {"lone cr is data", "a\rb\r\n", {{U("a\rb")}}},
                 {"cr at end of input is data", "a\r", {{U("a\r")}}},
                 {"cr then crlf", "\r\r\n", {{U("\r")}}},
                 {"lf then crlf", "\n\r\n", {{U("\n")}}},
                 {"empty lines", "\r\n\r\n", {{U("")}, {U("")}}},
                 {"trailing empty field", "a,\r\n", {{U("a"), U("")}}},
                 {"cr before delimiter", "a\r,b", {{U("a\r"), U("b")}}},
                 {"quoted crlf is data", "\"x\r\ny\"\r\nz", {{Q("x\r\ny")}, {U("z")}}},
                 {"quoted field then crlf", "\"a\"\r\n\"b\"", {{Q("a")}, {Q("b")}}},
                 {"lf inside long unquoted field",
                  "0123456789abcdef\n0123456789abcdef\r\nx",
                  {{U("0123456789abcdef\n0123456789abcdef")}, {U("x")}}},
             });
  ExpectRows(MakeDialect(',', kCrLf, false),
             {{"no quoting", "\"a\r\nb\",c\r\n", {{U("\"a")}, {U("b\""), U("c")}}}});
}

TEST(CsvTokenizer, RowInfoGivesLinesOffsetsAndRawBytes) {
  const std::string input = "h1,h2\n\"a\nb\",c\r\n\nlast";
  TokenizeResult r = Tokenize(input, MakeDialect());
  ASSERT_TRUE(r.ok);
  const std::vector<RecordedRow> want = {
      {{U("h1"), U("h2")}, 1, 0, "h1,h2", 6, 2},
      {{Q("a\nb"), U("c\r")}, 2, 6, "\"a\nb\",c\r", 15, 4},
      {{U("")}, 4, 15, "", 16, 5},
      {{U("last")}, 5, 16, "last", 20, 6},
  };
  EXPECT_EQ(r.rows, want);
  EXPECT_EQ(r.stats.rows, 4u);
  EXPECT_EQ(r.stats.lines, 5u);
  EXPECT_EQ(r.stats.bytes, 20u);
  EXPECT_FALSE(r.stats.stopped);
}

TEST(CsvTokenizer, RowInfoCountsOnlyCrLfPairsAsLines) {
  TokenizeResult r = Tokenize("\"a\nb\r\nc\",d\r\ne\n\r\n", MakeDialect(',', kCrLf));
  ASSERT_TRUE(r.ok);
  const std::vector<RecordedRow> want = {
      {{Q("a\nb\r\nc"), U("d")}, 1, 0, "\"a\nb\r\nc\",d", 12, 3},
      {{U("e\n")}, 3, 12, "e\n", 16, 4},
  };
  EXPECT_EQ(r.rows, want);
  EXPECT_EQ(r.stats.lines, 3u);
}

TEST(CsvTokenizer, ByteOrderMarkCountsInOffsets) {
  TokenizeResult r = Tokenize(
      "\xEF\xBB\xBF"
      "a\nb",
      MakeDialect());
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].byte_offset, 3u);
  EXPECT_EQ(r.rows[0].line, 1u);
  EXPECT_EQ(r.rows[1].byte_offset, 5u);
  EXPECT_EQ(r.stats.bytes, 6u);
}

TEST(CsvTokenizer, HeaderRowsAreSkippedButCounted) {
  TokenizerOptions options;
  options.ignore_header_rows = 1;
  TokenizeResult r = Tokenize("\"h\n1\",h2\nx,y\n", MakeDialect(), options);
  ASSERT_TRUE(r.ok);
  const std::vector<RecordedRow> want = {{{U("x"), U("y")}, 3, 9, "x,y", 13, 4}};
  EXPECT_EQ(r.rows, want);
  EXPECT_EQ(r.stats.rows, 1u);
  EXPECT_EQ(r.stats.lines, 3u);

  options.ignore_header_rows = 5;
  r = Tokenize("a\nb\n", MakeDialect(), options);
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(r.rows.empty());
  EXPECT_EQ(r.stats.lines, 2u);
}

TEST(CsvTokenizer, HeaderRowsAreNotSkippedWhenResuming) {
  TokenizerOptions options;
  options.ignore_header_rows = 1;
  options.start_offset = 100;
  options.start_line = 7;
  TokenizeResult r = Tokenize(
      "\xEF\xBB\xBF"
      "a\nb",
      MakeDialect(), options);
  ASSERT_TRUE(r.ok);
  const std::vector<RecordedRow> want = {
      {{U("\xEF\xBB\xBF"
          "a")},
       7,
       100,
       "\xEF\xBB\xBF"
       "a",
       105,
       8},
      {{U("b")}, 8, 105, "b", 106, 9},
  };
  EXPECT_EQ(r.rows, want);
  EXPECT_EQ(r.stats.bytes, 6u);
  EXPECT_EQ(r.stats.lines, 2u);
}

TEST(CsvTokenizer, ResumingAtAnyRowGivesTheRestOfTheRows) {
  const std::string input =
      "\xEF\xBB\xBF"
      "id,name\n1,\"a\nb\"\n2,\"x\"\"y\"\n\n3,last";
  TokenizerOptions header;
  header.ignore_header_rows = 1;
  TokenizeResult full = Tokenize(input, MakeDialect(), header);
  ASSERT_TRUE(full.ok);
  ASSERT_EQ(full.rows.size(), 4u);
  for (size_t k = 0; k < full.rows.size(); ++k) {
    SCOPED_TRACE(k);
    TokenizerOptions resume = header;
    resume.start_offset = full.rows[k].next_offset;
    resume.start_line = full.rows[k].next_line;
    TokenizeResult rest = Tokenize(input.substr(resume.start_offset), MakeDialect(), resume);
    ASSERT_TRUE(rest.ok);
    EXPECT_EQ(rest.rows, std::vector<RecordedRow>(full.rows.begin() + k + 1, full.rows.end()));
  }
}

TEST(CsvTokenizer, SinkStopsEarly) {
  const std::string input = "a\n\"b\nc\"\nd\ne\n";
  TokenizeResult r = Tokenize(input, MakeDialect(), {}, {}, /*stop_after=*/2);
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_TRUE(r.stats.stopped);
  EXPECT_EQ(r.stats.rows, 2u);
  EXPECT_EQ(r.stats.bytes, 8u);
  EXPECT_EQ(r.stats.lines, 3u);
}

TEST(CsvTokenizer, IsReusableAcrossRuns) {
  Tokenizer tokenizer(MakeDialect(), TokenizerOptions{});
  for (const std::string& input :
       {std::string("a,\"b\"\"\"\n"), std::string("\"x"), std::string("a,\"b\"\"\"\n")}) {
    test_util::StringSource source(input, {});
    test_util::RecordingSink sink;
    const bool ok = tokenizer.Run(source, sink);
    if (input == "\"x") {
      EXPECT_FALSE(ok);
      EXPECT_TRUE(sink.rows.empty());
    } else {
      ASSERT_TRUE(ok) << tokenizer.error().message;
      EXPECT_EQ(FieldsOf(sink.rows), (std::vector<Fields>{{U("a"), Q("b\"")}}));
      EXPECT_EQ(tokenizer.stats().rows, 1u);
      EXPECT_EQ(tokenizer.stats().lines, 1u);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

struct ErrorCase {
  std::string_view name;
  std::string input;
  Dialect dialect;
  size_t good_rows;  // rows delivered before the error
  CsvErrorKind kind;
  uint64_t line;
  uint64_t byte_offset;
  uint64_t column;
  std::string message;
};

TEST(CsvTokenizer, QuotingErrorsSayWhere) {
  const ErrorCase cases[] = {
      {"unterminated quote", "a,b\nc,\"de\nf", MakeDialect(), 1, CsvErrorKind::kUnterminatedQuote,
       2, 6, 2, "unterminated quoted field starting at line 2, column 2 (byte offset 6)"},
      {"unterminated quote after a multi-line field", "\"x\ny\",\"z", MakeDialect(), 0,
       CsvErrorKind::kUnterminatedQuote, 1, 6, 2,
       "unterminated quoted field starting at line 2, column 2 (byte offset 6)"},
      {"lone quote", "\"", MakeDialect(), 0, CsvErrorKind::kUnterminatedQuote, 1, 0, 1,
       "unterminated quoted field starting at line 1, column 1 (byte offset 0)"},
      {"input ends after a doubled quote", "a,\"b\"\"", MakeDialect(), 0,
       CsvErrorKind::kUnterminatedQuote, 1, 2, 2,
       "unterminated quoted field starting at line 1, column 2 (byte offset 2)"},
      {"text after closing quote", "\"ab\"c,d", MakeDialect(), 0, CsvErrorKind::kInvalidQuoting, 1,
       4, 1,
       "invalid quoting at line 1, column 1 (byte offset 4): 'c' after the closing quote, "
       "expected the delimiter or the end of the row"},
      {"error on a later line", "a\n\"b\"x", MakeDialect(), 1, CsvErrorKind::kInvalidQuoting, 2, 5,
       1,
       "invalid quoting at line 2, column 1 (byte offset 5): 'x' after the closing quote, "
       "expected the delimiter or the end of the row"},
      {"third field after quoted newline", "a,\"b\nc\",\"d\" ", MakeDialect(), 0,
       CsvErrorKind::kInvalidQuoting, 1, 11, 3,
       "invalid quoting at line 2, column 3 (byte offset 11): ' ' after the closing quote, "
       "expected the delimiter or the end of the row"},
      {"cr after quote with lf rows", "\"a\"\r\n", MakeDialect(), 0, CsvErrorKind::kInvalidQuoting,
       1, 3, 1,
       "invalid quoting at line 1, column 1 (byte offset 3): byte 0x0d after the closing quote, "
       "expected the delimiter or the end of the row"},
      {"lone cr after quote with crlf rows", "\"a\"\rb", MakeDialect(',', kCrLf), 0,
       CsvErrorKind::kInvalidQuoting, 1, 3, 1,
       "invalid quoting at line 1, column 1 (byte offset 3): byte 0x0d after the closing quote, "
       "expected the delimiter or the end of the row"},
      {"cr at end after quote with crlf rows", "\"a\"\r", MakeDialect(',', kCrLf), 0,
       CsvErrorKind::kInvalidQuoting, 1, 3, 1,
       "invalid quoting at line 1, column 1 (byte offset 3): byte 0x0d after the closing quote, "
       "expected the delimiter or the end of the row"},
      {"lone lf after quote with crlf rows", "x\r\n\"a\"\nb", MakeDialect(',', kCrLf), 1,
       CsvErrorKind::kInvalidQuoting, 2, 6, 1,
       "invalid quoting at line 2, column 1 (byte offset 6): byte 0x0a after the closing quote, "
       "expected the delimiter or the end of the row"},
  };
  TokenizerOptions small;
  small.buffer_size = Tokenizer::kMinBufferSize;
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(std::string(c.name) + ": " + ::testing::PrintToString(c.input));
    for (Chunking chunking : {Chunking{}, Chunking{Chunking::kFixed, 1}}) {
      TokenizeResult r = Tokenize(c.input, c.dialect, small, chunking);
      ASSERT_FALSE(r.ok);
      EXPECT_EQ(r.rows.size(), c.good_rows);
      EXPECT_EQ(r.stats.rows, c.good_rows);
      EXPECT_EQ(CsvErrorKindName(r.error.kind), CsvErrorKindName(c.kind));
      EXPECT_EQ(r.error.line, c.line);
      EXPECT_EQ(r.error.byte_offset, c.byte_offset);
      EXPECT_EQ(r.error.column, c.column);
      EXPECT_EQ(r.error.message, c.message);
    }
  }
}

TEST(CsvTokenizer, RowsFarLongerThanTheBufferWork) {
  // A 300 KB row of quoted fields with escapes and newlines, read 1000 bytes at a time through a
  // 64-byte buffer, between two short rows.
  std::string big_row;
  Fields want_fields;
  for (int i = 0; i < 3000; ++i) {
    std::string value = "v" + std::to_string(i) + std::string(60, 'x') + "\"\n,";
    want_fields.push_back(Q(value));
    std::string escaped;
    for (char ch : value) escaped += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    big_row += (i ? "," : "") + ("\"" + escaped + "\"");
  }
  const std::string input = "first\n" + big_row + "\nlast";
  TokenizerOptions options;
  options.buffer_size = Tokenizer::kMinBufferSize;
  TokenizeResult r = Tokenize(input, MakeDialect(), options, Chunking{Chunking::kFixed, 1000});
  ASSERT_TRUE(r.ok) << r.error.message;
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[1].fields, want_fields);
  EXPECT_EQ(r.rows[1].raw, big_row);
  EXPECT_EQ(r.rows[1].line, 2u);
  EXPECT_EQ(r.rows[2].line, 3u + 3000);
  EXPECT_EQ(r.rows[2].fields, (Fields{U("last")}));
}

TEST(CsvTokenizer, RowLongerThanMaxRowBytesIsAnError) {
  TokenizerOptions options;
  options.buffer_size = Tokenizer::kMinBufferSize;
  options.max_row_bytes = 100;
  const std::string ok_row(100, 'a');
  const std::string long_row(101, 'b');
  for (Chunking chunking : {Chunking{}, Chunking{Chunking::kFixed, 1}}) {
    TokenizeResult r = Tokenize(ok_row + "\n" + ok_row, MakeDialect(), options, chunking);
    ASSERT_TRUE(r.ok) << r.error.message;
    EXPECT_EQ(r.rows.size(), 2u);

    for (const std::string& tail : {std::string("\n"), std::string(""), std::string(1000, 'c')}) {
      r = Tokenize("x\n" + ok_row + "\n" + long_row + tail, MakeDialect(), options, chunking);
      ASSERT_FALSE(r.ok);
      EXPECT_EQ(r.error.kind, CsvErrorKind::kRowTooLong);
      EXPECT_EQ(r.error.line, 3u);
      EXPECT_EQ(r.error.byte_offset, 103u);
      EXPECT_EQ(r.error.column, 0u);
      EXPECT_EQ(r.error.message,
                "row starting at line 3 (byte offset 103) is longer than 100 bytes");
      EXPECT_EQ(r.rows.size(), 2u);
      EXPECT_EQ(r.stats.bytes, 103u);
    }
  }
}

TEST(CsvTokenizer, QuotingErrorBeyondMaxRowBytesIsRowTooLong) {
  // Whatever the read sizes, a row is judged through a window of max_row_bytes + 2 bytes.
  TokenizerOptions options;
  options.max_row_bytes = 100;
  for (size_t buffer_size : {size_t{64}, size_t{1} << 20}) {
    options.buffer_size = buffer_size;
    SCOPED_TRACE(buffer_size);
    TokenizeResult r = Tokenize("\"" + std::string(200, 'a'), MakeDialect(), options);
    EXPECT_EQ(r.error.kind, CsvErrorKind::kRowTooLong);
    r = Tokenize("\"" + std::string(200, 'a') + "\"x", MakeDialect(), options);
    EXPECT_EQ(r.error.kind, CsvErrorKind::kRowTooLong);
    r = Tokenize("\"" + std::string(50, 'a'), MakeDialect(), options);
    EXPECT_EQ(r.error.kind, CsvErrorKind::kUnterminatedQuote);
  }
}

TEST(CsvTokenizer, ReadErrorKeepsTheSourceStatus) {
  std::string data = "a,b\nc,";
  size_t calls = 0;
  auto source = [&](char* dst, size_t capacity) -> Result<size_t> {
    if (calls++ == 0) {
      std::memcpy(dst, data.data(), data.size());
      return data.size();
    }
    return Status::ConnectionError("connection reset by peer");
  };
  Tokenizer tokenizer(MakeDialect(), TokenizerOptions{});
  test_util::RecordingSink sink;
  ASSERT_FALSE(tokenizer.Run(source, sink));
  const CsvError& e = tokenizer.error();
  EXPECT_EQ(e.kind, CsvErrorKind::kReadError);
  EXPECT_EQ(e.byte_offset, 6u);
  EXPECT_EQ(e.message, "read error at byte offset 6: connection reset by peer");
  EXPECT_TRUE(e.source_status.IsConnectionError());
  // The rows before the error are tokenized only once the buffer is full or the input ends, so
  // none were delivered here.
  EXPECT_TRUE(sink.rows.empty());
  EXPECT_EQ(tokenizer.stats().bytes, 0u);
}

TEST(CsvTokenizer, ReadErrorAfterSomeBuffersLeavesEarlierRowsDelivered) {
  const std::string data = "row1\nrow2\nrow3\n" + std::string(100, 'x');
  size_t pos = 0;
  auto source = [&](char* dst, size_t capacity) -> Result<size_t> {
    if (pos >= 80) return Status::IoError("disk gone");
    const size_t n = std::min<size_t>(capacity, 16);
    std::memcpy(dst, data.data() + pos, n);
    pos += n;
    return n;
  };
  TokenizerOptions options;
  options.buffer_size = Tokenizer::kMinBufferSize;
  Tokenizer tokenizer(MakeDialect(), options);
  test_util::RecordingSink sink;
  ASSERT_FALSE(tokenizer.Run(source, sink));
  EXPECT_EQ(tokenizer.error().kind, CsvErrorKind::kReadError);
  EXPECT_EQ(tokenizer.error().line, 4u);
  EXPECT_EQ(tokenizer.error().byte_offset, pos);  // every byte delivered before the failure
  EXPECT_TRUE(tokenizer.error().source_status.IsIoError());
  EXPECT_EQ(sink.rows.size(), 3u);
  EXPECT_EQ(tokenizer.stats().bytes, 15u);
}

}  // namespace
}  // namespace opendms::csv

#include <gtest/gtest.h>

#include "csv/csv.h"

namespace opendms::csv {
namespace {

struct FromDmsCase {
  std::string_view name;
  std::string_view delimiter;
  std::string_view row_delimiter;
  bool rfc4180;
  char want_delimiter;
  RowDelimiter want_rows;
};

TEST(Dialect, FromDmsAcceptsDmsSpellings) {
  const FromDmsCase cases[] = {
      {"defaults", ",", "\n", true, ',', RowDelimiter::kLf},
      {"escaped newline", ",", "\\n", true, ',', RowDelimiter::kLf},
      {"crlf", ";", "\r\n", true, ';', RowDelimiter::kCrLf},
      {"escaped crlf", "|", "\\r\\n", false, '|', RowDelimiter::kCrLf},
      {"tab", "\t", "\n", true, '\t', RowDelimiter::kLf},
      {"escaped tab", "\\t", "\n", true, '\t', RowDelimiter::kLf},
      {"backslash alone", "\\", "\n", true, '\\', RowDelimiter::kLf},
      {"quote without rfc4180", "\"", "\n", false, '"', RowDelimiter::kLf},
      {"cr with lf rows", "\r", "\n", true, '\r', RowDelimiter::kLf},
  };
  for (const FromDmsCase& c : cases) {
    SCOPED_TRACE(c.name);
    Result<Dialect> d = Dialect::FromDms(c.delimiter, c.row_delimiter, c.rfc4180);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->delimiter, c.want_delimiter);
    EXPECT_EQ(d->row_delimiter, c.want_rows);
    EXPECT_EQ(d->rfc4180, c.rfc4180);
    EXPECT_EQ(d->quote, '"');
  }
}

struct FromDmsErrorCase {
  std::string_view name;
  std::string_view delimiter;
  std::string_view row_delimiter;
  bool rfc4180;
  std::string_view message;  // exact InvalidArgument message
};

TEST(Dialect, FromDmsRejectsWhatCannotBeADelimiter) {
  const FromDmsErrorCase cases[] = {
      {"empty delimiter", "", "\n", true,
       R"(CsvDelimiter must be a single character (or "\t"), got "")"},
      {"two characters", ",,", "\n", true,
       R"(CsvDelimiter must be a single character (or "\t"), got ",,")"},
      {"other escape", "\\n", "\n", true,
       R"(CsvDelimiter must be a single character (or "\t"), got "\n")"},
      {"cr alone", ",", "\r", true, R"(CsvRowDelimiter must be "\n" or "\r\n", got "\r")"},
      {"escaped cr alone", ",", "\\r", true, R"(CsvRowDelimiter must be "\n" or "\r\n", got "\r")"},
      {"empty row delimiter", ",", "", true, R"(CsvRowDelimiter must be "\n" or "\r\n", got "")"},
      {"delimiter is newline", "\n", "\n", true,
       R"(CsvDelimiter "\n" is part of the row delimiter)"},
      {"delimiter is cr with crlf rows", "\r", "\r\n", false,
       R"(CsvDelimiter "\r" is part of the row delimiter)"},
      {"delimiter is the quote", "\"", "\n", true,
       R"(CsvDelimiter """ is the quote character, which Rfc4180 reserves)"},
  };
  for (const FromDmsErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    Result<Dialect> d = Dialect::FromDms(c.delimiter, c.row_delimiter, c.rfc4180);
    ASSERT_FALSE(d.ok());
    EXPECT_TRUE(d.status().IsInvalidArgument());
    EXPECT_EQ(d.status().message(), c.message);
  }
}

TEST(Dialect, ValidateRejectsQuoteThatEndsRows) {
  Dialect d;
  d.quote = '\n';
  EXPECT_FALSE(d.Validate().ok());
  d.rfc4180 = false;  // the quote is not used then
  EXPECT_TRUE(d.Validate().ok());
}

TEST(CsvErrorKind, HasStableNames) {
  EXPECT_EQ(CsvErrorKindName(CsvErrorKind::kUnterminatedQuote), "UnterminatedQuote");
  EXPECT_EQ(CsvErrorKindName(CsvErrorKind::kInvalidQuoting), "InvalidQuoting");
  EXPECT_EQ(CsvErrorKindName(CsvErrorKind::kRowTooLong), "RowTooLong");
  EXPECT_EQ(CsvErrorKindName(CsvErrorKind::kReadError), "ReadError");
}

}  // namespace
}  // namespace opendms::csv

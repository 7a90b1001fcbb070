#include "engine/value_codec.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "pg/pg.h"
#include "support/pg_test_server.h"

namespace opendms::engine {
namespace {

// ---------------------------------------------------------------------------------------------
// Column builders
// ---------------------------------------------------------------------------------------------

ColumnDefinition Col(DmsType type, bool nullable = true) {
  ColumnDefinition c;
  c.name = "c";
  c.type = type;
  c.nullable = nullable;
  return c;
}

ColumnDefinition Numeric(int precision, int scale) {
  ColumnDefinition c = Col(DmsType::kNumeric);
  c.precision = precision;
  c.scale = scale;
  c.scale_given = true;
  return c;
}

ColumnDefinition Sized(DmsType type, int64_t length) {
  ColumnDefinition c = Col(type);
  c.length = length;
  return c;
}

ColumnDefinition DateTime(DmsType type, std::string format = "", int scale = -1) {
  ColumnDefinition c = Col(type);
  c.date_format = std::move(format);
  if (scale >= 0) {
    c.scale = scale;
    c.scale_given = true;
  }
  return c;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

std::string WithoutSpaces(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != ' ') out += c;
  }
  return out;
}

// One conversion: the column, the field, and either the expected output (hex for binary, the
// bytes themselves for text) or the expected issue.
struct Case {
  ColumnDefinition column;
  std::string input;
  std::string expected;  // binary: hex, spaces ignored; text: literal
  DataErrorKind issue = DataErrorKind::kNone;
  std::string message_part = {};
  bool is_null = false;
};

Case Null(ColumnDefinition column, std::string input, std::string expected) {
  return {std::move(column), std::move(input), std::move(expected), DataErrorKind::kNone, "", true};
}

void RunCases(CopyFormat format, const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(DmsTypeName(c.column.type)) + " input '" + c.input + "'");
    Result<ColumnEncoder> encoder = ColumnEncoder::Make(c.column, format);
    ASSERT_TRUE(encoder.ok()) << encoder.status().ToString();
    std::string out = "prefix";  // Encode appends
    ValueIssue issue = encoder->Encode(c.input, c.is_null, out);
    EXPECT_EQ(DataErrorKindName(issue.kind), DataErrorKindName(c.issue)) << issue.message;
    EXPECT_NE(issue.message.find(c.message_part), std::string::npos)
        << "message: " << issue.message << "\nexpected part: " << c.message_part;
    ASSERT_EQ(out.substr(0, 6), "prefix");
    std::string appended = out.substr(6);
    // EncodeTo writes the same bytes, within MaxEncodedSize, and returns the same kind.
    std::string room(encoder->MaxEncodedSize(c.input.size()), '?');
    char* end = room.data();
    EXPECT_EQ(DataErrorKindName(encoder->EncodeTo(c.input, c.is_null, end)),
              DataErrorKindName(issue.kind));
    ASSERT_LE(end - room.data(), static_cast<ptrdiff_t>(room.size()));
    EXPECT_EQ(Hex(std::string_view(room.data(), static_cast<size_t>(end - room.data()))),
              Hex(appended));
    if (format == CopyFormat::kBinary) {
      EXPECT_EQ(Hex(appended), WithoutSpaces(c.expected));
    } else {
      EXPECT_EQ(appended, c.expected);
    }
  }
}

const DataErrorKind kInvalid = DataErrorKind::kInvalidValue;
const DataErrorKind kRange = DataErrorKind::kOutOfRange;
const DataErrorKind kTrunc = DataErrorKind::kTruncation;
const DataErrorKind kUtf8 = DataErrorKind::kInvalidUtf8;

// ---------------------------------------------------------------------------------------------
// NULLs
// ---------------------------------------------------------------------------------------------

TEST(ColumnEncoder, EmptyFieldIsNullExceptForTextTypes) {
  RunCases(CopyFormat::kBinary,
           {
               {Col(DmsType::kInt4), "", "ffffffff"},
               {Numeric(5, 2), "", "ffffffff"},
               {Col(DmsType::kDate), "", "ffffffff"},
               {Col(DmsType::kBoolean), "", "ffffffff"},
               {Col(DmsType::kBlob), "", "ffffffff"},
               Null(Col(DmsType::kInt4), "", "ffffffff"),
               {Sized(DmsType::kString, 10), "", "00000000"},  // "" is an empty string
               {Col(DmsType::kClob), "", "00000000"},
               {Col(DmsType::kNClob), "", "00000000"},
               {Sized(DmsType::kWString, 10), "", "00000000"},
               Null(Sized(DmsType::kString, 10), "", "ffffffff"),
               Null(Col(DmsType::kClob), "", "ffffffff"),
           });
  RunCases(CopyFormat::kText, {
                                  {Col(DmsType::kInt8), "", "\\N"},
                                  {Sized(DmsType::kString, 10), "", ""},
                                  Null(Sized(DmsType::kString, 10), "", "\\N"),
                              });
}

TEST(ColumnEncoder, NullInNotNullColumnIsAnIssueAndAppendsNothing) {
  const DataErrorKind kNull = DataErrorKind::kNullNotAllowed;
  for (CopyFormat format : {CopyFormat::kBinary, CopyFormat::kText}) {
    RunCases(format, {
                         {Col(DmsType::kInt4, false), "", "", kNull, "NOT NULL"},
                         {Col(DmsType::kDateTime, false), "", "", kNull, "NOT NULL"},
                         Case{Col(DmsType::kClob, false), "", "", kNull, "NOT NULL", true},
                     });
  }
  // An empty text field is an empty string, not NULL.
  RunCases(CopyFormat::kBinary, {{Col(DmsType::kClob, false), "", "00000000"}});
  RunCases(CopyFormat::kText, {{Col(DmsType::kClob, false), "", ""}});
}

// ---------------------------------------------------------------------------------------------
// Integers
// ---------------------------------------------------------------------------------------------

TEST(ColumnEncoder, IntegersBinary) {
  RunCases(CopyFormat::kBinary,
           {
               {Col(DmsType::kInt2), "123", "00000002 007b"},
               {Col(DmsType::kInt2), "-1", "00000002 ffff"},
               {Col(DmsType::kInt1), "-128", "00000002 ff80"},
               {Col(DmsType::kInt1), "127", "00000002 007f"},
               {Col(DmsType::kUint1), "255", "00000002 00ff"},
               {Col(DmsType::kInt2), "-32768", "00000002 8000"},
               {Col(DmsType::kUint2), "65535", "00000004 0000ffff"},
               {Col(DmsType::kInt4), "+7", "00000004 00000007"},
               {Col(DmsType::kInt4), "-2147483648", "00000004 80000000"},
               {Col(DmsType::kInt4), "000042", "00000004 0000002a"},
               {Col(DmsType::kUint4), "4294967295", "00000008 00000000ffffffff"},
               {Col(DmsType::kInt8), "9223372036854775807", "00000008 7fffffffffffffff"},
               {Col(DmsType::kInt8), "-9223372036854775808", "00000008 8000000000000000"},
               {Col(DmsType::kUint8), "9223372036854775807", "00000008 7fffffffffffffff"},
               {Col(DmsType::kInt4), "-0", "00000004 00000000"},
           });
}

TEST(ColumnEncoder, IntegersOutOfRange) {
  RunCases(CopyFormat::kBinary,
           {
               {Col(DmsType::kInt1), "128", "", kRange, "value 128 out of range for INT1"},
               {Col(DmsType::kInt1), "-129", "", kRange, "(-128..127)"},
               {Col(DmsType::kUint1), "-1", "", kRange, "out of range for UINT1 (0..255)"},
               {Col(DmsType::kUint1), "256", "", kRange, "UINT1"},
               {Col(DmsType::kInt2), "40000", "", kRange, "value 40000 out of range for INT2"},
               {Col(DmsType::kUint2), "65536", "", kRange, "UINT2"},
               {Col(DmsType::kInt4), "2147483648", "", kRange, "INT4"},
               {Col(DmsType::kUint4), "4294967296", "", kRange, "UINT4"},
               {Col(DmsType::kUint4), "-1", "", kRange, "UINT4"},
               {Col(DmsType::kInt8), "9223372036854775808", "", kRange, "INT8"},
               {Col(DmsType::kInt8), "-99999999999999999999", "", kRange, "INT8"},
               {Col(DmsType::kUint8), "9223372036854775808", "", kRange,
                "out of range for UINT8 (0..9223372036854775807)"},
               {Col(DmsType::kUint8), "18446744073709551615", "", kRange, "UINT8"},
           });
}

TEST(ColumnEncoder, IntegersInvalid) {
  std::vector<Case> cases;
  for (std::string bad :
       {"abc", "1.5", "1.0", " 1", "1 ", "+-1", "-", "+", "1e3", "0x10", "--1", "1_000", "١"}) {
    cases.push_back({Col(DmsType::kInt4), bad, "", kInvalid, "'" + bad + "' is not a valid INT4"});
  }
  cases.push_back({Col(DmsType::kInt8), "99999999999999999999x", "", kInvalid, "INT8"});
  RunCases(CopyFormat::kBinary, cases);
}

TEST(ColumnEncoder, IntegersText) {
  RunCases(CopyFormat::kText, {
                                  {Col(DmsType::kInt4), "+007", "7"},
                                  {Col(DmsType::kInt2), "-32768", "-32768"},
                                  {Col(DmsType::kInt8), "-0", "0"},
                              });
}

// ---------------------------------------------------------------------------------------------
// NUMERIC
// ---------------------------------------------------------------------------------------------

TEST(ColumnEncoder, NumericBinary) {
  // ndigits, weight, sign, dscale, then base-10000 digits.
  RunCases(CopyFormat::kBinary,
           {
               {Numeric(12, 2), "123.45", "0000000c 0002 0000 0000 0002 007b 1194"},
               {Numeric(12, 2), "-123.45", "0000000c 0002 0000 4000 0002 007b 1194"},
               {Numeric(10, 4), "-0.0001", "0000000a 0001 ffff 4000 0004 0001"},
               {Numeric(10, 2), "99999999.99", "0000000e 0003 0001 0000 0002 270f 270f 26ac"},
               {Numeric(10, 5), "1e-5", "0000000a 0001 fffe 0000 0005 03e8"},
               {Numeric(10, 5), "0.00001", "0000000a 0001 fffe 0000 0005 03e8"},
               {Numeric(5, 2), "0", "00000008 0000 0000 0000 0002"},
               {Numeric(5, 2), "-0.00", "00000008 0000 0000 0000 0002"},
               {Numeric(5, 2), "-0.001", "00000008 0000 0000 0000 0002"},  // rounds to +0
               {Numeric(10, 0), "1e3", "0000000a 0001 0000 0000 0000 03e8"},
               {Numeric(10, 0), "1E+3", "0000000a 0001 0000 0000 0000 03e8"},
               {Numeric(10, 0), "12345", "0000000c 0002 0001 0000 0000 0001 0929"},
               {Numeric(10, 0), "10000", "0000000a 0001 0001 0000 0000 0001"},
               {Numeric(10, 0), "+00010000.4", "0000000a 0001 0001 0000 0000 0001"},
               {Numeric(10, 2), "0.5", "0000000a 0001 ffff 0000 0002 1388"},
               {Numeric(10, 2), ".5", "0000000a 0001 ffff 0000 0002 1388"},
               {Numeric(10, 2), "5.", "0000000a 0001 0000 0000 0002 0005"},
               {Numeric(5, 2), "NaN", "00000008 0000 0000 c000 0000"},
               {Numeric(5, 2), "nan", "00000008 0000 0000 c000 0000"},
               // 38 digits: 10 base-10000 digits (2 + 9 × 4 decimal digits).
               {Numeric(38, 0), "12345678901234567890123456789012345678",
                "0000001c 000a 0009 0000 0000 000c 0d80 1ed2 04d2 162e 2334 0d80 1ed2 04d2 162e"},
           });
}

TEST(ColumnEncoder, NumericRoundsHalfAwayFromZero) {
  RunCases(CopyFormat::kText, {
                                  {Numeric(5, 2), "1.005", "1.01"},
                                  {Numeric(5, 2), "-1.005", "-1.01"},
                                  {Numeric(5, 2), "1.0049999", "1.00"},
                                  {Numeric(5, 2), "0.004", "0.00"},
                                  {Numeric(5, 2), "0.005", "0.01"},
                                  {Numeric(5, 2), "-0.005", "-0.01"},
                                  {Numeric(5, 2), "9.995", "10.00"},
                                  {Numeric(5, 2), "999.994", "999.99"},
                                  {Numeric(5, 0), "0.5", "1"},
                                  {Numeric(5, 0), "-2.5", "-3"},
                                  {Numeric(5, 0), "99999.4", "99999"},
                                  {Numeric(5, 2), "1e-9", "0.00"},
                                  {Numeric(5, 2), "1e-1000000000", "0.00"},
                              });
}

TEST(ColumnEncoder, NumericText) {
  RunCases(CopyFormat::kText,
           {
               {Numeric(12, 2), "123.4", "123.40"},
               {Numeric(12, 2), "00012.3400", "12.34"},
               {Numeric(12, 2), "1e3", "1000.00"},
               {Numeric(12, 2), "-1.5E-1", "-0.15"},
               {Numeric(12, 0), "120", "120"},
               {Numeric(4, 4), "0.1234", "0.1234"},
               {Numeric(5, 2), "NaN", "NaN"},
               {Numeric(10, 4), "-0.0001", "-0.0001"},
               // Fraction digits that are 2^64 as a number: not zero.
               {Numeric(38, 30), "-0.18446744073709551616", "-0.184467440737095516160000000000"},
           });
}

TEST(ColumnEncoder, NumericOutOfRangeAndInvalid) {
  RunCases(CopyFormat::kBinary,
           {
               {Numeric(5, 2), "1000", "", kRange,
                "value 1000 out of range for NUMERIC(5,2) (at most 3 digits before"},
               {Numeric(5, 2), "999.995", "", kRange, "NUMERIC(5,2)"},  // rounds to 1000.00
               {Numeric(3, 2), "9.995", "", kRange, "NUMERIC(3,2)"},
               {Numeric(2, 2), "1", "", kRange, "NUMERIC(2,2)"},
               {Numeric(2, 2), "0.995", "", kRange, "NUMERIC(2,2)"},
               {Numeric(10, 0), "1e10", "", kRange, "NUMERIC(10,0)"},
               {Numeric(38, 0), "1e999999999999", "", kRange, "NUMERIC(38,0)"},
               {Numeric(10, 0), "Infinity", "", kRange, "infinite"},
               {Numeric(10, 0), "-inf", "", kRange, "infinite"},
               {Numeric(5, 2), "abc", "", kInvalid, "'abc' is not a valid NUMERIC(5,2)"},
               {Numeric(5, 2), "1.2.3", "", kInvalid, "NUMERIC"},
               {Numeric(5, 2), ".", "", kInvalid, "NUMERIC"},
               {Numeric(5, 2), "-", "", kInvalid, "NUMERIC"},
               {Numeric(5, 2), "1e", "", kInvalid, "NUMERIC"},
               {Numeric(5, 2), "e5", "", kInvalid, "NUMERIC"},
               {Numeric(5, 2), " 1", "", kInvalid, "NUMERIC"},
               {Numeric(5, 2), "1,5", "", kInvalid, "NUMERIC"},
               {Numeric(5, 2), "+NaN", "", kInvalid, "NUMERIC"},
           });
}

TEST(ColumnEncoder, NumericRejectsBadDefinitions) {
  EXPECT_FALSE(ColumnEncoder::Make(Numeric(0, 0), CopyFormat::kBinary).ok());
  EXPECT_FALSE(ColumnEncoder::Make(Numeric(39, 0), CopyFormat::kBinary).ok());
  EXPECT_FALSE(ColumnEncoder::Make(Numeric(5, 6), CopyFormat::kBinary).ok());
}

// ---------------------------------------------------------------------------------------------
// REAL4 / REAL8 / BOOLEAN
// ---------------------------------------------------------------------------------------------

TEST(ColumnEncoder, FloatsBinary) {
  RunCases(CopyFormat::kBinary,
           {
               {Col(DmsType::kReal4), "1.5", "00000004 3fc00000"},
               {Col(DmsType::kReal4), "+1.5", "00000004 3fc00000"},
               {Col(DmsType::kReal8), "1.5", "00000008 3ff8000000000000"},
               {Col(DmsType::kReal8), "15e-1", "00000008 3ff8000000000000"},
               {Col(DmsType::kReal8), "-Infinity", "00000008 fff0000000000000"},
               {Col(DmsType::kReal8), "NaN", "00000008 7ff8000000000000"},
               {Col(DmsType::kReal4), "inf", "00000004 7f800000"},
               {Col(DmsType::kReal4), "Infinity", "00000004 7f800000"},
               {Col(DmsType::kReal4), "1e39", "", kRange, "value 1e39 out of range for REAL4"},
               {Col(DmsType::kReal8), "1e400", "", kRange, "REAL8"},
               {Col(DmsType::kReal4), "1e-50", "", kRange, "REAL4"},  // underflow, as PostgreSQL
               {Col(DmsType::kReal4), "1e-45", "00000004 00000001"},  // the smallest denormal
               {Col(DmsType::kReal8), "abc", "", kInvalid, "'abc' is not a valid REAL8"},
               {Col(DmsType::kReal8), "1.5x", "", kInvalid, "REAL8"},
               {Col(DmsType::kReal8), " 1.5", "", kInvalid, "REAL8"},
               {Col(DmsType::kReal8), "+-1", "", kInvalid, "REAL8"},
               {Col(DmsType::kReal8), "1,5", "", kInvalid, "REAL8"},
           });
}

TEST(ColumnEncoder, FloatsText) {
  RunCases(CopyFormat::kText, {
                                  {Col(DmsType::kReal8), "0.1", "0.1"},
                                  {Col(DmsType::kReal8), "Infinity", "Infinity"},
                                  {Col(DmsType::kReal8), "-inf", "-Infinity"},
                                  {Col(DmsType::kReal8), "nan", "NaN"},
                                  {Col(DmsType::kReal4), "3.4028235e38", "3.4028235e+38"},
                                  {Col(DmsType::kReal4), "0.1", "0.1"},
                              });
}

TEST(ColumnEncoder, BooleanWordsOfPostgresBoolin) {
  std::vector<Case> cases;
  for (std::string word :
       {"true", "TRUE", "t", "T", "tr", "tRu", "yes", "Yes", "y", "ye", "on", "ON", "1"}) {
    cases.push_back({Col(DmsType::kBoolean), word, "00000001 01"});
  }
  for (std::string word :
       {"false", "False", "f", "fa", "fals", "no", "NO", "n", "off", "Off", "of", "0"}) {
    cases.push_back({Col(DmsType::kBoolean), word, "00000001 00"});
  }
  for (std::string word : {"o", "2", " true", "true ", "yess", "truex", "onn", "-1", "01"}) {
    cases.push_back({Col(DmsType::kBoolean), word, "", kInvalid, "is not a valid BOOLEAN"});
  }
  RunCases(CopyFormat::kBinary, cases);
  RunCases(CopyFormat::kText,
           {{Col(DmsType::kBoolean), "yes", "t"}, {Col(DmsType::kBoolean), "OFF", "f"}});
}

// ---------------------------------------------------------------------------------------------
// DATE / TIME / DATETIME
// ---------------------------------------------------------------------------------------------

TEST(ColumnEncoder, DatesBinaryAreDaysSince2000) {
  const ColumnDefinition date = Col(DmsType::kDate);
  RunCases(CopyFormat::kBinary,
           {
               {date, "2000-01-01", "00000004 00000000"},
               {date, "2024-02-29", "00000004 00002279"},
               {date, "1970-01-01", "00000004 ffffd533"},
               {date, "1900-01-01", "00000004 ffff7154"},
               {date, "2100-12-31", "00000004 00009019"},
               {date, "0001-01-01", "00000004 fff4dbf9"},
               {date, "9999-12-31", "00000004 002c95d3"},
               {DateTime(DmsType::kDate, "MM/dd/YYYY"), "02/29/2024", "00000004 00002279"},
               {DateTime(DmsType::kDate, "YYYYMMdd"), "20240229", "00000004 00002279"},
               {DateTime(DmsType::kDate, "YYYY/MM/dd"), "2024/02/29", "00000004 00002279"},
               {DateTime(DmsType::kDate, "YYYY-MM-dd HH:mm:ss"), "2024-02-29 13:00:00",
                "00000004 00002279"},
           });
}

TEST(ColumnEncoder, DatesValidateTheCalendar) {
  const ColumnDefinition date = Col(DmsType::kDate);
  RunCases(
      CopyFormat::kBinary,
      {
          {date, "2024-02-30", "", kInvalid, "'2024-02-30' is not a valid DATE (no such date)"},
          {date, "2023-02-29", "", kInvalid, "no such date"},
          {date, "1900-02-29", "", kInvalid, "no such date"},
          {date, "2024-13-45", "", kInvalid, "'2024-13-45' is not a valid DATE"},
          {date, "2024-00-10", "", kInvalid, "no such date"},
          {date, "2024-04-31", "", kInvalid, "no such date"},
          {date, "0000-01-01", "", kInvalid, "no such date"},
          {date, "24-01-01", "", kInvalid, "(expected YYYY-MM-DD)"},
          {date, "2024-1-1", "", kInvalid, "(expected YYYY-MM-DD)"},
          {date, "2024/01/01", "", kInvalid, "expected YYYY-MM-DD"},
          {date, "2024-01-01 00:00:00", "", kInvalid, "expected YYYY-MM-DD"},
          {date, "2024-01-01x", "", kInvalid, "expected"},
          {date, "abc", "", kInvalid, "expected"},
          {DateTime(DmsType::kDate, "MM/dd/YYYY"), "2024-02-29", "", kInvalid,
           "(expected MM/dd/YYYY)"},
          {DateTime(DmsType::kDate, "YYYY-MM-dd HH:mm:ss"), "2024-02-29 25:00:00", "", kInvalid,
           "no such time"},
          // Every byte of the date and time words is checked: digits, and the separators.
          {DateTime(DmsType::kDate, "YYYY/MM/dd"), "2024-02-29", "", kInvalid,
           "(expected YYYY/MM/dd)"},
          {DateTime(DmsType::kDate, "YYYY/MM/dd"), "2024/02-29", "", kInvalid, "expected"},
          {date, "2024-02/29", "", kInvalid, "expected"},
          {date, "2\xff24-02-29", "", kInvalid, "expected"},
          {date, "2024-0:-29", "", kInvalid, "expected"},
          {date, "2024-02-2/", "", kInvalid, "expected"},
          {DateTime(DmsType::kDateTime), "2024-02-29 12:3\xb0:00", "", kInvalid, "expected"},
          {DateTime(DmsType::kDateTime), "2024-02-29 12:30.00", "", kInvalid, "expected"},
          {DateTime(DmsType::kDateTime), "2024-02-29 1/:30:00", "", kInvalid, "expected"},
      });
  // 2000 is a leap year, 1900 is not.
  RunCases(CopyFormat::kText, {{date, "2000-02-29", "2000-02-29"}});
}

TEST(ColumnEncoder, TimesBinaryAreMicrosSinceMidnight) {
  const ColumnDefinition time = Col(DmsType::kTime);
  RunCases(
      CopyFormat::kBinary,
      {
          {time, "00:00:00", "00000008 0000000000000000"},
          {time, "00:00:01", "00000008 00000000000f4240"},
          {time, "23:59:59.999999", "00000008 000000141dd75fff"},
          {time, "23:59:59.9999995", "00000008 000000141dd76000"},  // 24:00:00
          {time, "00:00:00.0000004", "00000008 0000000000000000"},
          {DateTime(DmsType::kTime, "YYYY-MM-dd HH:mm:ss"), "2024-02-29 00:00:01",
           "00000008 00000000000f4240"},
          {time, "25:00:00", "", kInvalid, "'25:00:00' is not a valid TIME (no such time"},
          {time, "24:00:00", "", kInvalid, "no such time"},
          {time, "12:60:00", "", kInvalid, "no such time"},
          {time, "12:00:60", "", kInvalid, "no such time"},
          {time, "12:00", "", kInvalid, "(expected HH:MM:SS[.f])"},
          {time, "12:00:00.", "", kInvalid, "expected"},
          {time, "12:00:00.1234567890", "", kInvalid, "expected"},
          {time, "1:00:00", "", kInvalid, "expected"},
          {DateTime(DmsType::kTime, "HH:mm:ss"), "12:00:00.5", "", kInvalid, "(expected HH:mm:ss)"},
      });
  RunCases(CopyFormat::kText, {
                                  {time, "12:34:56.5", "12:34:56.500000"},
                                  {time, "12:34:56", "12:34:56.000000"},
                                  {time, "23:59:59.9999999", "24:00:00.000000"},
                              });
}

TEST(ColumnEncoder, TimestampsBinaryAreMicrosSince2000) {
  const ColumnDefinition ts = Col(DmsType::kDateTime);  // no ColumnScale: microseconds kept
  RunCases(CopyFormat::kBinary,
           {
               {ts, "2000-01-01 00:00:00", "00000008 0000000000000000"},
               {ts, "2000-01-01T00:00:01", "00000008 00000000000f4240"},
               {ts, "2000-01-01", "00000008 0000000000000000"},
               {ts, "1970-01-01 00:00:00", "00000008 fffca2fec4c82000"},
               {ts, "2024-02-29 23:59:59.999999", "00000008 0002b58cd363bfff"},
               {ts, "1999-12-31 23:59:59", "00000008 fffffffffff0bdc0"},
               {ts, "1999-12-31 23:59:59.9999999", "00000008 0000000000000000"},
               // Past 6 digits the fraction rounds half to even, as PostgreSQL's input does.
               {ts, "2000-01-01 00:00:00.0000005", "00000008 0000000000000000"},
               {ts, "2000-01-01 00:00:00.0000015", "00000008 0000000000000002"},
               {ts, "2000-01-01 00:00:00.0000025", "00000008 0000000000000002"},
               {DateTime(DmsType::kDateTime, "", 0), "2000-01-01 00:00:00.5",
                "00000008 00000000000f4240"},
               {DateTime(DmsType::kDateTime, "", 3), "2000-01-01 00:00:00.0004",
                "00000008 0000000000000000"},
               {DateTime(DmsType::kDateTime, "", 3), "2000-01-01 00:00:00.0005",
                "00000008 00000000000003e8"},
               {DateTime(DmsType::kDateTime, "YYYYMMdd HH:mm:ss"), "20000101 00:00:01",
                "00000008 00000000000f4240"},
               {ts, "2024-02-30 00:00:00", "", kInvalid, "no such date"},
               {ts, "2024-02-29 24:00:00", "", kInvalid, "no such time"},
               {ts, "2024-02-29 23:00", "", kInvalid, "(expected YYYY-MM-DD HH:MM:SS[.f])"},
               {ts, "2024-02-29  23:00:00", "", kInvalid, "expected"},
               {ts, "2024-02-29x23:00:00", "", kInvalid, "expected"},
               {ts, "2024-02-29 23:00:00Z", "", kInvalid, "expected"},
               {ts, "2024-02-29 23:00:00+01", "", kInvalid, "expected"},
               {DateTime(DmsType::kDateTime, "YYYY-MM-dd HH:mm:ss"), "2024-02-29T23:00:00", "",
                kInvalid, "(expected YYYY-MM-dd HH:mm:ss)"},
               {DateTime(DmsType::kDateTime, "YYYY-MM-dd HH:mm:ss"), "2024-02-29", "", kInvalid,
                "expected"},
               {DateTime(DmsType::kDateTime, "YYYY-MM-dd HH:mm:ss"), "2024-02-29 23:00:00.5", "",
                kInvalid, "expected"},
           });
}

TEST(ColumnEncoder, TimestampsTextAreCanonicalIso) {
  RunCases(
      CopyFormat::kText,
      {
          {Col(DmsType::kDateTime), "2024-02-29T13:14:15.5", "2024-02-29 13:14:15.500000"},
          {Col(DmsType::kDateTime), "2024-02-29", "2024-02-29 00:00:00.000000"},
          {DateTime(DmsType::kDateTime, "MM/dd/YYYY HH:mm:ss.F", 3), "12/31/1999 23:59:59.9999999",
           "2000-01-01 00:00:00.000"},
          {DateTime(DmsType::kDateTime, "MM/dd/YYYY HH:mm:ss.F", 3), "02/29/2024 01:02:03",
           "2024-02-29 01:02:03.000"},
          {DateTime(DmsType::kDateTime, "YYYY/MM/dd HH:mm:ss", 0), "2024/02/29 01:02:03",
           "2024-02-29 01:02:03"},
          {DateTime(DmsType::kDateTime, "", 0), "1900-01-01 00:00:00.49", "1900-01-01 00:00:00"},
      });
}

TEST(ColumnEncoder, DateTimeScaleAboveSixIsVarcharText) {
  RunCases(CopyFormat::kText,
           {
               {DateTime(DmsType::kDateTime, "", 9), "2024-02-29 13:14:15.123456789",
                "2024-02-29 13:14:15.123456789"},
               {DateTime(DmsType::kDateTime, "", 7), "2024-02-29 13:14:15.12345678",
                "2024-02-29 13:14:15.1234568"},
               {DateTime(DmsType::kDateTime, "", 7), "2024-12-31 23:59:59.99999999",
                "2025-01-01 00:00:00.0000000"},
               {DateTime(DmsType::kDateTime, "", 9), "2024-02-29 13:14:15",
                "2024-02-29 13:14:15.000000000"},
               {DateTime(DmsType::kDateTime, "", 8), "1969-12-31T23:59:59.5",
                "1969-12-31 23:59:59.50000000"},
               {DateTime(DmsType::kDateTime, "", 9), "2024-02-30 13:14:15", "", kInvalid,
                "no such date"},
           });
  RunCases(CopyFormat::kBinary, {{DateTime(DmsType::kDateTime, "", 9), "2000-01-01 00:00:00.5",
                                  "0000001d " + Hex("2000-01-01 00:00:00.500000000")}});
}

TEST(ColumnEncoder, DateTimeRejectsBadDefinitions) {
  EXPECT_FALSE(ColumnEncoder::Make(DateTime(DmsType::kDateTime, "", 10), CopyFormat::kBinary).ok());
  EXPECT_FALSE(
      ColumnEncoder::Make(DateTime(DmsType::kDateTime, "dd.MM.YYYY"), CopyFormat::kBinary).ok());
}

// ---------------------------------------------------------------------------------------------
// STRING / WSTRING / CLOB / NCLOB
// ---------------------------------------------------------------------------------------------

TEST(ColumnEncoder, StringsBinary) {
  RunCases(CopyFormat::kBinary,
           {
               {Sized(DmsType::kString, 5), "hello", "00000005" + Hex("hello")},
               {Sized(DmsType::kString, 5), "héllo", "00000006" + Hex("héllo")},
               {Sized(DmsType::kString, 0), std::string(1000, 'x'),
                "000003e8" + Hex(std::string(1000, 'x'))},
               {Sized(DmsType::kString, 8), std::string("a\0b", 3), "00000003 612062"},
               {Sized(DmsType::kString, 16), std::string("abcdefg\0hijk", 12),
                "0000000c" + Hex("abcdefg hijk")},
               {Sized(DmsType::kString, 10), "tab\there", "00000008" + Hex("tab\there")},
               {Col(DmsType::kClob), "日本語 🎉", "0000000e" + Hex("日本語 🎉")},
               {Sized(DmsType::kWString, 2), "€€", "00000006" + Hex("€€")},
           });
}

TEST(ColumnEncoder, StringsTooLongAreTruncatedAtCharacterBoundary) {
  RunCases(CopyFormat::kBinary,
           {
               {Sized(DmsType::kString, 5), "héllo!", "00000006" + Hex("héllo"), kTrunc,
                "value has 6 characters, ColumnLength is 5"},
               {Sized(DmsType::kString, 3), "日本語です", "00000009" + Hex("日本語"), kTrunc,
                "value has 5 characters, ColumnLength is 3"},
               {Sized(DmsType::kString, 10), "abcdefghijklmnop", "0000000a" + Hex("abcdefghij"),
                kTrunc, "value has 16 characters"},
               {Sized(DmsType::kString, 8), "abcdefghi", "00000008" + Hex("abcdefgh"), kTrunc,
                "9 characters"},
               {Sized(DmsType::kString, 9), "abcdefgh€x", "0000000b" + Hex("abcdefgh€"), kTrunc,
                "10 characters"},
               {Sized(DmsType::kString, 1), "🎉🎉", "00000004" + Hex("🎉"), kTrunc, "2 characters"},
               {Sized(DmsType::kString, 30000), std::string(65536, 'a'),
                "0000ffff" + Hex(std::string(65535, 'a')), kTrunc, "VARCHAR(65535)"},
           });
  // The 8-byte ASCII fast path must cut exactly at the limit, wherever it falls in a block.
  for (int limit = 1; limit <= 24; ++limit) {
    std::string input = "0123456789abcdefghijklmnopqrstuvwxyz";
    RunCases(CopyFormat::kText,
             {{Sized(DmsType::kString, limit), input, input.substr(0, static_cast<size_t>(limit)),
               kTrunc, "value has 36 characters"}});
  }
}

TEST(ColumnEncoder, StringsRejectInvalidUtf8NamingTheOffset) {
  const ColumnDefinition s = Sized(DmsType::kString, 100);
  RunCases(CopyFormat::kBinary,
           {
               {s, "ab\xff", "", kUtf8, "invalid UTF-8 byte 0xFF at byte offset 2"},
               {s, "\xc0\xaf", "", kUtf8, "0xC0 at byte offset 0"},          // overlong '/'
               {s, "x\xe0\x80\xaf", "", kUtf8, "0xE0 at byte offset 1"},     // overlong
               {s, "\xed\xa0\x80", "", kUtf8, "0xED at byte offset 0"},      // surrogate
               {s, "\xf4\x90\x80\x80", "", kUtf8, "0xF4 at byte offset 0"},  // > U+10FFFF
               {s, "\xe6\x97", "", kUtf8, "0xE6 at byte offset 0"},          // cut short
               {s, "abcdefgh\x80", "", kUtf8, "0x80 at byte offset 8"},      // lone continuation
               {s, "abcdefgh\xc3(", "", kUtf8, "0xC3 at byte offset 8"},
               {Col(DmsType::kClob), "ok\xf5\x80\x80\x80", "", kUtf8, "offset 2"},
           });
}

TEST(ColumnEncoder, StringsTextFormatEscapes) {
  RunCases(CopyFormat::kText,
           {
               {Col(DmsType::kClob), "plain text", "plain text"},
               {Col(DmsType::kClob), "a\tb\nc\rd\\e", "a\\tb\\nc\\rd\\\\e"},
               {Col(DmsType::kClob), "\\N", "\\\\N"},
               {Col(DmsType::kClob), "\\.", "\\\\."},
               {Col(DmsType::kClob), std::string("nul\0byte", 8), "nul byte"},
               {Col(DmsType::kClob), "long line with a tab\tat byte 20",
                "long line with a tab\\tat byte 20"},
               {Sized(DmsType::kString, 3), "a\tbcd", "a\\tb", kTrunc, "5 characters"},
               {Col(DmsType::kNClob), "ünïcödé", "ünïcödé"},
           });
}

// Every length around the word sizes the plain-ASCII path reads (1–3, 4–7, 8–16, longer), with
// a byte that leaves it (NUL, an escaped byte, a UTF-8 character, an invalid byte) at every
// position, against the rules written out: NUL → space, text format escapes, UTF-8 checked,
// ColumnLength counted in characters.
TEST(ColumnEncoder, StringsOfEveryShortLengthWithASpecialByteAnywhere) {
  struct Special {
    std::string bytes;
    std::string binary;  // what the value holds instead
    std::string text;    // …in text format
    bool valid;
  };
  const std::vector<Special> specials = {{"", "", "", true},
                                         {std::string(1, '\0'), " ", " ", true},
                                         {"\t", "\t", "\\t", true},
                                         {"\\", "\\", "\\\\", true},
                                         {"\xc3\xa9", "\xc3\xa9", "\xc3\xa9", true},
                                         {"\xff", "", "", false}};
  for (int n = 0; n <= 26; ++n) {
    for (const Special& sp : specials) {
      for (int at = 0; at <= n; ++at) {
        if (sp.bytes.empty() && at > 0) break;
        const std::string head(static_cast<size_t>(at), 'a');
        const std::string tail(static_cast<size_t>(n - at), 'z');
        const std::string input = head + sp.bytes + tail;
        const int chars = n + (sp.bytes.empty() ? 0 : 1);
        SCOPED_TRACE("input of " + std::to_string(input.size()) + " bytes, special at " +
                     std::to_string(at));
        for (CopyFormat format : {CopyFormat::kBinary, CopyFormat::kText}) {
          for (int64_t length : {int64_t{0}, int64_t{5}}) {
            const ColumnDefinition column =
                length == 0 ? Col(DmsType::kClob) : Sized(DmsType::kString, length);
            const ColumnEncoder e = ColumnEncoder::Make(column, format).value();
            std::string out;
            const ValueIssue issue = e.Encode(input, false, out);
            if (!sp.valid) {
              EXPECT_EQ(issue.kind, DataErrorKind::kInvalidUtf8);
              EXPECT_EQ(out, "");
              continue;
            }
            // The first `keep` characters: all of them, or ColumnLength.
            const int keep = length > 0 && chars > length ? static_cast<int>(length) : chars;
            std::string value;
            for (int i = 0; i < keep; ++i) {
              if (i < at) {
                value += 'a';
              } else if (i == at && !sp.bytes.empty()) {
                value += format == CopyFormat::kBinary ? sp.binary : sp.text;
              } else {
                value += 'z';
              }
            }
            EXPECT_EQ(issue.kind, keep < chars ? DataErrorKind::kTruncation : DataErrorKind::kNone);
            if (format == CopyFormat::kBinary) {
              std::string length_bytes(4, '\0');
              length_bytes[3] = static_cast<char>(value.size());
              value = length_bytes + value;
            }
            EXPECT_EQ(Hex(out), Hex(value));
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// BYTE / BLOB
// ---------------------------------------------------------------------------------------------

TEST(ColumnEncoder, BytesAreHexText) {
  RunCases(CopyFormat::kBinary,
           {
               {Col(DmsType::kBlob), "\\x0aff", "00000002 0aff"},
               {Col(DmsType::kBlob), "0x0AFF", "00000002 0aff"},
               {Col(DmsType::kBlob), "0X0aFf", "00000002 0aff"},
               {Col(DmsType::kBlob), "0aff", "00000002 0aff"},
               {Col(DmsType::kBlob), "\\x", "00000000"},
               {Col(DmsType::kBlob), "00", "00000001 00"},
               {Sized(DmsType::kByte, 2), "010203", "00000002 0102", kTrunc,
                "value has 3 bytes, ColumnLength is 2"},
               {Sized(DmsType::kByte, 0), "010203", "00000003 010203"},
               {Col(DmsType::kBlob), "abc", "", kInvalid, "'abc' is not a valid BLOB (odd"},
               {Col(DmsType::kBlob), "zz", "", kInvalid, "expected hex digits"},
               {Col(DmsType::kBlob), "0x0g", "", kInvalid, "expected hex digits"},
               {Col(DmsType::kBlob), "\\x 0", "", kInvalid, "expected hex digits"},
           });
  RunCases(CopyFormat::kText, {
                                  {Col(DmsType::kBlob), "0AfF", "\\\\x0AfF"},
                                  {Col(DmsType::kBlob), "\\x", "\\\\x"},
                                  {Sized(DmsType::kByte, 1), "0x0102", "\\\\x01", kTrunc, "bytes"},
                              });
}

// ---------------------------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------------------------

TEST(CopyRowWriter, BinaryStreamHasHeaderRowCountsAndTrailer) {
  CopyRowWriter writer(CopyFormat::kBinary, 2);
  Result<ColumnEncoder> id = ColumnEncoder::Make(Col(DmsType::kInt4), CopyFormat::kBinary);
  Result<ColumnEncoder> name =
      ColumnEncoder::Make(Sized(DmsType::kString, 10), CopyFormat::kBinary);
  ASSERT_TRUE(id.ok() && name.ok());
  std::string out;
  writer.BeginStream(out);
  writer.BeginRow(out);
  writer.BeforeField(0, out);
  ASSERT_TRUE(id->Encode("1", false, out).ok());
  writer.BeforeField(1, out);
  ASSERT_TRUE(name->Encode("ab", false, out).ok());
  writer.EndRow(out);
  writer.EndStream(out);
  EXPECT_EQ(Hex(out), WithoutSpaces("5047434f50590aff0d0a00 00000000 00000000"  // header
                                    "0002 00000004 00000001 00000002 6162"      // row
                                    "ffff"));                                   // trailer
}

TEST(CopyRowWriter, TextRowsAreTabSeparatedLines) {
  CopyRowWriter writer(CopyFormat::kText, 3);
  std::string out;
  writer.BeginStream(out);
  for (int row = 0; row < 2; ++row) {
    writer.BeginRow(out);
    for (int i = 0; i < 3; ++i) {
      writer.BeforeField(i, out);
      out += std::to_string(row * 3 + i);
    }
    writer.EndRow(out);
  }
  writer.EndStream(out);
  EXPECT_EQ(out, "0\t1\t2\n3\t4\t5\n");
}

TEST(CopyRowWriter, CopySqlQuotesIdentifiers) {
  CopyRowWriter binary(CopyFormat::kBinary, 2);
  EXPECT_EQ(binary.CopySql("s", "My \"T\"", {"a", "b\"c"}),
            R"(COPY "s"."My ""T""" ("a", "b""c") FROM STDIN (FORMAT binary))");
  CopyRowWriter text(CopyFormat::kText, 1);
  EXPECT_EQ(text.CopySql(R"("public"."t")", {"Id"}),
            R"(COPY "public"."t" ("Id") FROM STDIN (FORMAT text))");
}

TEST(DataErrorKind, NamesAreUpperSnakeCase) {
  EXPECT_EQ(DataErrorKindName(DataErrorKind::kInvalidValue), "INVALID_VALUE");
  EXPECT_EQ(DataErrorKindName(DataErrorKind::kOutOfRange), "OUT_OF_RANGE");
  EXPECT_EQ(DataErrorKindName(DataErrorKind::kTruncation), "TRUNCATION");
  EXPECT_EQ(DataErrorKindName(DataErrorKind::kNullNotAllowed), "NULL_NOT_ALLOWED");
  EXPECT_EQ(DataErrorKindName(DataErrorKind::kInvalidUtf8), "INVALID_UTF8");
  EXPECT_EQ(DataErrorKindName(DataErrorKind::kFieldCount), "FIELD_COUNT");
}

// ---------------------------------------------------------------------------------------------
// Round trip through a real PostgreSQL
// ---------------------------------------------------------------------------------------------

// One source field and what PostgreSQL must make of it: `literal` is the same value in a form
// PostgreSQL's own input functions read (empty = the input itself, nullopt input = NULL).
struct RoundTripValue {
  std::optional<std::string> input;
  std::string literal = {};
};

struct RoundTripColumn {
  ColumnDefinition column;
  std::vector<RoundTripValue> values;
};

ColumnDefinition Named(ColumnDefinition c, std::string name) {
  c.name = std::move(name);
  return c;
}

std::vector<RoundTripColumn> EveryTypeEdgeCases() {
  const std::optional<std::string> kNull;
  return {
      {Named(Col(DmsType::kInt1), "int1"), {{"-128"}, {"127"}, {"+0"}, {kNull}}},
      {Named(Col(DmsType::kUint1), "uint1"), {{"255"}, {"0"}}},
      {Named(Col(DmsType::kInt2), "int2"), {{"-32768"}, {"32767"}, {"", "<NULL>"}}},
      {Named(Col(DmsType::kUint2), "uint2"), {{"65535"}}},
      {Named(Col(DmsType::kInt4), "int4"), {{"-2147483648"}, {"2147483647"}, {"007"}}},
      {Named(Col(DmsType::kUint4), "uint4"), {{"4294967295"}}},
      {Named(Col(DmsType::kInt8), "int8"),
       {{"-9223372036854775808"}, {"9223372036854775807"}, {"-1"}}},
      {Named(Col(DmsType::kUint8), "uint8"), {{"9223372036854775807"}}},
      {Named(Numeric(12, 2), "num_12_2"),
       {{"-123.45"},
        {"0.0001"},
        {"99999999.99"},
        {"9999999999.99"},
        {"1e-5"},
        {"-0.005"},
        {"1.005"},
        {"-1.005"},
        {"0"},
        {"NaN"},
        {"1e3"},
        {"-0.001"},
        {".5"}}},
      {Named(Numeric(38, 10), "num_38_10"),
       {{"-1234567890123456789012345678.0123456789"},
        {"0.0000000001"},
        {"1e-11"},
        {"0.00000000005"},
        {"9999999999999999999999999999.99999999994"},
        {"12345.6789"}}},
      {Named(Numeric(10, 5), "num_10_5"), {{"1e-5"}, {"-0.00001"}, {"12345.6789"}, {"-1E+4"}}},
      {Named(Numeric(4, 4), "num_4_4"), {{"0.9999"}, {"-0.00005"}}},
      {Named(Numeric(20, 0), "num_20_0"),
       {{"10000"}, {"100000000"}, {"-99999999999999999999"}, {"123456789.5"}, {"1e19"}}},
      {Named(Col(DmsType::kReal4), "real4"),
       {{"1.5"}, {"-0"}, {"3.4028235e38"}, {"1e-45"}, {"NaN"}, {"Infinity"}, {"-inf"}, {"0.1"}}},
      {Named(Col(DmsType::kReal8), "real8"),
       {{"0.1"}, {"1e308"}, {"-Infinity"}, {"5e-324"}, {"NaN"}, {"123456789.123456789"}}},
      {Named(Col(DmsType::kBoolean), "bool"), {{"t"}, {"no"}, {"ON"}, {"0"}, {"Yes"}}},
      {Named(Col(DmsType::kDate), "date"),
       {{"2024-02-29"},
        {"2000-02-29"},
        {"1970-01-01"},
        {"1900-01-01"},
        {"2100-12-31"},
        {"0001-01-01"},
        {"9999-12-31"},
        {"1999-12-31"}}},
      {Named(DateTime(DmsType::kDate, "MM/dd/YYYY"), "date_mdy"),
       {{"02/29/2024", "2024-02-29"}, {"12/31/1899", "1899-12-31"}}},
      {Named(Col(DmsType::kTime), "time"),
       {{"00:00:00"},
        {"23:59:59.999999"},
        {"12:34:56.5"},
        {"23:59:59.9999995"},
        {"00:00:00.000001"},
        {"00:00:00.0000015"},
        {"00:00:00.0000025"},
        {"12:00:00.123456789"}}},
      {Named(Col(DmsType::kDateTime), "ts"),
       {{"2024-02-29 23:59:59.999999"},
        {"1970-01-01 00:00:00"},
        {"1900-01-01T12:00:00", "1900-01-01 12:00:00"},
        {"2100-12-31 00:00:00.000001"},
        {"1999-12-31 23:59:59.9999999"},
        {"2024-02-29"},
        {"0001-01-01 00:00:00"},
        {"9999-12-31 23:59:59.999999"},
        {"2000-01-01 00:00:00.0000005"},
        {"2000-01-01 00:00:00.0000015"},
        {"2000-01-01 00:00:00.0000025"},
        {"1999-12-31 23:59:59.9999995"},
        {"1999-12-31 23:59:59.123456789"},
        {"2000-01-01 00:00:00.000000499"}}},
      {Named(DateTime(DmsType::kDateTime, "MM/dd/YYYY HH:mm:ss.F", 3), "ts3_mdy"),
       {{"12/31/1999 23:59:59.9995", "1999-12-31 23:59:59.9995"},
        {"02/29/2024 01:02:03.0004", "2024-02-29 01:02:03.0004"},
        {"07/04/1976 12:00:00", "1976-07-04 12:00:00"}}},
      {Named(DateTime(DmsType::kDateTime, "", 0), "ts0"),
       {{"2024-02-29 12:00:00.5"},
        {"2024-02-29 12:00:00.4999"},
        {"1969-12-31 23:59:59.5"},
        {"1999-12-31 23:59:59.5"},
        {"2000-01-01 00:00:00.5"}}},
      {Named(DateTime(DmsType::kDateTime, "YYYYMMdd HH:mm:ss.F", 9), "ts9"),
       {{"20240229 13:14:15.123456789", "2024-02-29 13:14:15.123456789"},
        {"20240229 13:14:15", "2024-02-29 13:14:15.000000000"}}},
      {Named(Sized(DmsType::kString, 64), "str"),
       {{"hello"},
        {""},
        {kNull},
        {"ünïcödé ✓ 日本語 🎉"},
        {"tab\there\nnewline\\back\rcr"},
        {std::string("a\0b", 3), "a b"},
        {"\\N"},
        {"\\."},
        {"comma, \"quotes\""}}},
      {Named(Sized(DmsType::kString, 5), "str5"), {{"héllo wörld", "héllo"}, {"12345"}}},
      {Named(Sized(DmsType::kWString, 10), "wstr"), {{"Ωμέγα"}, {"🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉"}}},
      {Named(Sized(DmsType::kString, 0), "str_unbounded"), {{std::string(70000, 'x')}}},
      {Named(Col(DmsType::kClob), "clob"), {{std::string(100000, 'y')}, {""}, {"line1\nline2"}}},
      {Named(Col(DmsType::kNClob), "nclob"), {{"🎉"}}},
      {Named(Sized(DmsType::kByte, 4), "byte4"),
       {{"0x00ff10ab", "\\x00ff10ab"}, {"0102030405", "\\x01020304"}}},
      {Named(Col(DmsType::kBlob), "blob"),
       {{"\\x", "\\x"}, {"DEADbeef", "\\xdeadbeef"}, {"\\x00", "\\x00"}}},
  };
}

class ValueCodecPg : public testing::PgTest {
 protected:
  // Creates `table` with an id column and one column per case (PostgresTypeFor), then loads
  // every value through ColumnEncoder and CopyRowWriter in `format`.
  void Load(const std::string& table, const std::vector<RoundTripColumn>& columns,
            CopyFormat format) {
    std::string ddl = "CREATE TABLE " + pg::QuoteIdentifier(table) + " (id INTEGER";
    std::vector<std::string> names = {"id"};
    for (const RoundTripColumn& c : columns) {
      ddl += ", " + pg::QuoteIdentifier(c.column.name) + " " + PostgresTypeFor(c.column);
      names.push_back(c.column.name);
    }
    ddl += ")";
    Status created = conn().Execute(ddl);
    ASSERT_TRUE(created.ok()) << created.ToString();

    Result<ColumnEncoder> id = ColumnEncoder::Make(Col(DmsType::kInt4, false), format);
    ASSERT_TRUE(id.ok());
    std::vector<ColumnEncoder> encoders;
    size_t rows = 0;
    for (const RoundTripColumn& c : columns) {
      Result<ColumnEncoder> e = ColumnEncoder::Make(c.column, format);
      ASSERT_TRUE(e.ok()) << e.status().ToString();
      encoders.push_back(*e);
      rows = std::max(rows, c.values.size());
    }

    CopyRowWriter writer(format, static_cast<int>(columns.size()) + 1);
    std::string buf;
    writer.BeginStream(buf);
    for (size_t r = 0; r < rows; ++r) {
      writer.BeginRow(buf);
      writer.BeforeField(0, buf);
      ASSERT_TRUE(id->Encode(std::to_string(r), false, buf).ok());
      for (size_t i = 0; i < columns.size(); ++i) {
        writer.BeforeField(static_cast<int>(i) + 1, buf);
        const std::vector<RoundTripValue>& values = columns[i].values;
        const bool present = r < values.size() && values[r].input.has_value();
        ValueIssue issue =
            encoders[i].Encode(present ? *values[r].input : std::string_view(), !present, buf);
        // Truncation still loads the value (cut); anything else would break the row.
        ASSERT_TRUE(issue.ok() || issue.kind == DataErrorKind::kTruncation)
            << columns[i].column.name << " row " << r << ": " << issue.message;
      }
      writer.EndRow(buf);
    }
    writer.EndStream(buf);

    Result<pg::CopyIn> copy = pg::CopyIn::Begin(conn(), writer.CopySql("public", table, names));
    ASSERT_TRUE(copy.ok()) << copy.status().ToString();
    Status written = copy->Write(buf);
    ASSERT_TRUE(written.ok()) << written.ToString();
    Result<uint64_t> copied = copy->Finish();
    ASSERT_TRUE(copied.ok()) << copied.status().ToString();
    EXPECT_EQ(*copied, rows);
  }

  // `SELECT col::text` of every row, in id order; "<NULL>" for NULL.
  std::vector<std::string> Column(const std::string& table, const std::string& column) {
    std::vector<std::string> out;
    Result<pg::QueryResult> r =
        conn().Query("SELECT " + pg::QuoteIdentifier(column) + "::text FROM " +
                     pg::QuoteIdentifier(table) + " ORDER BY id");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return out;
    for (int i = 0; i < r->rows(); ++i) {
      out.push_back(r->IsNull(i, 0) ? "<NULL>" : std::string(r->Get(i, 0)));
    }
    return out;
  }

  // What PostgreSQL's own input function makes of the literal, as text.
  std::string Expected(const RoundTripColumn& c, const RoundTripValue& v) {
    if (!v.input.has_value() || v.literal == "<NULL>") return "<NULL>";
    const std::string literal = v.literal.empty() ? *v.input : v.literal;
    Result<pg::QueryResult> r =
        conn().Query("SELECT $1::" + PostgresTypeFor(c.column) + "::text", {literal});
    EXPECT_TRUE(r.ok()) << c.column.name << " '" << literal << "': " << r.status().ToString();
    if (!r.ok()) return "";
    return r->IsNull(0, 0) ? "<NULL>" : std::string(r->Get(0, 0));
  }
};

TEST_F(ValueCodecPg, BinaryAndTextCopyLoadWhatPostgresReadsFromTheLiteral) {
  const std::vector<RoundTripColumn> columns = EveryTypeEdgeCases();
  Load("via_binary", columns, CopyFormat::kBinary);
  Load("via_text", columns, CopyFormat::kText);
  for (const RoundTripColumn& c : columns) {
    std::vector<std::string> binary = Column("via_binary", c.column.name);
    std::vector<std::string> text = Column("via_text", c.column.name);
    ASSERT_EQ(binary.size(), text.size());
    for (size_t r = 0; r < binary.size(); ++r) {
      const RoundTripValue v = r < c.values.size() ? c.values[r] : RoundTripValue{};
      const std::string expected = Expected(c, v);
      const std::string shown = v.input ? v.input->substr(0, 40) : "NULL";
      EXPECT_EQ(binary[r], expected) << c.column.name << " binary, input '" << shown << "'";
      EXPECT_EQ(text[r], expected) << c.column.name << " text, input '" << shown << "'";
    }
  }
}

// Spot checks that do not rely on PostgreSQL's reading of a literal.
TEST_F(ValueCodecPg, BinaryValuesReadBackExactly) {
  const std::vector<RoundTripColumn> columns = {
      {Named(Numeric(12, 2), "n"), {{"-0.005"}, {"99999999.99"}, {"1e-5"}}},
      {Named(Col(DmsType::kDateTime), "ts"),
       {{"2024-02-29T23:59:59.9999995"}, {"1900-01-01"}, {"1970-01-01 00:00:00"}}},
      {Named(Sized(DmsType::kString, 3), "s"), {{"日本語です"}, {""}, {std::string("a\0b", 3)}}},
  };
  Load("spot", columns, CopyFormat::kBinary);
  EXPECT_EQ(Column("spot", "n"), (std::vector<std::string>{"-0.01", "99999999.99", "0.00"}));
  EXPECT_EQ(Column("spot", "ts"),
            (std::vector<std::string>{"2024-03-01 00:00:00", "1900-01-01 00:00:00",
                                      "1970-01-01 00:00:00"}));
  EXPECT_EQ(Column("spot", "s"), (std::vector<std::string>{"日本語", "", "a b"}));
  EXPECT_EQ(Scalar("SELECT count(*) FROM spot WHERE s = '' AND s IS NOT NULL"), "1");
}

// What the encoder refuses as out of range or invalid, PostgreSQL refuses too (so no value that
// PostgreSQL would take is lost, and none it would reject reaches the COPY).
TEST_F(ValueCodecPg, RejectedValuesArePostgresRejectsToo) {
  struct Reject {
    ColumnDefinition column;
    std::string input;
  };
  const std::vector<Reject> rejects = {
      {Numeric(38, 10), "9999999999999999999999999999.99999999995"},
      {Numeric(5, 2), "999.995"},
      {Numeric(2, 2), "1"},
      {Numeric(10, 0), "Infinity"},
      {Col(DmsType::kInt2), "32768"},
      {Col(DmsType::kInt4), "2147483648"},
      {Col(DmsType::kInt8), "9223372036854775808"},
      {Col(DmsType::kReal4), "1e39"},
      {Col(DmsType::kReal4), "1e-50"},
      {Col(DmsType::kReal8), "1e400"},
      {Col(DmsType::kDate), "2024-02-30"},
      {Col(DmsType::kDate), "2023-02-29"},
      {Col(DmsType::kTime), "25:00:00"},
      {Col(DmsType::kDateTime), "2024-13-01 00:00:00"},
      {Col(DmsType::kBoolean), "o"},
      {Col(DmsType::kBoolean), "truex"},
  };
  for (const Reject& r : rejects) {
    Result<ColumnEncoder> e = ColumnEncoder::Make(r.column, CopyFormat::kBinary);
    ASSERT_TRUE(e.ok());
    std::string out;
    ValueIssue issue = e->Encode(r.input, false, out);
    EXPECT_FALSE(issue.ok()) << PostgresTypeFor(r.column) << " '" << r.input << "'";
    Result<pg::QueryResult> q =
        conn().Query("SELECT $1::" + PostgresTypeFor(r.column) + "::text", {r.input});
    EXPECT_FALSE(q.ok()) << PostgresTypeFor(r.column) << " '" << r.input << "' read by PostgreSQL";
  }
}

// The fast paths (plain decimals straight to base-10000 groups, integers of up to 18 digits,
// dates and times read a word at a time) against PostgreSQL's own send functions and text
// output, on generated inputs around their boundaries: a value the encoder takes must be the
// bytes numeric_send/int8send/date_send/timestamp_send give, and one it refuses PostgreSQL must
// refuse too.
class ValueCodecOracle : public ValueCodecPg {
 protected:
  // Encodes `input` in both formats: the binary value must be the send function's bytes for
  // `input::cast`, the text value must read back (as `cast`) as the same value. When the encoder
  // refuses the input, PostgreSQL must refuse it too.
  void Check(const ColumnDefinition& column, const std::string& input, const std::string& cast) {
    SCOPED_TRACE(cast + " '" + input + "'");
    std::string binary;
    std::string text;
    ValueIssue b = ColumnEncoder::Make(column, CopyFormat::kBinary)->Encode(input, false, binary);
    ValueIssue t = ColumnEncoder::Make(column, CopyFormat::kText)->Encode(input, false, text);
    EXPECT_EQ(DataErrorKindName(b.kind), DataErrorKindName(t.kind));
    Result<pg::QueryResult> q =
        conn().Query("SELECT encode(" + SendFunction(cast) + "($1::" + cast +
                         "), 'hex'), $1::" + cast + "::text, $2::" + cast + "::text",
                     {input, b.ok() ? text : std::string("0")});
    if (!b.ok()) {
      EXPECT_FALSE(q.ok()) << "encoder refused (" << b.message << "), PostgreSQL took it";
      return;
    }
    ASSERT_TRUE(q.ok()) << "encoder took it, PostgreSQL: " << q.status().ToString();
    ASSERT_GE(binary.size(), 4u);
    EXPECT_EQ(Hex(binary.substr(4)), std::string(q->Get(0, 0)));
    EXPECT_EQ(std::string(q->Get(0, 2)), std::string(q->Get(0, 1))) << "text format: " << text;
    ++checked_;
  }

  static std::string SendFunction(const std::string& cast) {
    if (cast.starts_with("numeric")) return "numeric_send";
    if (cast.starts_with("timestamp")) return "timestamp_send";
    if (cast == "date") return "date_send";
    return cast + "send";  // int2send, int4send, int8send
  }

  int checked_ = 0;
};

std::string Digits(std::mt19937_64& rng, int n, bool leading_nonzero = false) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    int d = static_cast<int>(rng() % 10);
    if (i == 0 && leading_nonzero && d == 0) d = 1 + static_cast<int>(rng() % 9);
    s += static_cast<char>('0' + d);
  }
  return s;
}

TEST_F(ValueCodecOracle, NumericFastAndGeneralPathsMatchNumericSend) {
  std::mt19937_64 rng(20261130);
  const std::vector<std::pair<int, int>> types = {{12, 2}, {5, 2},   {4, 4},   {10, 0},  {18, 6},
                                                  {19, 0}, {20, 18}, {38, 0},  {38, 10}, {38, 38},
                                                  {1, 0},  {9, 3},   {38, 30}, {36, 17}};
  for (const auto& [precision, scale] : types) {
    const ColumnDefinition column = Numeric(precision, scale);
    const std::string cast =
        "numeric(" + std::to_string(precision) + "," + std::to_string(scale) + ")";
    std::vector<std::string> inputs = {"0", "-0", "0.", ".0", "+0.000", "00", "1", "-1"};
    // Integer digits up to one past the range, fraction digits up to two past the scale
    // (rounding: the general path), leading zeros, signs.
    for (int i = 0; i < 60; ++i) {
      const int integer_digits = static_cast<int>(rng() % (precision - scale + 2));
      const int fraction_digits = static_cast<int>(rng() % (scale + 3));
      std::string s;
      switch (rng() % 4) {
        case 0:
          s += '-';
          break;
        case 1:
          s += '+';
          break;
        default:
          break;
      }
      if (rng() % 5 == 0) s += "00";
      s += Digits(rng, integer_digits, true);
      if (fraction_digits > 0 || integer_digits == 0) s += "." + Digits(rng, fraction_digits);
      if (s == "." || s == "-." || s == "+.") s += "5";
      inputs.push_back(s);
    }
    // The edges of the range, all nines and the smallest steps.
    const int integer_room = precision - scale;
    const std::string nines = std::string(static_cast<size_t>(integer_room), '9');
    const std::string fraction_nines = std::string(static_cast<size_t>(scale), '9');
    inputs.push_back((nines.empty() ? "0" : nines) + "." + fraction_nines);
    inputs.push_back("-" + (nines.empty() ? "0" : nines) + "." + fraction_nines);
    inputs.push_back("1" + std::string(static_cast<size_t>(integer_room), '0'));  // out of range
    if (scale > 0) inputs.push_back("0." + std::string(static_cast<size_t>(scale - 1), '0') + "1");
    for (const std::string& input : inputs) Check(column, input, cast);
  }
  EXPECT_GT(checked_, 500);
}

TEST_F(ValueCodecOracle, IntegersAroundEighteenDigitsMatchIntSend) {
  std::mt19937_64 rng(7);
  std::vector<std::string> inputs = {"999999999999999999",
                                     "-999999999999999999",
                                     "1000000000000000000",
                                     "-1000000000000000000",
                                     "9223372036854775807",
                                     "-9223372036854775808",
                                     "9223372036854775808",
                                     "0000000000000000001",
                                     "+000000000000000000042",
                                     "-0",
                                     "+7"};
  for (int n = 1; n <= 20; ++n) {
    inputs.push_back(Digits(rng, n));
    inputs.push_back("-" + Digits(rng, n, true));
  }
  for (const std::string& input : inputs) {
    Check(Col(DmsType::kInt8), input, "int8");
    Check(Col(DmsType::kInt4), input, "int4");
    Check(Col(DmsType::kInt2), input, "int2");
  }
  EXPECT_GT(checked_, 40);
}

TEST_F(ValueCodecOracle, DatesAndTimestampsFromYearOneTo9999MatchSend) {
  std::mt19937_64 rng(11);
  std::vector<std::string> dates = {"0001-01-01", "9999-12-31", "2000-01-01", "1999-12-31",
                                    "2000-02-29", "1900-02-28", "2024-02-29", "0004-02-29",
                                    "1582-10-10", "1970-01-01"};
  for (int i = 0; i < 80; ++i) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d", 1 + static_cast<int>(rng() % 9999),
                  1 + static_cast<int>(rng() % 12), 1 + static_cast<int>(rng() % 28));
    dates.push_back(buf);
  }
  // Refused by both: not a date, or not this layout.
  const std::vector<std::string> bad = {"2023-02-29", "2024-13-01", "2024-00-10",
                                        "0000-01-01", "2024/01/01", "2024-1-01",
                                        "2024-01-1x", "x024-01-01", "2024-01-32"};
  for (const std::string& d : dates) Check(Col(DmsType::kDate), d, "date");
  for (const std::string& d : bad) {
    std::string out;
    EXPECT_FALSE(
        ColumnEncoder::Make(Col(DmsType::kDate), CopyFormat::kBinary)->Encode(d, false, out).ok())
        << d;
  }
  const ColumnDefinition ts = DateTime(DmsType::kDateTime, "", 6);
  std::vector<std::string> stamps = {"0001-01-01 00:00:00", "9999-12-31 23:59:59.999999",
                                     "2000-01-01T00:00:00.5", "1999-12-31 23:59:59"};
  for (size_t i = 0; i < dates.size(); ++i) {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%s %02d:%02d:%02d.%06d", dates[i].c_str(),
                  static_cast<int>(rng() % 24), static_cast<int>(rng() % 60),
                  static_cast<int>(rng() % 60), static_cast<int>(rng() % 1000000));
    stamps.push_back(buf);
  }
  for (const std::string& s : stamps) Check(ts, s, "timestamp(6)");
  for (const std::string& s : {"2024-01-01 24:00:00", "2024-01-01 12:60:00", "2024-01-01 1:00:00",
                               "2024-01-01 12:00", "2024-01-01 12-00-00"}) {
    std::string out;
    EXPECT_FALSE(ColumnEncoder::Make(ts, CopyFormat::kBinary)->Encode(s, false, out).ok()) << s;
  }
  EXPECT_GT(checked_, 150);
}

}  // namespace
}  // namespace opendms::engine

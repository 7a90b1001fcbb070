#include "engine/table_definition.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace opendms::engine {
namespace {

// AWS's own sample shape: numbers and booleans as JSON strings.
constexpr std::string_view kAwsSample = R"({
  "TableCount": "1",
  "Tables": [{
    "TableName": "employee",
    "TablePath": "hr/employee/",
    "TableOwner": "hr",
    "TableColumns": [
      {"ColumnName": "Id", "ColumnType": "INT8", "ColumnNullable": "false", "ColumnIsPk": "true"},
      {"ColumnName": "LastName", "ColumnType": "STRING", "ColumnLength": "20"},
      {"ColumnName": "Salary", "ColumnType": "NUMERIC", "ColumnPrecision": "12",
       "ColumnScale": "2", "ColumnNullable": "true"},
      {"ColumnName": "HireDate", "ColumnType": "DATETIME", "ColumnScale": "3",
       "ColumnDateFormat": "MM/dd/YYYY HH:mm:ss.F"},
      {"ColumnName": "Photo", "ColumnType": "blob", "SomeFutureKey": 1}
    ],
    "TableColumnsTotal": "5"
  }]
})";

TEST(ExternalTableDefinition, ParsesAwsSampleWithStringEncodedNumbers) {
  Result<ExternalTableDefinition> def = ParseExternalTableDefinition(kAwsSample);
  ASSERT_TRUE(def.ok()) << def.status().ToString();
  ASSERT_EQ(def->tables.size(), 1u);
  const TableDefinition& t = def->tables[0];
  EXPECT_EQ(t.name, "employee");
  EXPECT_EQ(t.owner, "hr");
  EXPECT_EQ(t.path, "hr/employee/");
  ASSERT_EQ(t.columns.size(), 5u);

  EXPECT_EQ(t.columns[0].name, "Id");
  EXPECT_EQ(t.columns[0].type, DmsType::kInt8);
  EXPECT_TRUE(t.columns[0].is_pk);
  EXPECT_FALSE(t.columns[0].nullable);

  EXPECT_EQ(t.columns[1].name, "LastName");
  EXPECT_EQ(t.columns[1].length, 20);
  EXPECT_FALSE(t.columns[1].nullable);  // DMS default: NOT NULL
  EXPECT_FALSE(t.columns[1].is_pk);

  EXPECT_EQ(t.columns[2].precision, 12);
  EXPECT_EQ(t.columns[2].scale, 2);
  EXPECT_TRUE(t.columns[2].nullable);

  EXPECT_EQ(t.columns[3].scale, 3);
  EXPECT_TRUE(t.columns[3].scale_given);
  EXPECT_EQ(t.columns[3].date_format, "MM/dd/YYYY HH:mm:ss.F");

  EXPECT_EQ(t.columns[4].type, DmsType::kBlob);  // type names are case-insensitive
  EXPECT_FALSE(t.columns[4].scale_given);
}

TEST(ExternalTableDefinition, AcceptsNativeJsonNumbersAndBooleans) {
  Result<ExternalTableDefinition> def = ParseExternalTableDefinition(R"({
    "TableCount": 1,
    "Tables": [{"TableName": "t", "TablePath": "s/t", "TableOwner": "s", "TableColumnsTotal": 1,
                "TableColumns": [{"ColumnName": "c", "ColumnType": "STRING", "ColumnLength": 0,
                                  "ColumnNullable": true, "ColumnIsPk": false}]}]})");
  ASSERT_TRUE(def.ok()) << def.status().ToString();
  const ColumnDefinition& c = def->tables[0].columns[0];
  EXPECT_EQ(c.length, 0);
  EXPECT_TRUE(c.nullable);
  EXPECT_FALSE(c.is_pk);
}

TEST(ExternalTableDefinition, TablePathAlwaysEndsWithSlash) {
  struct Case {
    std::string given, expected;
  };
  for (const Case& c :
       std::vector<Case>{{"s/t", "s/t/"}, {"s/t/", "s/t/"}, {"t", "t/"}, {"a/b/c", "a/b/c/"}}) {
    std::string doc = R"({"Tables":[{"TableName":"t","TableOwner":"s","TablePath":")" + c.given +
                      R"(","TableColumns":[{"ColumnName":"c","ColumnType":"INT4"}]}]})";
    Result<ExternalTableDefinition> def = ParseExternalTableDefinition(doc);
    ASSERT_TRUE(def.ok()) << c.given << ": " << def.status().ToString();
    EXPECT_EQ(def->tables[0].path, c.expected) << c.given;
  }
}

// Replaces "@COLUMN@" in a one-table, one-column document with `column`.
std::string OneColumn(std::string_view column) {
  std::string doc =
      R"({"TableCount":"1","Tables":[{"TableName":"t","TablePath":"s/t/","TableOwner":"s",)"
      R"("TableColumns":[{"ColumnName":"id","ColumnType":"INT4"},@COLUMN@]}]})";
  doc.replace(doc.find("@COLUMN@"), 8, column);
  return doc;
}

TEST(ExternalTableDefinition, RejectsBadDocumentsNamingTheJsonPath) {
  struct Case {
    std::string doc;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {"[]", "must be a JSON object"},
      {"{", "ExternalTableDefinition"},
      {"{}", "Tables is required"},
      {R"({"Tables": {}})", "Tables must be an array"},
      {R"({"TableCount": "2", "Tables": []})", "TableCount is 2 but Tables has 0"},
      {R"({"TableCount": "x", "Tables": []})", "TableCount must be an integer"},
      {R"({"Tables": [1]})", "Tables[0] must be an object"},
      {R"({"Tables": [{"TablePath":"s/t/","TableOwner":"s","TableColumns":[]}]})",
       "Tables[0].TableName is required"},
      {R"({"Tables": [{"TableName":"","TablePath":"s/t/","TableOwner":"s"}]})",
       "Tables[0].TableName must not be empty"},
      {R"({"Tables": [{"TableName":"t","TablePath":"s/t/"}]})", "Tables[0].TableOwner is required"},
      {R"({"Tables": [{"TableName":"t","TableOwner":"s"}]})", "Tables[0].TablePath is required"},
      {R"({"Tables": [{"TableName":"t","TableOwner":"s","TablePath":"s/../../x"}]})",
       "Tables[0].TablePath must not contain \"..\""},
      {R"({"Tables": [{"TableName":"t","TableOwner":"s","TablePath":"/etc/"}]})",
       "Tables[0].TablePath must be relative"},
      {R"({"Tables": [{"TableName":"t","TableOwner":"s","TablePath":"s/t/"}]})",
       "Tables[0].TableColumns is required"},
      {R"({"Tables": [{"TableName":"t","TableOwner":"s","TablePath":"s/t/","TableColumns":[]}]})",
       "Tables[0].TableColumns must not be empty"},
      {R"({"Tables": [{"TableName":"t","TableOwner":"s","TablePath":"s/t/","TableColumnsTotal":"2",
           "TableColumns":[{"ColumnName":"c","ColumnType":"INT4"}]}]})",
       "Tables[0].TableColumnsTotal is 2 but TableColumns has 1"},
      {OneColumn(R"({"ColumnType":"INT4"})"), "Tables[0].TableColumns[1].ColumnName is required"},
      {OneColumn(R"({"ColumnName":"c"})"), "Tables[0].TableColumns[1].ColumnType is required"},
      {OneColumn(R"({"ColumnName":"c","ColumnType":"INT16"})"),
       "Tables[0].TableColumns[1].ColumnType: unknown DMS type \"INT16\""},
      {OneColumn(R"({"ColumnName":"c","ColumnType":"STRING"})"),
       "Tables[0].TableColumns[1].ColumnLength is required for a STRING column"},
      {OneColumn(R"({"ColumnName":"c","ColumnType":"BYTE"})"),
       "Tables[0].TableColumns[1].ColumnLength is required for a BYTE column"},
      {OneColumn(R"({"ColumnName":"c","ColumnType":"STRING","ColumnLength":"-1"})"),
       "Tables[0].TableColumns[1].ColumnLength must be between 0 and 2147483647, got -1"},
      {OneColumn(R"({"ColumnName":"c","ColumnType":"STRING","ColumnLength":"2147483648"})"),
       "Tables[0].TableColumns[1].ColumnLength must be between 0 and 2147483647"},
      {OneColumn(R"({"ColumnName":"c","ColumnType":"STRING","ColumnLength":"ten"})"),
       "Tables[0].TableColumns[1].ColumnLength must be an integer"},
      {OneColumn(R"({"ColumnName":"c","ColumnType":"NUMERIC","ColumnScale":"2"})"),
       "Tables[0].TableColumns[1].ColumnPrecision is required for a NUMERIC column"},
      {OneColumn(R"({"ColumnName":"c","ColumnType":"NUMERIC","ColumnPrecision":"40"})"),
       "Tables[0].TableColumns[1].ColumnPrecision must be between 1 and 38, got 40"},
      {OneColumn(R"({"ColumnName":"c","ColumnType":"NUMERIC","ColumnPrecision":"0"})"),
       "Tables[0].TableColumns[1].ColumnPrecision must be between 1 and 38, got 0"},
      {OneColumn(R"({"ColumnName":"c","ColumnType":"NUMERIC","ColumnPrecision":"5",
                    "ColumnScale":"6"})"),
       "Tables[0].TableColumns[1].ColumnScale must be between 0 and 5, got 6"},
      {OneColumn(R"({"ColumnName":"c","ColumnType":"DATETIME","ColumnScale":"10"})"),
       "Tables[0].TableColumns[1].ColumnScale must be between 0 and 9, got 10"},
      {OneColumn(R"({"ColumnName":"c","ColumnType":"INT4","ColumnNullable":"maybe"})"),
       "Tables[0].TableColumns[1].ColumnNullable must be a boolean"},
      {OneColumn(R"({"ColumnName":"c","ColumnType":"INT4","ColumnIsPk":"2"})"),
       "Tables[0].TableColumns[1].ColumnIsPk must be a boolean"},
      {OneColumn(R"({"ColumnName":"c","ColumnType":"DATETIME","ColumnDateFormat":"dd.MM.YYYY"})"),
       "Tables[0].TableColumns[1].ColumnDateFormat: \"dd.MM.YYYY\" is not a date format DMS "
       "allows"},
      {OneColumn(R"({"ColumnName":"c","ColumnType":"DATETIME","ColumnDateFormat":"YYYY-MM-dd"})"),
       "Tables[0].TableColumns[1].ColumnDateFormat"},
      {OneColumn(R"({"ColumnName":"id","ColumnType":"INT8"})"),
       "Tables[0].TableColumns[1].ColumnName: duplicate column \"id\""},
      {OneColumn(R"({"ColumnName":")" + std::string(64, 'x') + R"(","ColumnType":"INT8"})"),
       "Tables[0].TableColumns[1].ColumnName \"xxxx"},
      {R"({"Tables": [
           {"TableName":"t","TableOwner":"s","TablePath":"a/","TableColumns":[{"ColumnName":"c","ColumnType":"INT4"}]},
           {"TableName":"t","TableOwner":"s","TablePath":"b/","TableColumns":[{"ColumnName":"c","ColumnType":"INT4"}]}]})",
       "Tables[1].TableName: duplicate table \"s.t\""},
  };
  for (const Case& c : cases) {
    Result<ExternalTableDefinition> def = ParseExternalTableDefinition(c.doc);
    ASSERT_FALSE(def.ok()) << c.doc;
    EXPECT_TRUE(def.status().IsInvalidArgument()) << def.status().ToString();
    EXPECT_NE(def.status().message().find(c.message_part), std::string::npos)
        << "message: " << def.status().message() << "\nexpected part: " << c.message_part;
  }
}

TEST(ExternalTableDefinition, SameTableNameInTwoSchemasIsFine) {
  Result<ExternalTableDefinition> def = ParseExternalTableDefinition(R"({"Tables": [
    {"TableName":"t","TableOwner":"a","TablePath":"a/t/","TableColumns":[{"ColumnName":"c","ColumnType":"INT4"}]},
    {"TableName":"t","TableOwner":"b","TablePath":"b/t/","TableColumns":[{"ColumnName":"c","ColumnType":"INT4"}]}]})");
  ASSERT_TRUE(def.ok()) << def.status().ToString();
  EXPECT_EQ(def->tables.size(), 2u);
}

TEST(DmsType, NamesRoundTripCaseInsensitively) {
  for (DmsType t :
       {DmsType::kByte,   DmsType::kDate,   DmsType::kTime,    DmsType::kDateTime, DmsType::kInt1,
        DmsType::kInt2,   DmsType::kInt4,   DmsType::kInt8,    DmsType::kNumeric,  DmsType::kReal4,
        DmsType::kReal8,  DmsType::kString, DmsType::kWString, DmsType::kUint1,    DmsType::kUint2,
        DmsType::kUint4,  DmsType::kUint8,  DmsType::kBlob,    DmsType::kClob,     DmsType::kNClob,
        DmsType::kBoolean}) {
    std::string name(DmsTypeName(t));
    ASSERT_NE(name, "UNKNOWN");
    std::string lower = name;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    Result<DmsType> parsed = ParseDmsType(lower);
    ASSERT_TRUE(parsed.ok()) << lower;
    EXPECT_EQ(*parsed, t) << name;
  }
}

TEST(DmsType, UnknownNameListsTheValidOnes) {
  Result<DmsType> r = ParseDmsType("VARCHAR");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("BYTE, DATE, TIME, DATETIME"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("BOOLEAN"), std::string::npos);
}

TEST(PostgresTypeFor, FollowsDmsTypeMapping) {
  struct Case {
    DmsType type;
    int64_t length;
    int precision, scale;
    bool scale_given;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {DmsType::kBoolean, 0, 0, 0, false, "BOOLEAN"},
      {DmsType::kBlob, 0, 0, 0, false, "BYTEA"},
      {DmsType::kByte, 16, 0, 0, false, "BYTEA"},
      {DmsType::kDate, 0, 0, 0, false, "DATE"},
      {DmsType::kTime, 0, 0, 0, false, "TIME"},
      {DmsType::kDateTime, 0, 0, 0, false, "TIMESTAMP"},
      {DmsType::kDateTime, 0, 0, 0, true, "TIMESTAMP(0)"},
      {DmsType::kDateTime, 0, 0, 3, true, "TIMESTAMP(3)"},
      {DmsType::kDateTime, 0, 0, 6, true, "TIMESTAMP(6)"},
      {DmsType::kDateTime, 0, 0, 7, true, "VARCHAR(37)"},
      {DmsType::kDateTime, 0, 0, 9, true, "VARCHAR(37)"},
      {DmsType::kInt1, 0, 0, 0, false, "SMALLINT"},
      {DmsType::kInt2, 0, 0, 0, false, "SMALLINT"},
      {DmsType::kUint1, 0, 0, 0, false, "SMALLINT"},
      {DmsType::kInt4, 0, 0, 0, false, "INTEGER"},
      {DmsType::kUint2, 0, 0, 0, false, "INTEGER"},
      {DmsType::kInt8, 0, 0, 0, false, "BIGINT"},
      {DmsType::kUint4, 0, 0, 0, false, "BIGINT"},
      {DmsType::kUint8, 0, 0, 0, false, "BIGINT"},
      {DmsType::kNumeric, 0, 12, 2, true, "NUMERIC(12,2)"},
      {DmsType::kNumeric, 0, 38, 0, false, "NUMERIC(38,0)"},
      {DmsType::kReal4, 0, 0, 0, false, "REAL"},
      {DmsType::kReal8, 0, 0, 0, false, "DOUBLE PRECISION"},
      {DmsType::kString, 1, 0, 0, false, "VARCHAR(1)"},
      {DmsType::kString, 64, 0, 0, false, "VARCHAR(64)"},
      {DmsType::kString, 21845, 0, 0, false, "VARCHAR(21845)"},
      {DmsType::kString, 21846, 0, 0, false, "VARCHAR(65535)"},
      {DmsType::kString, 2147483647, 0, 0, false, "VARCHAR(65535)"},
      {DmsType::kString, 0, 0, 0, false, "VARCHAR"},
      {DmsType::kWString, 100, 0, 0, false, "VARCHAR(100)"},
      {DmsType::kWString, 30000, 0, 0, false, "VARCHAR(65535)"},
      {DmsType::kClob, 0, 0, 0, false, "TEXT"},
      {DmsType::kNClob, 0, 0, 0, false, "TEXT"},
  };
  for (const Case& c : cases) {
    ColumnDefinition column;
    column.type = c.type;
    column.length = c.length;
    column.precision = c.precision;
    column.scale = c.scale;
    column.scale_given = c.scale_given;
    EXPECT_EQ(PostgresTypeFor(column), c.expected)
        << DmsTypeName(c.type) << " length " << c.length << " scale " << c.scale;
  }
}

TEST(ColumnDateFormat, AcceptsDmsPatternsPerType) {
  using Order = DateTimeLayout::DateOrder;
  struct Case {
    DmsType type;
    std::string pattern;
    Order order;
    char separator;
    bool has_time, fraction;
  };
  const std::vector<Case> cases = {
      {DmsType::kDateTime, "YYYY-MM-dd HH:mm:ss", Order::kYearMonthDay, '-', true, false},
      {DmsType::kDateTime, "YYYY-MM-dd HH:mm:ss.F", Order::kYearMonthDay, '-', true, true},
      {DmsType::kDateTime, "YYYY/MM/dd HH:mm:ss", Order::kYearMonthDay, '/', true, false},
      {DmsType::kDateTime, "MM/dd/YYYY HH:mm:ss.F", Order::kMonthDayYear, '/', true, true},
      {DmsType::kDateTime, "YYYYMMdd HH:mm:ss", Order::kYearMonthDay, '\0', true, false},
      {DmsType::kDate, "YYYYMMdd", Order::kYearMonthDay, '\0', false, false},
      {DmsType::kDate, "MM/dd/YYYY", Order::kMonthDayYear, '/', false, false},
      {DmsType::kDate, "YYYY/MM/dd HH:mm:ss", Order::kYearMonthDay, '/', true, false},
      {DmsType::kTime, "HH:mm:ss", Order::kNone, '-', true, false},
      {DmsType::kTime, "HH:mm:ss.F", Order::kNone, '-', true, true},
      {DmsType::kTime, "YYYY-MM-dd HH:mm:ss.F", Order::kYearMonthDay, '-', true, true},
  };
  for (const Case& c : cases) {
    Result<DateTimeLayout> layout = ParseColumnDateFormat(c.type, c.pattern);
    ASSERT_TRUE(layout.ok()) << c.pattern << ": " << layout.status().ToString();
    EXPECT_EQ(layout->date_order, c.order) << c.pattern;
    if (c.order != Order::kNone) {
      EXPECT_EQ(layout->date_separator, c.separator) << c.pattern;
    }
    EXPECT_EQ(layout->has_time, c.has_time) << c.pattern;
    EXPECT_EQ(layout->fraction_allowed, c.fraction) << c.pattern;
    EXPECT_FALSE(layout->t_separator) << c.pattern;
  }
}

TEST(ColumnDateFormat, RejectsOtherPatterns) {
  struct Case {
    DmsType type;
    std::string pattern;
  };
  const std::vector<Case> cases = {
      {DmsType::kDateTime, "YYYY-MM-dd"},           // a DATETIME needs the time
      {DmsType::kDateTime, "HH:mm:ss"},             // and the date
      {DmsType::kDateTime, "yyyy-MM-dd HH:mm:ss"},  // patterns are case-sensitive
      {DmsType::kDateTime, "YYYY-MM-ddTHH:mm:ss"},
      {DmsType::kDateTime, "YYYY-MM-dd HH:mm"},
      {DmsType::kDateTime, "YYYY-MM-dd HH:mm:ss.FFF"},
      {DmsType::kDate, "HH:mm:ss"},
      {DmsType::kDate, "YYYY-MM-dd.F"},
      {DmsType::kDate, "dd/MM/YYYY"},
      {DmsType::kTime, "YYYY-MM-dd"},
      {DmsType::kTime, "HH:mm"},
      {DmsType::kInt4, "YYYY-MM-dd"},
      {DmsType::kDateTime, " HH:mm:ss"},
  };
  for (const Case& c : cases) {
    Result<DateTimeLayout> layout = ParseColumnDateFormat(c.type, c.pattern);
    EXPECT_FALSE(layout.ok()) << DmsTypeName(c.type) << " " << c.pattern;
  }
}

TEST(ColumnDateFormat, EmptyPatternIsTheTypesDefaultForm) {
  Result<DateTimeLayout> datetime = ParseColumnDateFormat(DmsType::kDateTime, "");
  ASSERT_TRUE(datetime.ok());
  EXPECT_TRUE(datetime->t_separator);
  EXPECT_TRUE(datetime->time_optional);
  EXPECT_TRUE(datetime->fraction_allowed);
  Result<DateTimeLayout> date = ParseColumnDateFormat(DmsType::kDate, "");
  ASSERT_TRUE(date.ok());
  EXPECT_FALSE(date->has_time);
  Result<DateTimeLayout> time = ParseColumnDateFormat(DmsType::kTime, "");
  ASSERT_TRUE(time.ok());
  EXPECT_EQ(time->date_order, DateTimeLayout::DateOrder::kNone);
}

}  // namespace
}  // namespace opendms::engine

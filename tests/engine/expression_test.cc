#include "engine/expression.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace opendms::engine {
namespace {

ColumnDefinition Col(std::string name, DmsType type, bool nullable = true) {
  ColumnDefinition c;
  c.name = std::move(name);
  c.type = type;
  c.length = type == DmsType::kString ? 50 : 0;
  c.precision = type == DmsType::kNumeric ? 10 : 0;
  c.scale = type == DmsType::kNumeric ? 2 : 0;
  c.nullable = nullable;
  return c;
}

TableDefinition Employee() {
  TableDefinition t;
  t.name = "employee";
  t.owner = "hr";
  t.path = "hr/employee/";
  t.columns = {Col("Id", DmsType::kInt8, false),  Col("FirstName", DmsType::kString),
               Col("LastName", DmsType::kString), Col("Salary", DmsType::kNumeric),
               Col("Rate", DmsType::kReal8),      Col("Code", DmsType::kString),
               Col("Note", DmsType::kString)};
  return t;
}

// One row: Id=42, FirstName=" Ada ", LastName="Lovelace", Salary=1234.50, Rate=2, Code="007",
// Note=NULL.
struct Row {
  std::vector<std::string_view> fields = {"42", " Ada ", "Lovelace", "1234.50", "2", "007", ""};
  bool nulls[7] = {false, false, false, false, false, false, true};
  ExpressionContext Context() const {
    return ExpressionContext{fields, std::span<const bool>(nulls, 7), "hr", "employee"};
  }
};

std::optional<std::string> Eval(std::string_view text, DmsType result = DmsType::kString) {
  auto e = Expression::Parse(text, Employee(), result);
  EXPECT_TRUE(e.ok()) << text << ": " << e.status().ToString();
  if (!e.ok()) return "<parse error>";
  Row row;
  auto v = (*e)->Evaluate(row.Context());
  EXPECT_TRUE(v.ok()) << text << ": " << v.status().ToString();
  if (!v.ok()) return "<eval error>";
  return *v;
}

struct Case {
  const char* expression;
  std::optional<std::string> expected;  // nullopt = NULL
};

TEST(Expression, EvaluatesTheSqliteSubsetLikeSqlite) {
  const Case cases[] = {
      // literals
      {"'plain'", "plain"},
      {"'it''s'", "it's"},
      {"17", "17"},
      {"2.5", "2.5"},
      {"NULL", std::nullopt},
      {"-3", "-3"},
      // column references and metadata variables
      {"$LastName", "Lovelace"},
      {"$Id", "42"},
      {"$Code", "007"},
      {"$Note", std::nullopt},
      {"$AR_M_SOURCE_SCHEMA", "hr"},
      {"$AR_M_SOURCE_TABLE_NAME", "employee"},
      {"$AR_M_SOURCE_SCHEMA || '.' || $AR_M_SOURCE_TABLE_NAME", "hr.employee"},
      // concatenation: NULL poisons, numbers print as text
      {"$LastName || ', ' || trim($FirstName)", "Lovelace, Ada"},
      {"$LastName || $Note", std::nullopt},
      {"'n' || $Id", "n42"},
      // arithmetic: integer stays integer, REAL prints with .0, division by zero is NULL
      {"$Id + 1", "43"},
      {"$Id * 2 - 4", "80"},
      {"$Id / 5", "8"},
      {"$Id % 5", "2"},
      {"$Id / 0", std::nullopt},
      {"$Rate * 10", "20.0"},
      {"$Salary * 2", "2469.0"},
      {"$Id / 4.0", "10.5"},
      {"1 + 2 * 3", "7"},
      {"(1 + 2) * 3", "9"},
      {"'12abc' + 1", "13"},
      {"'abc' + 1", "1"},
      {"-$Id", "-42"},
      {"$Note + 1", std::nullopt},
      // comparisons: numeric columns compare as numbers, text as text
      {"$Id > 9", "1"},
      {"$Id > '9'", "1"},
      {"$Code = 7", "0"},
      {"$Code = '007'", "1"},
      {"$LastName <> 'Lovelace'", "0"},
      {"$LastName != 'X'", "1"},
      {"$Note = NULL", std::nullopt},
      {"$Note IS NULL", "1"},
      {"$Note IS NOT NULL", "0"},
      {"$Id IS 42", "1"},
      {"$Note IS NOT $Note", "0"},
      {"1 < 2 AND 2 < 3", "1"},
      {"1 > 2 OR $Note", std::nullopt},
      {"0 AND $Note", "0"},
      {"NOT 0", "1"},
      // CASE
      {"CASE WHEN $Id > 40 THEN 'senior' ELSE 'junior' END", "senior"},
      {"CASE WHEN $Id > 50 THEN 'senior' END", std::nullopt},
      {"CASE $Code WHEN '007' THEN 'bond' WHEN '008' THEN 'other' ELSE '?' END", "bond"},
      {"case when $Note is null then 'none' else $Note end", "none"},
      // functions
      {"upper($LastName)", "LOVELACE"},
      {"LOWER($LastName)", "lovelace"},
      {"trim($FirstName)", "Ada"},
      {"ltrim($FirstName)", "Ada "},
      {"rtrim($FirstName)", " Ada"},
      {"trim('xxhixx', 'x')", "hi"},
      {"substr($LastName, 1, 4)", "Love"},
      {"substr($LastName, 5)", "lace"},
      {"substr($LastName, -4)", "lace"},
      {"substr($LastName, -4, 2)", "la"},
      {"substr($LastName, 0, 2)", "L"},
      {"substr($LastName, 3, -2)", "Lo"},
      {"substr('héllo', 2, 2)", "él"},
      {"replace($LastName, 'l', 'L')", "LoveLace"},
      {"replace($LastName, '', 'x')", "Lovelace"},
      {"length($LastName)", "8"},
      {"length('héllo')", "5"},
      {"length($Id)", "2"},
      {"length($Note)", std::nullopt},
      {"coalesce($Note, $Code, 'x')", "007"},
      {"coalesce($Note, NULL)", std::nullopt},
      {"ifnull($Note, 'none')", "none"},
      {"nullif($Code, '007')", std::nullopt},
      {"nullif($Code, '008')", "007"},
      {"round(2.5)", "3.0"},
      {"round(-2.5)", "-3.0"},
      {"round($Salary, 1)", "1234.5"},
      {"round(3.14159, 2)", "3.14"},
      {"abs(-7)", "7"},
      {"abs(-7.5)", "7.5"},
      {"max(1, 5, 3)", "5"},
      {"min('b', 'a')", "a"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Eval(c.expression), c.expected) << c.expression;
  }
}

TEST(Expression, IntegralRealPrintsAsIntegerForAnIntegerResultType) {
  EXPECT_EQ(Eval("round($Salary)", DmsType::kInt8), "1235");
  EXPECT_EQ(Eval("round($Salary)", DmsType::kString), "1235.0");
  EXPECT_EQ(Eval("$Rate * 1.5", DmsType::kInt4), "3");
  EXPECT_EQ(Eval("$Rate * 1.25", DmsType::kInt4), "2.5");  // left for the codec to reject
}

TEST(Expression, ParseErrorsNameTheExpressionAndPosition) {
  struct ErrorCase {
    const char* expression;
    const char* message_part;
  };
  const ErrorCase cases[] = {
      {"upper($Nmae)", "at position 7: unknown column $Nmae in hr.employee"},
      {"$lastname", "unknown column $lastname"},  // names are case-sensitive
      {"'open", "at position 1: unterminated string literal"},
      {"upper($LastName", "at position 16: expected \",\" or \")\" at end of expression"},
      {"soundex($LastName)", "unknown or unsupported function soundex()"},
      {"substr($LastName)", "wrong number of arguments to substr(): 1 given, 2 or 3 expected"},
      {"coalesce($Note)", "at least 2 expected"},
      {"1 +", "expected a value at end of expression"},
      {"CASE WHEN 1 THEN 2", "expected END at end of expression"},
      {"CASE 1 END", "expected WHEN"},
      {"LastName", "unknown word \"LastName\""},
      {"$AR_H_STREAM_POSITION", "variable $AR_H_STREAM_POSITION is not supported"},
      {"1 2", "at position 3: unexpected \"2\""},
      {"$", "\"$\" must be followed by a column name"},
      {"1 ; 2", "unexpected character ';'"},
      {"", "expected a value"},
  };
  for (const ErrorCase& c : cases) {
    auto e = Expression::Parse(c.expression, Employee());
    ASSERT_FALSE(e.ok()) << c.expression;
    EXPECT_TRUE(e.status().IsInvalidArgument()) << c.expression;
    EXPECT_NE(e.status().message().find(c.message_part), std::string::npos)
        << c.expression << " → " << e.status().message();
    EXPECT_NE(e.status().message().find(std::string("expression \"") + c.expression + "\""),
              std::string::npos)
        << e.status().message();
  }
}

TEST(Expression, ReportsReferencedFieldsOnce) {
  auto e = Expression::Parse("$Code || $Id || $Code", Employee());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ((*e)->referenced_fields(), (std::vector<int>{0, 5}));
  EXPECT_EQ((*e)->text(), "$Code || $Id || $Code");
}

TEST(Expression, EmptyNullsSpanMeansNoNulls) {
  auto e = Expression::Parse("$Note || '!'", Employee());
  ASSERT_TRUE(e.ok());
  Row row;
  ExpressionContext ctx{row.fields, {}, "hr", "employee"};
  auto v = (*e)->Evaluate(ctx);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, std::optional<std::string>("!"));
}

TEST(Expression, ShortRowIsADataError) {
  auto e = Expression::Parse("$Note", Employee());
  ASSERT_TRUE(e.ok());
  std::vector<std::string_view> fields = {"1", "a"};
  auto v = (*e)->Evaluate(ExpressionContext{fields, {}, "hr", "employee"});
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(v.status().IsDataError()) << v.status().ToString();
  EXPECT_NE(v.status().message().find("reads field 7 but the row has 2 fields"), std::string::npos);
}

TEST(Expression, NonNumericFieldInNumberColumnReadsAsText) {
  auto e = Expression::Parse("$Id || '/' || ($Id + 1)", Employee());
  ASSERT_TRUE(e.ok());
  std::vector<std::string_view> fields = {"x1", "", "", "", "", "", ""};
  auto v = (*e)->Evaluate(ExpressionContext{fields, {}, "hr", "employee"});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, std::optional<std::string>("x1/1"));
}

}  // namespace
}  // namespace opendms::engine

// Quoting, connection strings and SQLSTATE parsing: tables of input and expected output, then
// round trips through a real server.
#include <gtest/gtest.h>

#include "pg/pg.h"
#include "support/pg_test_server.h"

namespace opendms::pg {
namespace {

using ::opendms::testing::PgTest;

struct QuoteCase {
  std::string_view input;
  std::string_view expected;
};

TEST(PgQuoting, QuoteIdentifierAlwaysQuotesAndDoublesQuotes) {
  const QuoteCase cases[] = {
      {"orders", "\"orders\""},
      {"Orders", "\"Orders\""},
      {"a\"b", "\"a\"\"b\""},
      {"\"", "\"\"\"\""},
      {"with space", "\"with space\""},
      {"sélection", "\"sélection\""},
      {"select", "\"select\""},
      {"a.b", "\"a.b\""},
      {"", "\"\""},
  };
  for (const QuoteCase& c : cases) EXPECT_EQ(QuoteIdentifier(c.input), c.expected) << c.input;
}

TEST(PgQuoting, QualifiedNameQuotesBothParts) {
  EXPECT_EQ(QualifiedName("public", "t"), "\"public\".\"t\"");
  EXPECT_EQ(QualifiedName("My\"Schema", "a.b"), "\"My\"\"Schema\".\"a.b\"");
}

TEST(PgQuoting, QuoteLiteralDoublesQuotesAndUsesEscapeFormForBackslashes) {
  const QuoteCase cases[] = {
      {"plain", "'plain'"},
      {"it's", "'it''s'"},
      {"''", "''''''"},
      {"", "''"},
      {"C:\\dir", "E'C:\\\\dir'"},
      {"\\'", "E'\\\\'''"},
      {"naïve €", "'naïve €'"},
      {"line\nbreak", "'line\nbreak'"},
  };
  for (const QuoteCase& c : cases) EXPECT_EQ(QuoteLiteral(c.input), c.expected) << c.input;
}

TEST(PgQuoting, ValidateIdentifierRejectsEmptyNulAndOverlongNames) {
  EXPECT_TRUE(ValidateIdentifier("orders").ok());
  EXPECT_TRUE(ValidateIdentifier(std::string(63, 'x')).ok());
  EXPECT_TRUE(ValidateIdentifier(std::string(64, 'x')).IsInvalidArgument());
  EXPECT_TRUE(ValidateIdentifier("").IsInvalidArgument());
  EXPECT_TRUE(ValidateIdentifier(std::string_view("a\0b", 3)).IsInvalidArgument());
  // 63 bytes is the limit in bytes, not characters: 32 two-byte characters are 64 bytes.
  std::string wide;
  for (int i = 0; i < 32; ++i) wide += "é";
  EXPECT_TRUE(ValidateIdentifier(wide).IsInvalidArgument());
}

TEST(PgConnectionParams, ConnInfoQuotesEveryValue) {
  ConnectionParams p;
  p.host = "/tmp/my sock";
  p.port = 6543;
  p.dbname = "db'x";
  p.user = "u\\v";
  p.password = "p w'd";
  p.application_name = "opendms";
  p.connect_timeout_seconds = 3;
  EXPECT_EQ(p.ToConnInfo(),
            "host='/tmp/my sock' port='6543' dbname='db\\'x' user='u\\\\v' password='p w\\'d' "
            "application_name='opendms' connect_timeout='3' client_encoding='UTF8'");
}

TEST(PgConnectionParams, DescribeNeverShowsThePassword) {
  ConnectionParams p;
  p.host = "db.example";
  p.port = 5433;
  p.dbname = "sales";
  p.user = "loader";
  p.password = "hunter2-secret";
  EXPECT_EQ(p.Describe(), "loader@db.example:5433/sales");
}

TEST(PgErrors, SqlStateReadsTheTrailingCode) {
  struct Case {
    Status status;
    std::string_view expected;
  };
  const Case cases[] = {
      {Status::DatabaseError("SELECT x: ERROR: column \"x\" does not exist (SQLSTATE 42703)"),
       "42703"},
      {Status::DatabaseError("a (SQLSTATE 42703) then b (SQLSTATE 22P02)"), "22P02"},
      {Status::ConnectionError("connect to u@h:1/d: connection refused"), ""},
      {Status::DatabaseError("truncated (SQLSTATE 22P"), ""},
      {Status::Ok(), ""},
  };
  for (const Case& c : cases) EXPECT_EQ(SqlState(c.status), c.expected) << c.status.ToString();
}

using PgQuotingRoundTrip = PgTest;

TEST_F(PgQuotingRoundTrip, IdentifiersSurviveCreateTableAndInformationSchema) {
  const std::string names[] = {"MixedCase", "with space", "quote\"inside",     "ünïcødé_表",
                               "select",    "dot.ted",    std::string(63, 'n')};
  ASSERT_TRUE(conn().Execute("CREATE SCHEMA " + QuoteIdentifier("Odd \"Schema\"")).ok());
  for (const std::string& name : names) {
    const std::string table = QualifiedName("Odd \"Schema\"", name);
    ASSERT_TRUE(
        conn().Execute("CREATE TABLE " + table + " (" + QuoteIdentifier(name) + " int)").ok())
        << name;
    ASSERT_TRUE(conn().Execute("INSERT INTO " + table + " VALUES (7)").ok()) << name;
    Result<QueryResult> found = conn().Query(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = $1 AND table_name = $2",
        {"Odd \"Schema\"", name});
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    ASSERT_EQ(found->rows(), 1) << name;
    EXPECT_EQ(found->Get(0, 0), name);
    EXPECT_EQ(found->Get(0, 1), name);
    EXPECT_EQ(RowCount("Odd \"Schema\"", name), 1);
  }
  // Case is kept: "MixedCase" and "mixedcase" are different tables.
  ASSERT_TRUE(conn().Execute("CREATE TABLE " + QuoteIdentifier("mixedcase") + " (x int)").ok());
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_class WHERE relname IN ('MixedCase', 'mixedcase')"),
            "2");
}

TEST_F(PgQuotingRoundTrip, LiteralsComeBackByteForByte) {
  const std::string values[] = {"",          "it's",      "back\\slash", "\\'\\\\''",
                                "tab\there", "new\nline", "€ and 表",    "E'not an escape'"};
  // Under both settings of standard_conforming_strings the literal means the same.
  for (const char* setting : {"on", "off"}) {
    ASSERT_TRUE(conn().Execute(std::string("SET standard_conforming_strings = ") + setting).ok());
    for (const std::string& v : values) {
      Result<QueryResult> r = conn().Query("SELECT " + QuoteLiteral(v));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->Get(0, 0), v) << "standard_conforming_strings=" << setting;
    }
  }
}

}  // namespace
}  // namespace opendms::pg

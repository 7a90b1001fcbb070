// Connection and QueryResult against the test cluster: statements, parameters, results, and the
// shape and kind of errors.
#include <gtest/gtest.h>

#include "pg/pg.h"
#include "support/pg_test_server.h"

namespace opendms::pg {
namespace {

using ::opendms::testing::PgTest;

using PgConnection = PgTest;

TEST_F(PgConnection, ExecuteRunsSeveralStatements) {
  ASSERT_TRUE(conn()
                  .Execute("CREATE TABLE t (id int PRIMARY KEY, name text);"
                           "INSERT INTO t VALUES (1, 'a'), (2, 'b');"
                           "SELECT * FROM t")
                  .ok());
  EXPECT_EQ(RowCount("public", "t"), 2);
  EXPECT_TRUE(conn().Execute("").ok());
  EXPECT_TRUE(conn().Execute("-- just a comment").ok());
}

TEST_F(PgConnection, QueryBindsTextParametersAndNulls) {
  ASSERT_TRUE(conn().Execute("CREATE TABLE t (id int, name text, at date)").ok());
  Result<QueryResult> inserted = conn().Query(
      "INSERT INTO t VALUES ($1, $2, $3), ($4, $5, $6)",
      {"1", "O'Brien; DROP TABLE t; --", "2024-02-29", "2", std::nullopt, std::nullopt});
  ASSERT_TRUE(inserted.ok()) << inserted.status().ToString();
  EXPECT_EQ(inserted->AffectedRows(), 2u);
  EXPECT_EQ(inserted->rows(), 0);

  Result<QueryResult> r =
      conn().Query("SELECT id, name, at FROM t WHERE id >= $1 ORDER BY id", {"1"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows(), 2);
  ASSERT_EQ(r->columns(), 3);
  EXPECT_EQ(r->Get(0, 1), "O'Brien; DROP TABLE t; --");
  EXPECT_EQ(r->Get(0, 2), "2024-02-29");
  EXPECT_FALSE(r->IsNull(0, 1));
  EXPECT_TRUE(r->IsNull(1, 1));
  EXPECT_TRUE(r->IsNull(1, 2));
  EXPECT_EQ(r->Get(1, 1), "");
  EXPECT_EQ(r->AffectedRows(), 2u);  // SELECT 2
}

TEST_F(PgConnection, ColumnIndexMatchesNamesExactly) {
  Result<QueryResult> r = conn().Query("SELECT 1 AS \"Id\", 2 AS id, 3 AS \"with space\"");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->ColumnIndex("Id"), 0);
  EXPECT_EQ(r->ColumnIndex("id"), 1);
  EXPECT_EQ(r->ColumnIndex("with space"), 2);
  EXPECT_EQ(r->ColumnIndex("ID"), -1);
  EXPECT_EQ(r->ColumnName(2), "with space");
}

TEST_F(PgConnection, TextRoundTripsAsUtf8) {
  EXPECT_EQ(Scalar("SHOW client_encoding"), "UTF8");
  Result<QueryResult> r = conn().Query("SELECT $1::text, length($1::text)", {"naïve 表 €"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->Get(0, 0), "naïve 表 €");
  EXPECT_EQ(r->Get(0, 1), "9");
}

TEST_F(PgConnection, ServerErrorCarriesSqlMessageAndSqlState) {
  ASSERT_TRUE(conn().Execute("CREATE TABLE t (n int)").ok());
  Status st = conn().Execute("INSERT INTO t VALUES ('abc')");
  ASSERT_TRUE(st.IsDatabaseError()) << st.ToString();
  EXPECT_EQ(st.message(),
            "INSERT INTO t VALUES ('abc'): ERROR: invalid input syntax for type integer: \"abc\" "
            "(SQLSTATE 22P02)")
      << st.message();
  EXPECT_EQ(SqlState(st), "22P02");

  Result<QueryResult> missing = conn().Query("SELECT * FROM no_such_table WHERE n = $1", {"1"});
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsDatabaseError());
  EXPECT_EQ(SqlState(missing.status()), "42P01");
  EXPECT_NE(missing.status().message().find("SELECT * FROM no_such_table"), std::string::npos);

  // A failed statement does not poison an autocommit session.
  EXPECT_EQ(Scalar("SELECT 40 + 2"), "42");
}

TEST_F(PgConnection, ErrorDetailAndContextAreKeptOnOneLine) {
  ASSERT_TRUE(conn().Execute("CREATE TABLE t (id int PRIMARY KEY)").ok());
  ASSERT_TRUE(conn().Execute("INSERT INTO t VALUES (1)").ok());
  Status st = conn().Execute("INSERT INTO t\nVALUES (1)");
  ASSERT_TRUE(st.IsDatabaseError());
  EXPECT_EQ(SqlState(st), "23505");
  EXPECT_NE(st.message().find("INSERT INTO t VALUES (1): ERROR: duplicate key value"),
            std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("DETAIL: Key (id)=(1) already exists."), std::string::npos)
      << st.message();
  EXPECT_EQ(st.message().find('\n'), std::string::npos);
}

TEST_F(PgConnection, LongSqlIsTruncatedInMessages) {
  std::string sql = "SELECT '" + std::string(2000, 'x') + "' + no_such_column";
  Status st = conn().Execute(sql);
  ASSERT_TRUE(st.IsDatabaseError());
  EXPECT_LT(st.message().size(), 1000u);
  EXPECT_NE(st.message().find("..."), std::string::npos);
  EXPECT_EQ(SqlState(st), "42703");
}

TEST_F(PgConnection, PasswordLiteralsAreRedactedFromErrors) {
  Status st = conn().Execute(
      "CREATE ROLE \"no such\" WITH LOGIN PASSWORD 'sw0rdfish-xyz' "
      "IN ROLE no_such_role");
  ASSERT_TRUE(st.IsDatabaseError()) << st.ToString();
  EXPECT_EQ(st.message().find("sw0rdfish"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("PASSWORD '***'"), std::string::npos) << st.message();
}

TEST_F(PgConnection, ExecuteRefusesCopyFromStdinAndStaysUsable) {
  ASSERT_TRUE(conn().Execute("CREATE TABLE t (n int)").ok());
  Status st = conn().Execute("COPY t FROM STDIN");
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_TRUE(conn().IsHealthy());
  EXPECT_EQ(Scalar("SELECT count(*) FROM t"), "0");
  // COPY TO STDOUT's rows are read and dropped.
  EXPECT_TRUE(conn().Execute("COPY t TO STDOUT").ok());
  EXPECT_EQ(Scalar("SELECT 1"), "1");
}

TEST_F(PgConnection, WrongPasswordIsADatabaseErrorWithoutThePassword) {
  ConnectionParams wrong = params_;
  wrong.password = "definitely-wrong-pw";
  Result<Connection> c = Connection::Open(wrong);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(c.status().IsDatabaseError()) << c.status().ToString();
  EXPECT_EQ(SqlState(c.status()), "28P01") << c.status().ToString();
  EXPECT_NE(c.status().message().find("password authentication failed"), std::string::npos);
  EXPECT_EQ(c.status().message().find("definitely-wrong-pw"), std::string::npos);
  EXPECT_EQ(c.status().message().find(params_.password), std::string::npos);
  EXPECT_NE(c.status().message().find(wrong.Describe()), std::string::npos);
}

TEST_F(PgConnection, MissingDatabaseIsADatabaseError) {
  ConnectionParams p = params_;
  p.dbname = "no_such_database";
  Result<Connection> c = Connection::Open(p);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(c.status().IsDatabaseError()) << c.status().ToString();
  EXPECT_EQ(SqlState(c.status()), "3D000");
}

TEST_F(PgConnection, NothingListeningIsAConnectionError) {
  ConnectionParams p = params_;
  p.port = 1;  // privileged and unused
  Result<Connection> c = Connection::Open(p);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(c.status().IsConnectionError()) << c.status().ToString();
}

TEST_F(PgConnection, OpensFromAConnectionString) {
  Result<Connection> c = Connection::Open(params_.ToConnInfo());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->IsHealthy());
  EXPECT_EQ(c->description(), params_.Describe());
  Result<QueryResult> r = c->Query("SELECT current_database()");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Get(0, 0), database_);
}

TEST(PgConnectionString, UnparsableStringWithholdsDetailsThatCouldHoldThePassword) {
  Result<Connection> c = Connection::Open(std::string("host=x password=se cret"));
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(c.status().IsInvalidArgument());
  EXPECT_EQ(c.status().message().find("cret"), std::string::npos) << c.status().ToString();

  Result<Connection> d = Connection::Open(std::string("host=x nonsense"));
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(d.status().IsInvalidArgument());
  EXPECT_NE(d.status().message().find("nonsense"), std::string::npos) << d.status().ToString();
}

TEST_F(PgConnection, TerminatedSessionIsAConnectionError) {
  Result<Connection> victim = Connection::Open(params_);
  ASSERT_TRUE(victim.ok()) << victim.status().ToString();
  Result<QueryResult> pid = victim->Query("SELECT pg_backend_pid()");
  ASSERT_TRUE(pid.ok());
  const std::string victim_pid(pid->Get(0, 0));
  EXPECT_EQ(Scalar("SELECT pg_terminate_backend(" + victim_pid + ", 5000)"), "t");

  Status st = victim->Execute("SELECT 1");
  EXPECT_TRUE(st.IsConnectionError()) << st.ToString();
  EXPECT_FALSE(victim->IsHealthy());
  // The session that terminated it is unaffected.
  EXPECT_TRUE(conn().IsHealthy());
}

TEST_F(PgConnection, MovedFromConnectionReportsClosed) {
  Result<Connection> opened = Connection::Open(params_);
  ASSERT_TRUE(opened.ok());
  Connection a = std::move(opened).value();
  Connection b = std::move(a);
  EXPECT_FALSE(a.IsHealthy());  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_TRUE(a.Execute("SELECT 1").IsInvalidState());
  EXPECT_TRUE(b.IsHealthy());
  EXPECT_TRUE(b.Execute("SELECT 1").ok());
}

}  // namespace
}  // namespace opendms::pg

// CopyIn against the test cluster: text and binary streams, rejected data, and aborts.
#include <gtest/gtest.h>

#include <cstdint>

#include "pg/pg.h"
#include "support/pg_test_server.h"

namespace opendms::pg {
namespace {

using ::opendms::testing::PgTest;

// A hand-written binary COPY stream (PostgreSQL's "COPY BINARY" file format): signature,
// flags, header extension, tuples of (int16 field count, then per field int32 length or -1 for
// NULL, and the bytes), trailer int16 -1. Integers are big-endian.
class BinaryCopyWriter {
 public:
  BinaryCopyWriter() {
    bytes_.append("PGCOPY\n\377\r\n\0", 11);
    PutInt32(0);  // flags: no OIDs
    PutInt32(0);  // header extension length
  }
  void StartTuple(int16_t fields) { PutInt16(fields); }
  void Int4(int32_t v) {
    PutInt32(4);
    PutInt32(v);
  }
  void Int8(int64_t v) {
    PutInt32(8);
    for (int shift = 56; shift >= 0; shift -= 8) bytes_ += static_cast<char>((v >> shift) & 0xFF);
  }
  void Text(std::string_view v) {
    PutInt32(static_cast<int32_t>(v.size()));
    bytes_.append(v);
  }
  void Null() { PutInt32(-1); }
  std::string Finish() {
    PutInt16(-1);
    return bytes_;
  }

 private:
  void PutInt16(int16_t v) {
    bytes_ += static_cast<char>((v >> 8) & 0xFF);
    bytes_ += static_cast<char>(v & 0xFF);
  }
  void PutInt32(int32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes_ += static_cast<char>((v >> shift) & 0xFF);
  }
  std::string bytes_;
};

class PgCopyIn : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(conn().Execute("CREATE TABLE t (id int, name text, score bigint)").ok());
  }
  const std::string kCopy = "COPY " + QualifiedName("public", "t") + " FROM STDIN";
};

TEST_F(PgCopyIn, TextRowsAreCopiedAcrossWrites) {
  Result<CopyIn> copy = CopyIn::Begin(conn(), kCopy);
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  ASSERT_TRUE(copy->Write("1\talpha\t10\n2\tbe").ok());  // a row split across two writes
  ASSERT_TRUE(copy->Write("ta\t\\N\n3\tgam\\tma\t-7\n").ok());
  Result<uint64_t> rows = copy->Finish();
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(*rows, 3u);
  EXPECT_FALSE(copy->active());
  EXPECT_EQ(RowCount("public", "t"), 3);
  EXPECT_EQ(Scalar("SELECT name FROM t WHERE id = 2"), "beta");
  EXPECT_EQ(Scalar("SELECT score IS NULL FROM t WHERE id = 2"), "t");
  EXPECT_EQ(Scalar("SELECT name FROM t WHERE id = 3"), "gam\tma");
}

TEST_F(PgCopyIn, BinaryRowsAreCopied) {
  BinaryCopyWriter w;
  w.StartTuple(3);
  w.Int4(1);
  w.Text("ünïcødé");
  w.Int8(int64_t{1} << 40);
  w.StartTuple(3);
  w.Int4(-2);
  w.Null();
  w.Int8(-5);
  const std::string data = w.Finish();

  Result<CopyIn> copy = CopyIn::Begin(conn(), kCopy + " (FORMAT binary)");
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  // Byte by byte for the first part: the stream has no message boundaries to respect.
  for (size_t i = 0; i < 20; ++i) ASSERT_TRUE(copy->Write(data.substr(i, 1)).ok());
  ASSERT_TRUE(copy->Write(std::string_view(data).substr(20)).ok());
  Result<uint64_t> rows = copy->Finish();
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(*rows, 2u);
  EXPECT_EQ(Scalar("SELECT name || ':' || score FROM t WHERE id = 1"), "ünïcødé:1099511627776");
  EXPECT_EQ(Scalar("SELECT (name IS NULL)::text || ':' || score FROM t WHERE id = -2"), "true:-5");
}

TEST_F(PgCopyIn, RejectedDataFailsFinishWithSqlStateAndCopiesNothing) {
  Result<CopyIn> copy = CopyIn::Begin(conn(), kCopy);
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  ASSERT_TRUE(copy->Write("1\ta\t1\nabc\tb\t2\n3\tc\t3\n").ok());
  Result<uint64_t> rows = copy->Finish();
  ASSERT_FALSE(rows.ok());
  const Status& st = rows.status();
  EXPECT_TRUE(st.IsDatabaseError()) << st.ToString();
  EXPECT_EQ(SqlState(st), "22P02");
  EXPECT_EQ(st.message().rfind("COPY \"public\".\"t\" FROM STDIN: ERROR: invalid input syntax for "
                               "type integer: \"abc\"",
                               0),
            0u)
      << st.message();
  EXPECT_NE(st.message().find("line 2"), std::string::npos) << st.message();
  EXPECT_EQ(RowCount("public", "t"), 0);
  EXPECT_TRUE(conn().IsHealthy());
}

TEST_F(PgCopyIn, DestroyedBeforeFinishLeavesNoRowsAndAUsableConnection) {
  {
    Result<CopyIn> copy = CopyIn::Begin(conn(), kCopy);
    ASSERT_TRUE(copy.ok()) << copy.status().ToString();
    ASSERT_TRUE(copy->Write("1\ta\t1\n2\tb\t2\n").ok());
  }  // dropped unfinished
  EXPECT_TRUE(conn().IsHealthy());
  EXPECT_EQ(RowCount("public", "t"), 0);
  EXPECT_TRUE(conn().Execute("INSERT INTO t VALUES (9, 'after', 9)").ok());
  EXPECT_EQ(RowCount("public", "t"), 1);
}

TEST_F(PgCopyIn, AbortRollsBackAndCannotBeFollowedByWrites) {
  Result<CopyIn> copy = CopyIn::Begin(conn(), kCopy);
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  ASSERT_TRUE(copy->Write("1\ta\t1\n").ok());
  Status aborted = copy->Abort("object rejected by policy");
  EXPECT_TRUE(aborted.ok()) << aborted.ToString();
  EXPECT_FALSE(copy->active());
  EXPECT_TRUE(copy->Write("2\tb\t2\n").IsInvalidState());
  EXPECT_TRUE(copy->Finish().status().IsInvalidState());
  EXPECT_EQ(RowCount("public", "t"), 0);
}

TEST_F(PgCopyIn, AbortInsideATransactionLeavesEarlierWorkForTheCallerToRollBack) {
  ASSERT_TRUE(conn().Execute("BEGIN; INSERT INTO t VALUES (1, 'before', 1)").ok());
  {
    Result<CopyIn> copy = CopyIn::Begin(conn(), kCopy);
    ASSERT_TRUE(copy.ok()) << copy.status().ToString();
    ASSERT_TRUE(copy->Write("2\tb\t2\n").ok());
  }
  Status st = conn().Execute("SELECT 1");
  EXPECT_EQ(SqlState(st), "25P02") << st.ToString();  // in failed transaction
  ASSERT_TRUE(conn().Execute("ROLLBACK").ok());
  EXPECT_EQ(RowCount("public", "t"), 0);
}

TEST_F(PgCopyIn, BeginRefusesWhatIsNotCopyFromStdin) {
  Result<CopyIn> missing = CopyIn::Begin(conn(), "COPY no_such_table FROM STDIN");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(SqlState(missing.status()), "42P01");
  EXPECT_NE(missing.status().message().find("COPY no_such_table FROM STDIN"), std::string::npos);

  Result<CopyIn> select = CopyIn::Begin(conn(), "SELECT 1");
  ASSERT_FALSE(select.ok());
  EXPECT_TRUE(select.status().IsInvalidArgument());

  Result<CopyIn> copy_out = CopyIn::Begin(conn(), "COPY t TO STDOUT");
  ASSERT_FALSE(copy_out.ok());
  EXPECT_TRUE(copy_out.status().IsInvalidArgument());
  EXPECT_EQ(Scalar("SELECT 5"), "5");
}

TEST_F(PgCopyIn, MovedCopyKeepsTheStream) {
  Result<CopyIn> begun = CopyIn::Begin(conn(), kCopy);
  ASSERT_TRUE(begun.ok());
  CopyIn first = std::move(begun).value();
  CopyIn second = std::move(first);
  EXPECT_FALSE(first.active());  // NOLINT(bugprone-use-after-move): the contract under test
  ASSERT_TRUE(second.Write("4\td\t4\n").ok());
  Result<uint64_t> rows = second.Finish();
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(*rows, 1u);
}

}  // namespace
}  // namespace opendms::pg

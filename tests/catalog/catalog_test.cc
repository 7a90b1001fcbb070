// Catalog: the private cluster (start, migrate, restart of the Catalog, server killed and
// restarted under the pool) and url mode against the shared test server (migrations applied once
// under concurrency, a failing migration rolled back, downgrades refused, transactions).
#include "catalog/catalog.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "support/pg_test_server.h"

namespace opendms::catalog {
namespace {

using ::opendms::testing::PgTest;
using ::opendms::testing::ScratchDir;

std::string ScalarOf(Catalog& catalog, std::string_view sql) {
  Result<Lease> lease = catalog.Acquire();
  if (!lease.ok()) return "error: " + lease.status().ToString();
  Result<pg::QueryResult> r = (*lease)->Query(sql);
  if (!r.ok()) return "error: " + r.status().ToString();
  return r->rows() > 0 ? std::string(r->Get(0, 0)) : "no rows";
}

const std::vector<Migration> kWidgetMigrations = {
    {1, "widgets table", "CREATE SCHEMA widgets; CREATE TABLE widgets.w (id int PRIMARY KEY)"},
    {2, "widget names", "ALTER TABLE widgets.w ADD COLUMN name text NOT NULL DEFAULT ''"},
};

Options PrivateOptions(const std::string& data_dir) {
  Options options;
  options.data_dir = data_dir;
  return options;
}

Options UrlOptions(const std::string& url) {
  Options options;
  options.url = url;
  options.pool_size = 2;
  return options;
}

TEST(CatalogPrivateCluster, StartsMigratesAndKeepsStateAcrossRestartAndServerCrash) {
  Result<ScratchDir> dir = ScratchDir::Create("opendms-catalog");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  const std::string data_dir = dir->path() + "/data";
  {
    Result<std::unique_ptr<Catalog>> opened = Catalog::Open(PrivateOptions(data_dir));
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    Catalog& catalog = **opened;
    ASSERT_NE(catalog.local_cluster(), nullptr);
    EXPECT_TRUE(catalog.local_cluster()->running());
    // Unix socket only: the conninfo names the socket directory, and no TCP listener exists.
    EXPECT_NE(catalog.conninfo().find(catalog.local_cluster()->socket_dir()), std::string::npos);
    EXPECT_EQ(ScalarOf(catalog, "SHOW listen_addresses"), "");
    EXPECT_EQ(ScalarOf(catalog, "SELECT current_database()"), "opendms");
    if (geteuid() == 0) {  // PostgreSQL refuses root: the cluster belongs to an unprivileged user
      struct stat st;
      ASSERT_EQ(stat((data_dir + "/catalog").c_str(), &st), 0);
      EXPECT_NE(st.st_uid, 0u);
    }

    ASSERT_TRUE(catalog.Migrate("widgets", kWidgetMigrations).ok());
    ASSERT_TRUE(catalog
                    .InTransaction([](pg::Connection& conn) {
                      return conn.Execute("INSERT INTO widgets.w VALUES (1, 'one')");
                    })
                    .ok());

    // The server dies under the pool: the idle connections are dead, Acquire must not hand them
    // out once the server is back.
    {
      Result<Lease> a = catalog.Acquire();
      Result<Lease> b = catalog.Acquire();
      ASSERT_TRUE(a.ok() && b.ok());
    }  // both back in the pool
    ASSERT_TRUE(catalog.local_cluster()->Kill().ok());
    ASSERT_TRUE(catalog.local_cluster()->Restart().ok()) << catalog.local_cluster()->LogTail();
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(ScalarOf(catalog, "SELECT name FROM widgets.w WHERE id = 1"), "one");
    }
    Status st = catalog.InTransaction([](pg::Connection& conn) {
      return conn.Execute("INSERT INTO widgets.w VALUES (2, 'two')");
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
  }  // the Catalog stops its cluster
  Result<std::unique_ptr<Catalog>> reopened = Catalog::Open(PrivateOptions(data_dir));
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(ScalarOf(**reopened, "SELECT string_agg(name, ',' ORDER BY id) FROM widgets.w"),
            "one,two");
  EXPECT_EQ(ScalarOf(**reopened,
                     "SELECT count(*) FROM opendms_catalog.schema_migrations "
                     "WHERE component = 'widgets'"),
            "2");
  // Migrating again with the same list is a no-op.
  EXPECT_TRUE((*reopened)->Migrate("widgets", kWidgetMigrations).ok());
}

class CatalogUrl : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    Result<std::unique_ptr<Catalog>> opened = Catalog::Open(UrlOptions(params_.ToConnInfo()));
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    catalog_ = std::move(opened).value();
  }
  void TearDown() override {
    catalog_.reset();  // closes its connections before the database is dropped
    PgTest::TearDown();
  }
  // Scalar(sql), re-read for up to 2 s until it equals `expected`.
  std::string EventuallyScalar(std::string_view sql, std::string_view expected) {
    std::string value;
    for (int i = 0; i < 100; ++i) {
      value = Scalar(sql);
      if (value == expected) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return value;
  }
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(CatalogUrl, UsesTheGivenServerWithoutACluster) {
  EXPECT_EQ(catalog_->local_cluster(), nullptr);
  EXPECT_EQ(ScalarOf(*catalog_, "SELECT current_database()"), database_);
  EXPECT_EQ(Scalar("SELECT count(*) FROM opendms_catalog.schema_migrations"), "0");
}

TEST_F(CatalogUrl, AppliesMigrationsInOrderAndRecordsThem) {
  // Given out of order: applied in version order all the same.
  ASSERT_TRUE(catalog_->Migrate("widgets", {kWidgetMigrations[1], kWidgetMigrations[0]}).ok());
  EXPECT_EQ(Scalar("SELECT string_agg(version || ':' || description, ';' ORDER BY version) "
                   "FROM opendms_catalog.schema_migrations WHERE component = 'widgets'"),
            "1:widgets table;2:widget names");
  // A third version later applies only itself.
  std::vector<Migration> more = kWidgetMigrations;
  more.push_back({3, "widget index", "CREATE INDEX ON widgets.w (name)"});
  ASSERT_TRUE(catalog_->Migrate("widgets", more).ok());
  EXPECT_EQ(Scalar("SELECT max(version) FROM opendms_catalog.schema_migrations"), "3");
}

TEST_F(CatalogUrl, ConcurrentMigrateFromTwoThreadsAppliesOnce) {
  // Not idempotent SQL: a second application would fail (the schema exists) or double the rows.
  std::vector<Migration> migrations = {
      {1, "schema", "CREATE SCHEMA racy; CREATE TABLE racy.applied (n int)"},
      {2, "first row", "INSERT INTO racy.applied VALUES (1); SELECT pg_sleep(0.05)"},
      {3, "second row", "INSERT INTO racy.applied VALUES (2)"},
  };
  Status results[2];
  std::thread a([&] { results[0] = catalog_->Migrate("racy", migrations); });
  std::thread b([&] { results[1] = catalog_->Migrate("racy", migrations); });
  a.join();
  b.join();
  EXPECT_TRUE(results[0].ok()) << results[0].ToString();
  EXPECT_TRUE(results[1].ok()) << results[1].ToString();
  EXPECT_EQ(Scalar("SELECT string_agg(n::text, ',' ORDER BY n) FROM racy.applied"), "1,2");
  EXPECT_EQ(Scalar("SELECT count(*) FROM opendms_catalog.schema_migrations"), "3");
}

TEST_F(CatalogUrl, FailingMigrationRollsBackAndNamesComponentAndVersion) {
  std::vector<Migration> migrations = {
      {1, "good", "CREATE SCHEMA broken; CREATE TABLE broken.t (n int)"},
      {2, "bad", "CREATE TABLE broken.half (n int); INSERT INTO broken.t VALUES ('not a number')"},
  };
  Status st = catalog_->Migrate("broken", migrations);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(st.IsDatabaseError()) << st.ToString();
  EXPECT_NE(st.message().find("catalog migration broken version 2 (bad)"), std::string::npos)
      << st.message();
  // Version 1 stays, version 2 left nothing behind.
  EXPECT_EQ(Scalar("SELECT string_agg(version::text, ',') FROM opendms_catalog.schema_migrations"),
            "1");
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'broken'"), "1");
}

TEST_F(CatalogUrl, RefusesADatabaseMigratedByANewerVersion) {
  ASSERT_TRUE(catalog_->Migrate("widgets", kWidgetMigrations).ok());
  Status st = catalog_->Migrate("widgets", {kWidgetMigrations[0]});
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(st.IsInvalidState()) << st.ToString();
  EXPECT_NE(st.message().find("component widgets is at version 2"), std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("downgrade"), std::string::npos) << st.message();
  // Another component is unaffected.
  EXPECT_TRUE(catalog_->Migrate("gadgets", {{1, "g", "CREATE TABLE g (n int)"}}).ok());
}

TEST_F(CatalogUrl, InTransactionCommitsOrRollsBack) {
  ASSERT_TRUE(conn().Execute("CREATE TABLE t (n int)").ok());
  ASSERT_TRUE(
      catalog_
          ->InTransaction([](pg::Connection& c) { return c.Execute("INSERT INTO t VALUES (1)"); })
          .ok());
  int calls = 0;
  Status st = catalog_->InTransaction([&](pg::Connection& c) {
    ++calls;
    RETURN_IF_ERROR(c.Execute("INSERT INTO t VALUES (2)"));
    return Status::InvalidArgument("changed my mind");
  });
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_EQ(calls, 1);  // not transient: no retry
  EXPECT_EQ(Scalar("SELECT string_agg(n::text, ',') FROM t"), "1");
}

TEST_F(CatalogUrl, InTransactionRetriesASerializationFailureOnce) {
  ASSERT_TRUE(conn().Execute("CREATE TABLE t (n int)").ok());
  int calls = 0;
  Status st = catalog_->InTransaction([&](pg::Connection& c) -> Status {
    ++calls;
    RETURN_IF_ERROR(c.Execute("INSERT INTO t VALUES (" + std::to_string(calls) + ")"));
    if (calls == 1) {
      // A real 40001 from the server, raised inside the transaction.
      return c.Execute(
          "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; "
          "END $$");
    }
    return Status::Ok();
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(Scalar("SELECT string_agg(n::text, ',') FROM t"), "2");
  // Twice in a row: the second failure is returned.
  calls = 0;
  st = catalog_->InTransaction([&](pg::Connection& c) {
    ++calls;
    return c.Execute(
        "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'deadlock_detected'; END $$");
  });
  EXPECT_EQ(pg::SqlState(st), "40P01") << st.ToString();
  EXPECT_EQ(calls, 2);
}

TEST_F(CatalogUrl, PoolKeepsAtMostPoolSizeIdleAndDropsConnectionsLeftInATransaction) {
  {
    std::vector<Lease> leases;
    for (int i = 0; i < 4; ++i) {
      Result<Lease> lease = catalog_->Acquire();  // more than pool_size: opened on demand
      ASSERT_TRUE(lease.ok()) << lease.status().ToString();
      leases.push_back(std::move(lease).value());
    }
    EXPECT_EQ(Scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                     "AND application_name = 'opendms' AND pid <> pg_backend_pid()"),
              "4");
  }
  // The backend of a closed connection leaves pg_stat_activity a moment after the client hangs up.
  EXPECT_EQ(EventuallyScalar("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                             "current_database() AND application_name = 'opendms' "
                             "AND pid <> pg_backend_pid()",
                             "2"),
            "2");
  {
    Result<Lease> lease = catalog_->Acquire();
    ASSERT_TRUE(lease.ok());
    ASSERT_TRUE((*lease)->Execute("BEGIN; CREATE TEMP TABLE left_open (n int)").ok());
  }  // returned inside a transaction: closed, not pooled
  EXPECT_EQ(EventuallyScalar("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                             "current_database() AND state LIKE 'idle in transaction%'",
                             "0"),
            "0");
  Result<Lease> lease = catalog_->Acquire();
  ASSERT_TRUE(lease.ok());
  EXPECT_TRUE((*lease)->Execute("CREATE TEMP TABLE left_open (n int)").ok());
}

}  // namespace
}  // namespace opendms::catalog

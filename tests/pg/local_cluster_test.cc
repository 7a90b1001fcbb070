// LocalCluster: lifecycle (restart, stop/start, kill and crash recovery, leftovers), several
// clusters at once, configuration, and databases. Each lifecycle test runs its own scratch
// cluster so that it can stop and kill it without disturbing the shared one.
#include <gtest/gtest.h>

#include <fstream>

#include "pg/pg.h"
#include "support/pg_test_server.h"

namespace opendms::pg {
namespace {

using ::opendms::testing::PgTest;
using ::opendms::testing::ScratchClusterOptions;
using ::opendms::testing::ScratchDir;
using ::opendms::testing::TestClusterOptions;

// Declares `Connection& var`, connected to the cluster's "postgres" database, or fails the test
// with the server log.
#define ASSERT_CONNECT(var, cluster)                                                      \
  Result<Connection> var##_opened = Connection::Open((cluster).Params("postgres"));       \
  ASSERT_TRUE(var##_opened.ok()) << var##_opened.status().ToString() << "\nserver log:\n" \
                                 << (cluster).LogTail();                                  \
  Connection& var = *var##_opened

class PgLocalCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<ScratchDir> dir = ScratchDir::Create("opendms-lc");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_.emplace(std::move(dir).value());
  }

  // A fresh directory: Start runs initdb.
  LocalCluster::Options OptionsFor(const std::string& name) {
    return TestClusterOptions(dir_->path() + "/" + name);
  }

  // A copy of the binary's initdb'ed template: for tests about what happens after initdb.
  LocalCluster::Options ScratchFor(const std::string& name) {
    Result<LocalCluster::Options> options = ScratchClusterOptions(dir_->path() + "/" + name);
    EXPECT_TRUE(options.ok()) << options.status().ToString();
    return options.ok() ? *options : OptionsFor(name);
  }

  // Starts a cluster; the test fails (with the server log in the message) if it cannot.
  std::unique_ptr<LocalCluster> StartOrFail(LocalCluster::Options options) {
    Result<std::unique_ptr<LocalCluster>> cluster = LocalCluster::Start(std::move(options));
    EXPECT_TRUE(cluster.ok()) << cluster.status().ToString();
    return cluster.ok() ? std::move(cluster).value() : nullptr;
  }

  static std::string ScalarOn(Connection& conn, std::string_view sql) {
    Result<QueryResult> r = conn.Query(sql);
    if (!r.ok()) return "error: " + r.status().ToString();
    return r->rows() > 0 ? std::string(r->Get(0, 0)) : "no rows";
  }

  std::optional<ScratchDir> dir_;  // declared first: removed after the clusters are stopped
};

TEST_F(PgLocalCluster, RestartKeepsCommittedDataAndPort) {
  std::unique_ptr<LocalCluster> cluster = StartOrFail(ScratchFor("a"));
  ASSERT_NE(cluster, nullptr);
  const int port = cluster->port();
  {
    ASSERT_CONNECT(conn, *cluster);
    ASSERT_TRUE(conn.Execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (1), (2)").ok());
  }
  const pid_t old_pid = cluster->pid();
  ASSERT_TRUE(cluster->Restart().ok()) << cluster->LogTail();
  EXPECT_TRUE(cluster->running());
  EXPECT_EQ(cluster->port(), port);
  EXPECT_NE(cluster->pid(), old_pid);
  ASSERT_CONNECT(conn, *cluster);
  EXPECT_EQ(ScalarOn(conn, "SELECT sum(n) FROM kept"), "3");
}

TEST_F(PgLocalCluster, StopThenStartAgainOnTheSameDataDirectory) {
  LocalCluster::Options options = ScratchFor("a");
  std::unique_ptr<LocalCluster> cluster = StartOrFail(options);
  ASSERT_NE(cluster, nullptr);
  {
    ASSERT_CONNECT(conn, *cluster);
    ASSERT_TRUE(conn.Execute("CREATE TABLE kept AS SELECT 'still here'::text AS v").ok());
  }
  const ConnectionParams old_params = cluster->Params("postgres");
  ASSERT_TRUE(cluster->Stop().ok());
  EXPECT_FALSE(cluster->running());
  EXPECT_EQ(cluster->pid(), 0);
  EXPECT_TRUE(cluster->Stop().ok());  // stopping twice is fine
  Result<Connection> refused = Connection::Open(old_params);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsConnectionError()) << refused.status().ToString();

  std::unique_ptr<LocalCluster> again = StartOrFail(options);  // no initdb this time
  ASSERT_NE(again, nullptr);
  ASSERT_CONNECT(conn, *again);
  EXPECT_EQ(ScalarOn(conn, "SELECT v FROM kept"), "still here");
}

TEST_F(PgLocalCluster, TwoClustersRunAtOnceOnDifferentPorts) {
  std::unique_ptr<LocalCluster> a = StartOrFail(ScratchFor("a"));
  std::unique_ptr<LocalCluster> b = StartOrFail(ScratchFor("b"));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a->port(), b->port());
  EXPECT_NE(a->socket_dir(), b->socket_dir());
  ASSERT_CONNECT(ca, *a);
  ASSERT_CONNECT(cb, *b);
  ASSERT_TRUE(ca.Execute("CREATE TABLE only_in_a (n int)").ok());
  EXPECT_EQ(ScalarOn(ca, "SELECT to_regclass('only_in_a') IS NOT NULL"), "t");
  EXPECT_EQ(ScalarOn(cb, "SELECT to_regclass('only_in_a') IS NOT NULL"), "f");
  EXPECT_EQ(ScalarOn(ca, "SHOW port"), std::to_string(a->port()));
  EXPECT_EQ(ScalarOn(cb, "SHOW port"), std::to_string(b->port()));
}

TEST_F(PgLocalCluster, KilledServerGivesConnectionErrorsAndRecoversCommittedData) {
  std::unique_ptr<LocalCluster> cluster = StartOrFail(ScratchFor("a"));
  ASSERT_NE(cluster, nullptr);
  ASSERT_CONNECT(conn, *cluster);
  ASSERT_TRUE(
      conn.Execute("CREATE TABLE t (n int); INSERT INTO t SELECT generate_series(1, 1000)").ok());
  ASSERT_TRUE(conn.Execute("BEGIN; INSERT INTO t VALUES (-1)").ok());  // never committed
  ASSERT_CONNECT(copying, *cluster);
  Result<CopyIn> copy = CopyIn::Begin(copying, "COPY t FROM STDIN");
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  ASSERT_TRUE(copy->Write("5001\n5002\n").ok());

  ASSERT_TRUE(cluster->Kill().ok());
  EXPECT_FALSE(cluster->running());

  Status st = conn.Execute("COMMIT");
  EXPECT_TRUE(st.IsConnectionError()) << st.ToString();
  EXPECT_FALSE(conn.IsHealthy());
  EXPECT_TRUE(conn.Execute("SELECT 1").IsConnectionError());
  Result<QueryResult> q = conn.Query("SELECT $1::int", {"1"});
  EXPECT_TRUE(q.status().IsConnectionError()) << q.status().ToString();
  // The COPY in flight on the other session: its end is where the loss shows.
  Status wrote = copy->Write("5003\n");
  Result<uint64_t> finished = wrote.ok() ? copy->Finish() : Result<uint64_t>(wrote);
  EXPECT_TRUE(finished.status().IsConnectionError()) << finished.status().ToString();

  ASSERT_TRUE(cluster->Restart().ok()) << cluster->LogTail();
  ASSERT_CONNECT(after, *cluster);
  EXPECT_EQ(ScalarOn(after, "SELECT count(*) FROM t"), "1000");
  EXPECT_EQ(ScalarOn(after, "SELECT count(*) FROM t WHERE n < 1 OR n > 1000"), "0");
  EXPECT_NE(cluster->LogTail().find("database system was interrupted"), std::string::npos)
      << cluster->LogTail();
}

TEST_F(PgLocalCluster, KillOfAStoppedClusterIsInvalidState) {
  std::unique_ptr<LocalCluster> cluster = StartOrFail(ScratchFor("a"));
  ASSERT_NE(cluster, nullptr);
  ASSERT_TRUE(cluster->Stop().ok());
  EXPECT_TRUE(cluster->Kill().IsInvalidState());
}

TEST_F(PgLocalCluster, StartIgnoresAStalePidFileNamingAnotherProcess) {
  LocalCluster::Options options = ScratchFor("a");
  {
    std::unique_ptr<LocalCluster> cluster = StartOrFail(options);
    ASSERT_NE(cluster, nullptr);
  }
  // As after a container restart: the recorded pid now belongs to someone else (pid 1 is always
  // alive), which PostgreSQL alone would take for a running postmaster.
  const std::string pid_file = dir_->path() + "/a/data/postmaster.pid";
  {
    std::ofstream out(pid_file);
    out << "1\n" << dir_->path() << "/a/data\n1700000000\n5432\n\n\n  5432001 0\n";
  }
  std::unique_ptr<LocalCluster> cluster = StartOrFail(options);
  ASSERT_NE(cluster, nullptr);
  EXPECT_TRUE(cluster->running());
  ASSERT_CONNECT(conn, *cluster);
  EXPECT_EQ(ScalarOn(conn, "SELECT 1"), "1");
}

TEST_F(PgLocalCluster, StartTakesOverFromALeftoverPostmaster) {
  LocalCluster::Options options = ScratchFor("a");
  std::unique_ptr<LocalCluster> first = StartOrFail(options);
  ASSERT_NE(first, nullptr);
  const pid_t first_pid = first->pid();
  std::unique_ptr<LocalCluster> second = StartOrFail(options);
  ASSERT_NE(second, nullptr);
  EXPECT_FALSE(first->running());
  EXPECT_TRUE(second->running());
  EXPECT_NE(second->pid(), first_pid);
  ASSERT_CONNECT(conn, *second);
  EXPECT_EQ(ScalarOn(conn, "SELECT 1"), "1");
}

TEST_F(PgLocalCluster, SocketOnlyClusterAppliesSettings) {
  LocalCluster::Options options = OptionsFor("a");
  options.listen_tcp = false;
  options.socket_dir.clear();  // the default, next to the data directory
  options.superuser_password.clear();
  options.settings = {{"shared_buffers", "16MB"}, {"cluster_name", "it's \\ set"}};
  std::unique_ptr<LocalCluster> cluster = StartOrFail(options);
  ASSERT_NE(cluster, nullptr);
  EXPECT_EQ(cluster->socket_dir(), dir_->path() + "/a/sock-data");
  const ConnectionParams params = cluster->Params("postgres");
  EXPECT_EQ(params.host, cluster->socket_dir());
  ASSERT_CONNECT(conn, *cluster);
  EXPECT_EQ(ScalarOn(conn, "SHOW shared_buffers"), "16MB");
  EXPECT_EQ(ScalarOn(conn, "SHOW listen_addresses"), "");
  EXPECT_EQ(ScalarOn(conn, "SHOW cluster_name"), "it's \\ set");
  ConnectionParams tcp = params;
  tcp.host = "127.0.0.1";
  Result<Connection> refused = Connection::Open(tcp);
  EXPECT_TRUE(refused.status().IsConnectionError()) << refused.status().ToString();
}

TEST_F(PgLocalCluster, FailedStartReportsTheServerLog) {
  LocalCluster::Options options = ScratchFor("a");
  options.settings = {{"shared_buffers", "lots"}};
  Result<std::unique_ptr<LocalCluster>> cluster = LocalCluster::Start(options);
  ASSERT_FALSE(cluster.ok());
  EXPECT_NE(cluster.status().message().find("invalid value for parameter \"shared_buffers\""),
            std::string::npos)
      << cluster.status().ToString();
}

TEST_F(PgLocalCluster, StartRefusesADirectoryThatIsNotADataDirectory) {
  LocalCluster::Options options = OptionsFor("a");
  std::filesystem::create_directories(options.data_dir);
  std::ofstream(options.data_dir + "/precious.txt") << "user data";
  Result<std::unique_ptr<LocalCluster>> cluster = LocalCluster::Start(options);
  ASSERT_FALSE(cluster.ok());
  EXPECT_TRUE(cluster.status().IsInvalidState()) << cluster.status().ToString();
  EXPECT_TRUE(std::filesystem::exists(options.data_dir + "/precious.txt"));
}

TEST_F(PgLocalCluster, StartRejectsBadSettingNames) {
  LocalCluster::Options options = OptionsFor("a");
  options.settings = {{"work_mem = 1MB\nfsync", "off"}};
  EXPECT_TRUE(LocalCluster::Start(options).status().IsInvalidArgument());
}

using PgClusterDatabases = PgTest;

TEST_F(PgClusterDatabases, CreateAndDropReportExistence) {
  const std::string name = "Odd \"db\" " + database_;
  ASSERT_TRUE(cluster().CreateDatabase(name).ok());
  EXPECT_TRUE(cluster().CreateDatabase(name).IsAlreadyExists());
  {
    // DROP … WITH (FORCE) ends sessions still connected to it.
    Result<Connection> inside = Connection::Open(cluster().Params(name));
    ASSERT_TRUE(inside.ok()) << inside.status().ToString();
    ASSERT_TRUE(cluster().DropDatabase(name).ok());
    EXPECT_TRUE(inside->Execute("SELECT 1").IsConnectionError());
  }
  Status again = cluster().DropDatabase(name);
  EXPECT_TRUE(again.IsNotFound()) << again.ToString();
  EXPECT_EQ(SqlState(again), "3D000");
  EXPECT_TRUE(cluster().CreateDatabase("").IsInvalidArgument());
}

TEST_F(PgClusterDatabases, SharedClusterUsesScramOnTcp) {
  EXPECT_EQ(params_.host, "127.0.0.1");
  EXPECT_FALSE(params_.password.empty());
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_authid WHERE rolname = 'postgres' AND "
                   "rolpassword LIKE 'SCRAM-SHA-256$%'"),
            "1");
  EXPECT_EQ(Scalar("SHOW fsync"), "on");
  EXPECT_EQ(Scalar("SHOW server_encoding"), "UTF8");
}

}  // namespace
}  // namespace opendms::pg

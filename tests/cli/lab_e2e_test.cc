// End-to-end: a real `opendms server` driven by the real aws CLI and boto3 — the reference lab's
// sequence for five tables (examples/lab/lab.sh) through to the target rows, the response shapes
// against moto_server, and a kill -9 of the server in the middle of a running CDC task.
#include <sys/stat.h>

#include <map>
#include <set>

#include "cli/server_fixture.h"

namespace opendms::cli_testing {
namespace {

class LabE2ETest : public ServerTest {
 protected:
  // examples/lab/lab.sh against the server and the test's database.
  ShellResult RunLab(const std::string& migration_type, int orders) {
    std::string env = "export DATA_DIR=" + ShellQuote((dir_ / "lab-data").string()) +
                      " ORDERS=" + std::to_string(orders) +
                      " TARGET_HOST=" + ShellQuote(params_.host) +
                      " TARGET_PORT=" + std::to_string(params_.port) +
                      " TARGET_DB=" + ShellQuote(database_) +
                      " TARGET_USER=" + ShellQuote(params_.user) +
                      " TARGET_PASSWORD=" + ShellQuote(params_.password) +
                      " MIGRATION_TYPE=" + migration_type + "; ";
    return Shell(env + "bash " + ShellQuote(std::string(OPENDMS_SOURCE_DIR) + "/examples/lab/lab.sh"));
  }
};

const char* const kLabTables[] = {"customers", "products", "orders", "order_items", "payments"};

TEST_F(LabE2ETest, TheLabMigratesFiveTablesWithTheAwsCli) {
  StartServer();
  ASSERT_FALSE(HasFatalFailure());
  struct stat st{};
  ASSERT_EQ(::stat((data_dir() / "aws-credentials").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  ShellResult lab = RunLab("full-load", 3000);
  ASSERT_EQ(lab.exit_code, 0) << lab.output;

  Json stats = AwsJson("dms describe-table-statistics --replication-task-arn \"$(aws "
                       "--endpoint-url $ENDPOINT_URL dms describe-replication-tasks --query "
                       "'ReplicationTasks[0].ReplicationTaskArn' --output text)\"");
  ASSERT_TRUE(stats.contains("TableStatistics")) << stats.dump();
  std::set<std::string> seen;
  for (const Json& t : stats["TableStatistics"]) {
    const std::string table = t["TableName"];
    seen.insert(table);
    EXPECT_EQ(t["TableState"], "Table completed") << table;
    EXPECT_EQ(t["SchemaName"], "public") << table;
    const auto files = Objects(dir_ / "lab-data/sales/public" / table);
    int64_t lines = 0;
    for (const auto& f : files) {
      std::string s = ReadFile(f);
      lines += std::count(s.begin(), s.end(), '\n') - 1;  // minus the header
    }
    EXPECT_EQ(t["FullLoadRows"].get<int64_t>(), lines) << table;
    EXPECT_EQ(RowCount("sales", table), lines) << table;
    EXPECT_EQ(DiffAgainstCsv(pg::QualifiedName("sales", table), files, /*header=*/true), 0)
        << table << " differs from its CSV objects";
  }
  EXPECT_EQ(seen.size(), 5u);
  Json tasks = AwsJson("dms describe-replication-tasks");
  ASSERT_EQ(tasks["ReplicationTasks"].size(), 1u);
  EXPECT_EQ(tasks["ReplicationTasks"][0]["Status"], "stopped");
  EXPECT_EQ(tasks["ReplicationTasks"][0]["StopReason"], "Stop Reason FULL_LOAD_ONLY_FINISHED");
  // The endpoint never echoes a password.
  EXPECT_EQ(Aws("dms describe-endpoints").output.find(params_.password), std::string::npos);
  // The account's quotas count what the lab made: one instance, two endpoints, one task.
  Json account = AwsJson("dms describe-account-attributes");
  std::map<std::string, int64_t> used;
  for (const Json& q : account["AccountQuotas"]) used[q["AccountQuotaName"]] = q["Used"];
  EXPECT_EQ(used["ReplicationInstances"], 1) << account.dump();
  EXPECT_EQ(used["Endpoints"], 2) << account.dump();
  EXPECT_EQ(used["ReplicationTasks"], 1) << account.dump();
  EXPECT_EQ(used["EndpointsPerInstance"], 2) << account.dump();

  // `opendms logs` reads the task's lines from the running server's catalog.
  ShellResult logs = Shell(std::string(OPENDMS_BINARY) + " logs lab-sales --data-dir " +
                           ShellQuote(data_dir().string()));
  ASSERT_EQ(logs.exit_code, 0) << logs.output;
  EXPECT_NE(logs.output.find("[TASK_MANAGER   ]I:"), std::string::npos) << logs.output;
  EXPECT_NE(logs.output.find("Load finished for table 'public.orders' (3000 rows)"),
            std::string::npos)
      << logs.output;
  // The engine's own lines are there too, with their components.
  EXPECT_NE(logs.output.find("[TASK_MANAGER   ]I:  start-replication full load of 5 tables"),
            std::string::npos)
      << logs.output;
  EXPECT_NE(logs.output.find("[TARGET_LOAD    ]I:  table sales.orders slice 0 completed: "),
            std::string::npos)
      << logs.output;
  ShellResult unknown = Shell(std::string(OPENDMS_BINARY) + " logs no-such-task --data-dir " +
                              ShellQuote(data_dir().string()));
  EXPECT_EQ(unknown.exit_code, 1) << unknown.output;
  EXPECT_NE(unknown.output.find("no-such-task"), std::string::npos) << unknown.output;
}

TEST_F(LabE2ETest, ResponseShapesMatchMotoServer) {
  StartServer();
  ASSERT_FALSE(HasFatalFailure());
  ShellResult r = Shell(
      "python3 " + ShellQuote(std::string(OPENDMS_SOURCE_DIR) + "/tests/cli/scripts/compat_shapes.py") +
      " --opendms \"$ENDPOINT_URL\" --access-key \"$(aws configure get aws_access_key_id)\""
      " --secret-key \"$(aws configure get aws_secret_access_key)\"");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

// kill -9 of the server while a full-load-and-cdc task applies change objects that keep landing:
// after a restart everything is still there, the task resumes by itself, and the target ends
// equal to the model — nothing lost, nothing applied twice.
TEST_F(LabE2ETest, KillNineInTheMiddleOfCdcLosesNothing) {
  StartServer();
  ASSERT_FALSE(HasFatalFailure());
  ShellResult lab = RunLab("full-load-and-cdc", 2000);
  ASSERT_EQ(lab.exit_code, 0) << lab.output;

  // The writer (boto3) finds the server's credentials through the environment it inherits.
  ::setenv("AWS_SHARED_CREDENTIALS_FILE", (data_dir() / "aws-credentials").c_str(), 1);
  ::setenv("AWS_PROFILE", "opendms", 1);
  const fs::path progress = dir_ / "writer.progress";
  const fs::path expected = dir_ / "expected-orders.csv";
  TaskProcess writer = TaskProcess::Spawn(
      {"/usr/bin/env", "python3",
       std::string(OPENDMS_SOURCE_DIR) + "/tests/cli/scripts/cdc_writer.py", "--endpoint",
       endpoint(), "--bucket", "lab-landing", "--orders-dir",
       (dir_ / "lab-data/sales/public/orders").string(), "--objects", "60", "--rate", "8",
       "--expected", expected.string(), "--progress", progress.string()},
      dir_ / "writer.out", dir_ / "writer.err");
  // Kill the server once a third of the objects landed.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::atoi(ReadFile(progress).c_str()) < 20) {
    ASSERT_FALSE(writer.WaitFor(std::chrono::milliseconds(50)))
        << "writer ended early: " << ReadFile(dir_ / "writer.err");
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
  }
  server_.Kill();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  StartServer();
  ASSERT_FALSE(HasFatalFailure());

  auto done = writer.WaitFor(std::chrono::seconds(180));
  ASSERT_TRUE(done) << "writer still running";
  ASSERT_EQ(done->exit_code, 0) << done->Describe();

  // Everything is still there.
  EXPECT_EQ(Aws("s3 ls s3://lab-landing/sales/ --recursive").exit_code, 0);
  EXPECT_EQ(Aws("secretsmanager describe-secret --secret-id Acme/Orders/lab/DbSecret").exit_code, 0);
  EXPECT_EQ(AwsJson("ssm get-parameter --name /Acme/Orders/lab/DbUser")["Parameter"]["Value"],
            params_.user);
  EXPECT_EQ(AwsJson("dms describe-endpoints")["Endpoints"].size(), 2u);
  Json tasks = AwsJson("dms describe-replication-tasks");
  ASSERT_EQ(tasks["ReplicationTasks"].size(), 1u);
  EXPECT_EQ(tasks["ReplicationTasks"][0]["Status"], "running") << "the task did not resume";

  // The target converges on the model.
  int64_t diff = -1;
  const auto converge = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < converge) {
    diff = DiffAgainstCsv(pg::QualifiedName("sales", "orders"), {expected}, /*header=*/false);
    if (diff == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_EQ(diff, 0) << "sales.orders differs from the model";

  const std::string arn = tasks["ReplicationTasks"][0]["ReplicationTaskArn"];
  EXPECT_EQ(Aws("dms stop-replication-task --replication-task-arn " + arn).exit_code, 0);
  EXPECT_EQ(Aws("dms wait replication-task-stopped --filters Name=replication-task-arn,Values=" +
                arn).exit_code, 0);
}

}  // namespace
}  // namespace opendms::cli_testing

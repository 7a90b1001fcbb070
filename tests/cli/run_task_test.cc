// `opendms run-task` as a user runs it: the real binary, the example documents, a real
// PostgreSQL; exit statuses and the JSON it prints.
#include "cli_fixture.h"

namespace opendms {
namespace {

namespace fs = std::filesystem;
using cli_testing::Outcome;

// The example of examples/full-load: its bucket in the store, its documents (the target's
// pointed at the test database).
class RunTaskCli : public cli_testing::CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    if (HasFatalFailure()) return;
    const fs::path examples = fs::path(OPENDMS_SOURCE_DIR) / "examples" / "full-load";
    fs::copy(examples / "bucket", store(), fs::copy_options::recursive);
    Json target = Json::parse(cli_testing::ReadFile(examples / "target-endpoint.json"));
    target["ServerName"] = params_.host;
    target["Port"] = params_.port;
    target["DatabaseName"] = params_.dbname;
    target["Username"] = params_.user;
    target["Password"] = params_.password;
    target_ = WriteJson("target.json", target);
    source_ = examples / "source-endpoint.json";
    task_ = examples / "task.json";
  }

  Outcome RunCli(const std::vector<std::string>& extra, const fs::path& source,
                 const fs::path& task) {
    return Run(source, task, extra);
  }

  fs::path source_, task_;
};

TEST_F(RunTaskCli, TheReadmeExampleLoadsAndPrintsDescribeShapedJson) {
  Outcome o = RunCli({}, source_, task_);
  ASSERT_EQ(o.exit_code, 0) << o.err;
  Json doc = Json::parse(o.out);
  const Json& task = doc["ReplicationTask"];
  EXPECT_EQ(task["ReplicationTaskIdentifier"], "sales-full-load");
  EXPECT_EQ(task["Status"], "stopped");
  EXPECT_EQ(task["StopReason"], "Stop Reason FULL_LOAD_ONLY_FINISHED");
  EXPECT_EQ(task["ReplicationTaskStats"]["FullLoadProgressPercent"], 100);
  EXPECT_EQ(task["ReplicationTaskStats"]["TablesLoaded"], 2);
  EXPECT_TRUE(task["ReplicationTaskStats"].contains("FullLoadFinishDate"));
  ASSERT_EQ(doc["TableStatistics"].size(), 2u);
  int64_t rows = 0;
  for (const Json& t : doc["TableStatistics"]) {
    EXPECT_EQ(t["TableState"], "Table completed");
    rows += t["FullLoadRows"].get<int64_t>();
  }
  EXPECT_EQ(rows, 9);
  // The schema rename rule of the example: public → sales.
  EXPECT_EQ(Scalar("SELECT count(*) FROM sales.customers"), "6");
  EXPECT_EQ(Scalar("SELECT name FROM sales.customers WHERE customer_id = 4"),
            "Edsger \"EWD\" Dijkstra");
  EXPECT_EQ(Scalar("SELECT price FROM sales.products WHERE sku = 'P-300'"), "1234.50");
  // The password never reaches the output.
  EXPECT_EQ(o.out.find(params_.password), std::string::npos);
  EXPECT_EQ(o.err.find(params_.password), std::string::npos);
}

TEST_F(RunTaskCli, ABadCsvFailsWithExitOneAndTheFailureOnStderr) {
  cli_testing::WriteFile(
      store() / "landing/sales/public/customers/LOAD00000003.csv",
      "customer_id,name,email,city,active,signed_up\n7,Eve,eve@example.com,Paris,true,2024-06-01,"
      "extra\n");
  Outcome o = RunCli({}, source_, task_);
  EXPECT_EQ(o.exit_code, 1) << o.err;
  Json doc = Json::parse(o.out);
  EXPECT_EQ(doc["ReplicationTask"]["Status"], "failed");
  EXPECT_EQ(doc["ReplicationTask"]["StopReason"], "Stop Reason FATAL_ERROR");
  EXPECT_NE(o.err.find("s3://landing/sales/public/customers/LOAD00000003.csv line 2, column 7"),
            std::string::npos)
      << o.err;
}

TEST_F(RunTaskCli, InvalidInputIsRefusedWithExitTwoNamingTheField) {
  Json task = Json::parse(cli_testing::ReadFile(task_));
  task["ReplicationTaskSettings"] = R"({"FullLoadSettings":{"MaxFullLoadSubTasks":"many"}})";
  WriteJson("task.json", task);
  Outcome o = RunCli({}, source_, dir_ / "task.json");
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_NE(o.err.find("MaxFullLoadSubTasks"), std::string::npos) << o.err;
  EXPECT_TRUE(o.out.empty());

  o = RunCli({"--start-type", "resume-processing"}, source_, task_);
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_NE(o.err.find("start-replication first"), std::string::npos) << o.err;
}

TEST_F(RunTaskCli, TextCopyFormatLoadsTheSameRows) {
  Outcome o = RunCli({"--copy-format", "text"}, source_, task_);
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(Scalar("SELECT count(*) FROM sales.customers"), "6");
  EXPECT_EQ(Scalar("SELECT stocked_at FROM sales.products WHERE sku = 'P-200'"),
            "2024-06-02 14:00:00.123456");
}

}  // namespace
}  // namespace opendms

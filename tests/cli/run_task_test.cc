// `opendms run-task` as a user runs it: the real binary, the example documents, a real
// PostgreSQL; exit statuses and the JSON it prints.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include "core/core.h"
#include "support/pg_test_server.h"

namespace opendms {
namespace {

namespace fs = std::filesystem;

struct Outcome {
  int exit_code = -1;
  std::string out, err;
};

class RunTaskCli : public testing::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    dir_ = fs::temp_directory_path() /
           ("opendms-cli-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "store");
    const fs::path examples = fs::path(OPENDMS_SOURCE_DIR) / "examples" / "full-load";
    fs::copy(examples / "bucket", dir_ / "store", fs::copy_options::recursive);
    Json target = Json::parse(Read(examples / "target-endpoint.json"));
    target["ServerName"] = params_.host;
    target["Port"] = params_.port;
    target["DatabaseName"] = params_.dbname;
    target["Username"] = params_.user;
    target["Password"] = params_.password;
    Write(dir_ / "target.json", target.dump());
    source_ = examples / "source-endpoint.json";
    task_ = examples / "task.json";
  }
  void TearDown() override {
    fs::remove_all(dir_);
    PgTest::TearDown();
  }

  static std::string Read(const fs::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void Write(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }

  Outcome RunCli(const std::vector<std::string>& extra, const fs::path& source,
                 const fs::path& task) {
    std::string cmd = std::string(OPENDMS_BINARY) + " --log-level warn run-task --store " +
                      (dir_ / "store").string() + " --source-endpoint " + source.string() +
                      " --target-endpoint " + (dir_ / "target.json").string() + " --task " +
                      task.string();
    for (const auto& e : extra) cmd += " " + e;
    cmd += " >" + (dir_ / "out").string() + " 2>" + (dir_ / "err").string();
    int rc = std::system(cmd.c_str());
    Outcome o;
    o.exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    o.out = Read(dir_ / "out");
    o.err = Read(dir_ / "err");
    return o;
  }

  fs::path dir_, source_, task_;
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
  Write(dir_ / "store/landing/sales/public/customers/LOAD00000003.csv",
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
  Json task = Json::parse(Read(task_));
  task["ReplicationTaskSettings"] = R"({"FullLoadSettings":{"MaxFullLoadSubTasks":"many"}})";
  Write(dir_ / "task.json", task.dump());
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

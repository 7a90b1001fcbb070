// `opendms run-task --s3-endpoint`: the engine reading its bucket from a remote S3 (moto_server,
// or OPENDMS_TEST_S3_ENDPOINT) into the test PostgreSQL, credentials from the environment.
#include <stdlib.h>

#include <fstream>

#include "cli_fixture.h"
#include "objectstore/objectstore.h"
#include "support/s3_test_server.h"

namespace opendms {
namespace {

namespace fs = std::filesystem;
using cli_testing::Outcome;

class RunTaskS3Cli : public cli_testing::CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    if (HasFatalFailure()) return;
    Result<testing::TestS3Endpoint> endpoint = testing::SharedTestS3Endpoint();
    if (!endpoint.ok()) {
      if (!endpoint.status().IsNotFound()) FAIL() << endpoint.status().ToString();
      GTEST_SKIP() << "no S3 endpoint: " << endpoint.status().message();
    }
    endpoint_ = *endpoint;
    Status reset = testing::ResetTestS3(endpoint_);
    ASSERT_TRUE(reset.ok()) << reset.ToString();
    Result<std::unique_ptr<objectstore::ObjectStore>> s3 =
        objectstore::OpenS3Client(endpoint_.ClientOptions());
    ASSERT_TRUE(s3.ok()) << s3.status().ToString();
    s3_ = std::move(s3).value();
    examples_ = fs::path(OPENDMS_SOURCE_DIR) / "examples" / "full-load";
  }

  // Uploads the example's bucket folder, key by key, into bucket "landing".
  void UploadExampleBucket() {
    ASSERT_TRUE(s3_->CreateBucket("landing").ok());
    const fs::path root = examples_ / "bucket" / "landing";
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      if (!entry.is_regular_file()) continue;
      const std::string key = fs::relative(entry.path(), root).string();
      Result<objectstore::ObjectInfo> put =
          s3_->Put("landing", key, cli_testing::ReadFile(entry.path()), {"text/csv", {}});
      ASSERT_TRUE(put.ok()) << key << ": " << put.status().ToString();
    }
  }

  // run-task against the endpoint, credentials in the child's environment only.
  Outcome RunAgainstS3(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {OPENDMS_BINARY,
                                     "--log-level",
                                     "warn",
                                     "run-task",
                                     "--s3-endpoint",
                                     endpoint_.url,
                                     "--source-endpoint",
                                     (examples_ / "source-endpoint.json").string(),
                                     "--target-endpoint",
                                     target_.string(),
                                     "--task",
                                     (examples_ / "task.json").string(),
                                     "--progress",
                                     "never"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    ScopedEnv key("AWS_ACCESS_KEY_ID", endpoint_.access_key_id);
    ScopedEnv secret("AWS_SECRET_ACCESS_KEY", endpoint_.secret_access_key);
    ScopedEnv region("AWS_DEFAULT_REGION", endpoint_.region);
    return RunToEnd(argv, "s3");
  }

  // Runs `argv` (output in `name`.out/.err); killed, and the test failed, after 120 s.
  Outcome RunToEnd(const std::vector<std::string>& argv, const std::string& name) {
    cli_testing::TaskProcess p =
        cli_testing::TaskProcess::Spawn(argv, dir_ / (name + ".out"), dir_ / (name + ".err"));
    std::optional<Outcome> o = p.WaitFor(std::chrono::seconds(120));
    if (!o) {
      ADD_FAILURE() << "run-task still running after 120 s: killed";
      return p.Kill();
    }
    return *o;
  }

  // Sets an environment variable for the scope (the child inherits it), then restores it.
  class ScopedEnv {
   public:
    ScopedEnv(const char* name, const std::string& value) : name_(name) {
      if (const char* old = ::getenv(name)) old_ = old;
      ::setenv(name, value.c_str(), 1);
    }
    ~ScopedEnv() {
      if (old_) {
        ::setenv(name_, old_->c_str(), 1);
      } else {
        ::unsetenv(name_);
      }
    }

   private:
    const char* name_;
    std::optional<std::string> old_;
  };

  testing::TestS3Endpoint endpoint_;
  std::unique_ptr<objectstore::ObjectStore> s3_;
  fs::path examples_;
};

TEST_F(RunTaskS3Cli, AFullLoadReadsItsBucketFromS3) {
  UploadExampleBucket();
  Outcome o = RunAgainstS3();
  ASSERT_EQ(o.exit_code, 0) << o.Describe();
  const Json& task = o.doc["ReplicationTask"];
  EXPECT_EQ(task["Status"], "stopped");
  EXPECT_EQ(task["StopReason"], "Stop Reason FULL_LOAD_ONLY_FINISHED");
  EXPECT_EQ(task["ReplicationTaskStats"]["TablesLoaded"], 2);
  EXPECT_EQ(Scalar("SELECT count(*) FROM sales.customers"), "6");
  EXPECT_EQ(Scalar("SELECT name FROM sales.customers WHERE customer_id = 4"),
            "Edsger \"EWD\" Dijkstra");
  EXPECT_EQ(Scalar("SELECT price FROM sales.products WHERE sku = 'P-300'"), "1234.50");
  // Neither secret reaches the output.
  for (const std::string& secret : {endpoint_.secret_access_key, params_.password}) {
    EXPECT_EQ(o.out.find(secret), std::string::npos);
    EXPECT_EQ(o.err.find(secret), std::string::npos);
  }
}

// Without --store or --s3-endpoint, run-task reads the S3 the source endpoint names, as the
// server does: ServerName, with Username and Password as the keys.
TEST_F(RunTaskS3Cli, WithoutAStoreFlagTheSourceEndpointsServerNameIsRead) {
  UploadExampleBucket();
  Json source = Json::parse(cli_testing::ReadFile(examples_ / "source-endpoint.json"));
  source["ServerName"] = endpoint_.url;
  source["Username"] = endpoint_.access_key_id;
  source["Password"] = endpoint_.secret_access_key;
  source["ExtraConnectionAttributes"] = "region=" + endpoint_.region;
  const fs::path remote = dir_ / "remote-source.json";
  std::ofstream(remote) << source.dump();
  auto run = [&](const fs::path& source_file) {
    return RunToEnd({OPENDMS_BINARY, "--log-level", "warn", "run-task", "--source-endpoint",
                     source_file.string(), "--target-endpoint", target_.string(), "--task",
                     (examples_ / "task.json").string(), "--progress", "never"},
                    "remote");
  };
  Outcome o = run(remote);
  ASSERT_EQ(o.exit_code, 0) << o.Describe();
  EXPECT_EQ(o.doc["ReplicationTask"]["StopReason"], "Stop Reason FULL_LOAD_ONLY_FINISHED");
  EXPECT_EQ(Scalar("SELECT count(*) FROM sales.customers"), "6");
  EXPECT_EQ(o.err.find(endpoint_.secret_access_key), std::string::npos) << o.err;
  EXPECT_EQ(o.out.find(endpoint_.secret_access_key), std::string::npos);

  // A local endpoint and no store: told what to give.
  Outcome none = run(examples_ / "source-endpoint.json");
  EXPECT_EQ(none.exit_code, 2) << none.Describe();
  EXPECT_NE(none.err.find("give --store DIR or --s3-endpoint URL, or a source endpoint with a "
                          "ServerName"),
            std::string::npos)
      << none.err;
}

TEST_F(RunTaskS3Cli, AMissingBucketIsRefusedWithExitTwoNamingBucketAndEndpoint) {
  Outcome o = RunAgainstS3();
  EXPECT_EQ(o.exit_code, 2) << o.Describe();
  EXPECT_NE(o.err.find("bucket landing does not exist in S3 endpoint " + endpoint_.url),
            std::string::npos)
      << o.err;
  EXPECT_TRUE(o.out.empty());
}

TEST_F(RunTaskS3Cli, StoreAndS3EndpointAreExclusiveAndCredentialsRequired) {
  Outcome both = Run(examples_ / "source-endpoint.json", examples_ / "task.json",
                     {"--s3-endpoint", endpoint_.url});
  EXPECT_NE(both.exit_code, 0);
  EXPECT_NE(both.err.find("excludes"), std::string::npos) << both.err;

  ScopedEnv no_key("AWS_ACCESS_KEY_ID", "");
  std::vector<std::string> argv = {OPENDMS_BINARY,
                                   "run-task",
                                   "--s3-endpoint",
                                   endpoint_.url,
                                   "--source-endpoint",
                                   (examples_ / "source-endpoint.json").string(),
                                   "--target-endpoint",
                                   target_.string(),
                                   "--task",
                                   (examples_ / "task.json").string()};
  cli_testing::TaskProcess p =
      cli_testing::TaskProcess::Spawn(argv, dir_ / "nokey.out", dir_ / "nokey.err");
  std::optional<Outcome> o = p.WaitFor(std::chrono::seconds(60));
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->exit_code, 2) << o->Describe();
  EXPECT_NE(o->err.find("AWS_ACCESS_KEY_ID"), std::string::npos) << o->err;
}

}  // namespace
}  // namespace opendms

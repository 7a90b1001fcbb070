// S3 source endpoints on a remote S3, through a real `opendms server` driven by the aws CLI: a
// full load from a bucket on moto_server; connection tests that fail naming the endpoint URL, the
// bucket and what S3 said (a missing bucket, a wrong secret key given directly or through a
// secret, an endpoint nobody answers); and the objectstore conformance suite (objectstore_test's
// S3Client tests) run against opendms's own S3 API.
#include <chrono>
#include <cstdlib>

#include "cli/server_fixture.h"
#include "objectstore/objectstore.h"
#include "support/s3_test_server.h"

namespace opendms::cli_testing {
namespace {

class RemoteS3Source : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    if (HasFatalFailure()) return;
    Result<opendms::testing::TestS3Endpoint> endpoint = opendms::testing::SharedTestS3Endpoint();
    if (!endpoint.ok()) {
      if (!endpoint.status().IsNotFound()) FAIL() << endpoint.status().ToString();
      GTEST_SKIP() << "no S3 endpoint: " << endpoint.status().message();
    }
    remote_ = *endpoint;
    Status reset = opendms::testing::ResetTestS3(remote_);
    ASSERT_TRUE(reset.ok()) << reset.ToString();
    auto s3 = objectstore::OpenS3Client(remote_.ClientOptions());
    ASSERT_TRUE(s3.ok()) << s3.status().ToString();
    s3_ = std::move(s3).value();
    more_secrets_.push_back(remote_.secret_access_key);
    examples_ = fs::path(OPENDMS_SOURCE_DIR) / "examples" / "full-load";
    StartServer();
  }

  // examples/full-load's bucket, key by key, into `bucket` on the remote S3.
  void UploadExampleBucket(const std::string& bucket) {
    ASSERT_TRUE(s3_->CreateBucket(bucket).ok());
    const fs::path root = examples_ / "bucket" / "landing";
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      if (!entry.is_regular_file()) continue;
      const std::string key = fs::relative(entry.path(), root).string();
      auto put = s3_->Put(bucket, key, ReadFile(entry.path()), {"text/csv", {}});
      ASSERT_TRUE(put.ok()) << key << ": " << put.status().ToString();
    }
  }

  // The server's own root credentials (what its credentials file holds).
  std::string ServerAccessKey() { return Trimmed(Shell("aws configure get aws_access_key_id").output); }
  std::string ServerSecretKey() {
    return Trimmed(Shell("aws configure get aws_secret_access_key").output);
  }
  static std::string Trimmed(std::string s) {
    s.erase(s.find_last_not_of(" \r\n") + 1);
    return s;
  }

  std::string CreateInstance() {
    Json ri = AwsJson(
        "dms create-replication-instance --replication-instance-identifier ri "
        "--replication-instance-class dms.t3.medium");
    const std::string arn = ri["ReplicationInstance"].value("ReplicationInstanceArn", "");
    // Polled rather than `aws dms wait`: the waiter sleeps 60 s after seeing "creating", and the
    // instance is available about a second after its creation.
    std::string status;
    for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
         status != "available" && std::chrono::steady_clock::now() < deadline;) {
      Json d = AwsJson("dms describe-replication-instances --filters "
                       "Name=replication-instance-arn,Values=" + arn);
      if (!d.contains("ReplicationInstances") || d["ReplicationInstances"].empty()) break;
      status = d["ReplicationInstances"][0].value("ReplicationInstanceStatus", "");
    }
    EXPECT_EQ(status, "available");
    return arn;
  }

  // CreateEndpoint through `aws dms create-endpoint --cli-input-json`; the example's S3 source
  // with `bucket` and the connection fields in `remote` merged in. Returns the response.
  ShellResult CreateSource(const std::string& id, const std::string& bucket, const Json& remote) {
    Json doc = Json::parse(ReadFile(examples_ / "source-endpoint.json"));
    doc["EndpointIdentifier"] = id;
    doc["S3Settings"]["BucketName"] = bucket;
    for (const auto& [k, v] : remote.items()) doc[k] = v;
    const fs::path input = dir_ / (id + ".json");
    WriteFile(input, doc.dump());
    return Aws("dms create-endpoint --output json --cli-input-json " +
               ShellQuote("file://" + input.string()));
  }
  std::string CreateSourceArn(const std::string& id, const std::string& bucket,
                              const Json& remote) {
    ShellResult r = CreateSource(id, bucket, remote);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    Json j = Json::parse(r.output, nullptr, false);
    return j.is_object() ? j["Endpoint"].value("EndpointArn", "") : "";
  }

  // TestConnection, then DescribeConnections until it is no longer "testing" (60 s at most).
  Json TestConnection(const std::string& instance_arn, const std::string& endpoint_arn) {
    Json started = AwsJson("dms test-connection --replication-instance-arn " + instance_arn +
                           " --endpoint-arn " + endpoint_arn);
    EXPECT_EQ(started["Connection"].value("Status", ""), "testing") << started.dump();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      Json c = AwsJson("dms describe-connections --filters Name=endpoint-arn,Values=" +
                       endpoint_arn);
      if (!c.contains("Connections") || c["Connections"].empty()) return Json::object();
      if (c["Connections"][0]["Status"] != "testing") return c["Connections"][0];
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ADD_FAILURE() << "connection to " << endpoint_arn << " still testing after 60 s";
    return Json::object();
  }

  opendms::testing::TestS3Endpoint remote_;
  std::unique_ptr<objectstore::ObjectStore> s3_;
  fs::path examples_;
};

TEST_F(RemoteS3Source, AFullLoadReadsItsBucketFromARemoteS3) {
  UploadExampleBucket("remote-landing");
  const std::string ri = CreateInstance();
  const std::string source = CreateSourceArn(
      "remote-source", "remote-landing",
      {{"ServerName", remote_.url},
       {"Username", remote_.access_key_id},
       {"Password", remote_.secret_access_key},
       {"ExtraConnectionAttributes", "region=" + remote_.region}});
  // The endpoint shows where the bucket is, never the secret key.
  Json described = AwsJson("dms describe-endpoints --filters Name=endpoint-arn,Values=" + source);
  ASSERT_EQ(described["Endpoints"].size(), 1u) << described.dump();
  EXPECT_EQ(described["Endpoints"][0]["ServerName"], remote_.url);
  EXPECT_EQ(described["Endpoints"][0]["Username"], remote_.access_key_id);
  EXPECT_EQ(described.dump().find(remote_.secret_access_key), std::string::npos);
  EXPECT_EQ(TestConnection(ri, source).value("Status", ""), "successful");

  Json target_doc = {{"EndpointIdentifier", "tgt"}, {"EndpointType", "target"},
                     {"EngineName", "postgres"},    {"ServerName", params_.host},
                     {"Port", params_.port},        {"DatabaseName", params_.dbname},
                     {"Username", params_.user},    {"Password", params_.password}};
  WriteFile(dir_ / "target.json", target_doc.dump());
  Json target = AwsJson("dms create-endpoint --cli-input-json " +
                        ShellQuote("file://" + (dir_ / "target.json").string()));
  Json task_doc = Json::parse(ReadFile(examples_ / "task.json"));
  task_doc["SourceEndpointArn"] = source;
  task_doc["TargetEndpointArn"] = target["Endpoint"]["EndpointArn"];
  task_doc["ReplicationInstanceArn"] = ri;
  WriteFile(dir_ / "task.json", task_doc.dump());
  Json task = AwsJson("dms create-replication-task --cli-input-json " +
                      ShellQuote("file://" + (dir_ / "task.json").string()));
  const std::string task_arn = task["ReplicationTask"].value("ReplicationTaskArn", "");
  ASSERT_FALSE(task_arn.empty()) << task.dump();
  const std::string by_arn = " --filters Name=replication-task-arn,Values=" + task_arn;
  ASSERT_EQ(Aws("dms wait replication-task-ready" + by_arn).exit_code, 0);
  ASSERT_EQ(Aws("dms start-replication-task --start-replication-task-type start-replication "
                "--replication-task-arn " + task_arn).exit_code, 0);
  ShellResult stopped = Aws("dms wait replication-task-stopped" + by_arn);
  Json tasks = AwsJson("dms describe-replication-tasks" + by_arn);
  ASSERT_EQ(stopped.exit_code, 0) << stopped.output << tasks.dump();
  const Json& t = tasks["ReplicationTasks"][0];
  EXPECT_EQ(t["StopReason"], "Stop Reason FULL_LOAD_ONLY_FINISHED") << t.dump();
  EXPECT_EQ(t["ReplicationTaskStats"]["TablesLoaded"], 2) << t.dump();

  // The target holds exactly the remote bucket's rows.
  const fs::path tables = examples_ / "bucket" / "landing" / "sales" / "public";
  for (const char* table : {"customers", "products"}) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(tables / table)) files.push_back(e.path());
    EXPECT_EQ(DiffAgainstCsv(pg::QualifiedName("sales", table), files, /*header=*/true), 0)
        << table << " differs from its CSV objects";
  }
  EXPECT_EQ(Scalar("SELECT name FROM sales.customers WHERE customer_id = 4"),
            "Edsger \"EWD\" Dijkstra");
  Json stats = AwsJson("dms describe-table-statistics --replication-task-arn " + task_arn);
  ASSERT_EQ(stats["TableStatistics"].size(), 2u) << stats.dump();
  for (const Json& s : stats["TableStatistics"]) {
    EXPECT_EQ(s["TableState"], "Table completed") << s.dump();
    EXPECT_EQ(s["FullLoadRows"], RowCount("sales", s["TableName"].get<std::string>()));
  }
}

TEST_F(RemoteS3Source, FailedConnectionsNameEndpointBucketAndS3Error) {
  const std::string ri = CreateInstance();
  // opendms's own S3 stands for a remote S3 that checks signatures.
  ASSERT_EQ(Aws("s3 mb s3://own-bucket").exit_code, 0);
  const std::string key = ServerAccessKey();
  const std::string wrong_secret = "Wr0ngSecretKeyWr0ngSecretKeyWr0ngSecretK";
  more_secrets_.push_back(wrong_secret);

  // A bucket the remote S3 does not have.
  Json missing = TestConnection(
      ri, CreateSourceArn("missing-bucket", "no-such-bucket",
                          {{"ServerName", remote_.url},
                           {"Username", remote_.access_key_id},
                           {"Password", remote_.secret_access_key}}));
  EXPECT_EQ(missing.value("Status", ""), "failed") << missing.dump();
  EXPECT_NE(missing.value("LastFailureMessage", "")
                .find("S3 bucket no-such-bucket at " + remote_.url + " does not exist"),
            std::string::npos)
      << missing.dump();

  // A wrong secret key, given directly (ServerName as host and Port).
  Json wrong = TestConnection(
      ri, CreateSourceArn("wrong-key", "own-bucket",
                          {{"ServerName", "127.0.0.1"},
                           {"Port", port_},
                           {"Username", key},
                           {"Password", wrong_secret}}));
  EXPECT_EQ(wrong.value("Status", ""), "failed") << wrong.dump();
  const std::string wrong_message = wrong.value("LastFailureMessage", "");
  EXPECT_NE(wrong_message.find("S3 bucket own-bucket at " + endpoint()), std::string::npos)
      << wrong_message;
  EXPECT_NE(wrong_message.find("SignatureDoesNotMatch"), std::string::npos) << wrong_message;

  // Credentials from a secret of this server: the right ones work, a wrong one is refused.
  ASSERT_EQ(Aws("secretsmanager create-secret --name remote/good-keys --secret-string " +
                ShellQuote(Json{{"accessKeyId", key}, {"secretAccessKey", ServerSecretKey()}}
                               .dump())).exit_code, 0);
  ASSERT_EQ(Aws("secretsmanager create-secret --name remote/bad-keys --secret-string " +
                ShellQuote(Json{{"accessKeyId", key}, {"secretAccessKey", wrong_secret}}
                               .dump())).exit_code, 0);
  Json good = TestConnection(
      ri, CreateSourceArn("secret-good", "own-bucket",
                          {{"ServerName", endpoint()},
                           {"ExtraConnectionAttributes",
                            "secretsManagerSecretId=remote/good-keys;region=us-east-1"}}));
  EXPECT_EQ(good.value("Status", ""), "successful") << good.dump();
  Json bad = TestConnection(
      ri, CreateSourceArn("secret-bad", "own-bucket",
                          {{"ServerName", endpoint()},
                           {"ExtraConnectionAttributes", "secretsManagerSecretId=remote/bad-keys"}}));
  EXPECT_EQ(bad.value("Status", ""), "failed") << bad.dump();
  EXPECT_NE(bad.value("LastFailureMessage", "").find("SignatureDoesNotMatch"), std::string::npos)
      << bad.dump();
  Json no_secret = TestConnection(
      ri, CreateSourceArn("secret-missing", "own-bucket",
                          {{"ServerName", endpoint()},
                           {"ExtraConnectionAttributes", "secretsManagerSecretId=remote/none"}}));
  EXPECT_EQ(no_secret.value("Status", ""), "failed") << no_secret.dump();
  EXPECT_NE(no_secret.value("LastFailureMessage", "").find("remote/none"), std::string::npos)
      << no_secret.dump();

  // Nobody answers at the endpoint.
  const int silent_port = FreePort();
  Json unreachable = TestConnection(
      ri, CreateSourceArn("unreachable", "own-bucket",
                          {{"ServerName", "http://127.0.0.1:" + std::to_string(silent_port)},
                           {"Username", key},
                           {"Password", wrong_secret}}));
  EXPECT_EQ(unreachable.value("Status", ""), "failed") << unreachable.dump();
  EXPECT_NE(unreachable.value("LastFailureMessage", "")
                .find("at http://127.0.0.1:" + std::to_string(silent_port)),
            std::string::npos)
      << unreachable.dump();

  // Half-given connections are refused when the endpoint is created, naming the field.
  ShellResult no_keys = CreateSource("no-keys", "own-bucket", {{"ServerName", endpoint()}});
  EXPECT_NE(no_keys.exit_code, 0);
  EXPECT_NE(no_keys.output.find("needs credentials"), std::string::npos) << no_keys.output;
  ShellResult no_server = CreateSource("no-server", "own-bucket",
                                       {{"Username", key}, {"Password", wrong_secret}});
  EXPECT_NE(no_server.exit_code, 0);
  EXPECT_NE(no_server.output.find("ServerName is not"), std::string::npos) << no_server.output;

  // No answer carries a secret key.
  for (const char* call : {"dms describe-endpoints", "dms describe-connections"}) {
    const std::string out = Aws(call).output;
    EXPECT_EQ(out.find(wrong_secret), std::string::npos) << call;
    EXPECT_EQ(out.find(ServerSecretKey()), std::string::npos) << call;
    EXPECT_EQ(out.find(remote_.secret_access_key), std::string::npos) << call;
  }
}

// objectstore_test's S3Client suites (conformance and S3Client-specific) against this server's S3
// API, as OPENDMS_TEST_S3_ENDPOINT: what any S3 client expects of opendms, beyond the aws CLI.
class OwnS3Api : public ServerTest {};

TEST_F(OwnS3Api, PassesTheObjectStoreS3ClientSuites) {
  StartServer();
  ASSERT_FALSE(HasFatalFailure());
  ShellResult r = Shell(
      "OPENDMS_TEST_S3_ENDPOINT=\"$ENDPOINT_URL\" "
      "OPENDMS_TEST_S3_ACCESS_KEY_ID=\"$(aws configure get aws_access_key_id)\" "
      "OPENDMS_TEST_S3_SECRET_KEY=\"$(aws configure get aws_secret_access_key)\" " +
      ShellQuote(OPENDMS_OBJECTSTORE_TEST) +
      " --gtest_brief=1 --gtest_filter='StoreConformance/S3Client.*:S3ClientTest.*"
      // Skipped for every S3: the service computes the ETag and checksum itself.
      "-StoreConformance/S3Client.ChecksumAndEtagOverrideAreKept'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("[  PASSED  ]"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("SKIPPED"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace opendms::cli_testing

// End-to-end: a real `opendms server` driven by the real aws CLI and boto3 — the reference lab's
// sequence for five tables (examples/lab/lab.sh) through to the target rows, the response shapes
// against moto_server, and a kill -9 of the server in the middle of a running CDC task.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdio>
#include <set>

#include "cli/cli_fixture.h"

namespace opendms::cli_testing {
namespace {

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool PortAnswers(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct ShellResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, interleaved
};

class LabE2ETest : public testing::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    dir_ = fs::temp_directory_path() /
           ("opendms-server-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // The server's data directory must be reachable by the unprivileged user its catalog
    // PostgreSQL runs as when the tests run as root.
    fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
    port_ = FreePort();
  }
  void TearDown() override {
    if (server_.running()) StopServer();
    CheckLogHasNoSecrets();
    if (!HasFailure() && !dir_.empty()) fs::remove_all(dir_);
    PgTest::TearDown();
  }

  fs::path data_dir() const { return dir_ / "data"; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Starts `opendms server` and waits until it answers on its port.
  void StartServer() {
    ++starts_;
    server_ = TaskProcess::Spawn(
        {OPENDMS_BINARY, "--log-level", "info", "server", "--data-dir", data_dir().string(),
         "--listen", "127.0.0.1:" + std::to_string(port_)},
        dir_ / ("server-" + std::to_string(starts_) + ".out"),
        dir_ / ("server-" + std::to_string(starts_) + ".err"));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    while (!PortAnswers(port_)) {
      auto ended = server_.WaitFor(std::chrono::milliseconds(50));
      ASSERT_FALSE(ended) << "server exited during start: " << ended->Describe();
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "server did not start";
    }
  }
  // SIGTERM; the server must exit 0 within 60 s.
  void StopServer() {
    ::kill(ServerPid(), SIGTERM);
    auto ended = server_.WaitFor(std::chrono::seconds(60));
    ASSERT_TRUE(ended) << "server still running 60 s after SIGTERM";
    EXPECT_EQ(ended->exit_code, 0) << ended->Describe();
  }
  pid_t ServerPid() const { return server_.pid(); }

  // Runs `command` with bash, the aws CLI pointed at the server's credentials file.
  ShellResult Shell(const std::string& command, std::chrono::seconds timeout =
                                                    std::chrono::seconds(600)) {
    std::string env = "export AWS_SHARED_CREDENTIALS_FILE=" +
                      ShellQuote((data_dir() / "aws-credentials").string()) +
                      " AWS_PROFILE=opendms AWS_DEFAULT_REGION=us-east-1 ENDPOINT_URL=" +
                      ShellQuote(endpoint()) + "; ";
    const fs::path script = dir_ / ("shell-" + std::to_string(++shells_) + ".sh");
    WriteFile(script, env + command + "\n");
    std::string full = "timeout " + std::to_string(timeout.count()) + " bash " +
                       ShellQuote(script.string()) + " 2>&1";
    ShellResult result;
    FILE* pipe = ::popen(full.c_str(), "r");
    if (pipe == nullptr) return result;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, n);
    const int status = ::pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
  }
  ShellResult Aws(const std::string& args) {
    return Shell("aws --endpoint-url \"$ENDPOINT_URL\" " + args);
  }
  Json AwsJson(const std::string& args) {
    ShellResult r = Aws(args + " --output json");
    EXPECT_EQ(r.exit_code, 0) << "aws " << args << ":\n" << r.output;
    Json j = Json::parse(r.output, nullptr, false);
    return j.is_discarded() ? Json() : j;
  }

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

  // Rows of `sql` on the test database, as text.
  std::vector<std::vector<std::string>> Rows(std::string_view sql) {
    std::vector<std::vector<std::string>> out;
    auto c = pg::Connection::Open(params_);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    if (!c.ok()) return out;
    auto r = c->Query(sql);
    EXPECT_TRUE(r.ok()) << r.status().ToString() << "\nin: " << sql;
    if (!r.ok()) return out;
    for (int i = 0; i < r->rows(); ++i) {
      std::vector<std::string> row;
      for (int j = 0; j < r->columns(); ++j) row.emplace_back(r->IsNull(i, j) ? "<null>" : std::string(r->Get(i, j)));
      out.push_back(std::move(row));
    }
    return out;
  }

  // Loads CSV files into a new table shaped LIKE `like` (PostgreSQL's own CSV parser: the
  // reference the target is compared with) and returns how many rows differ, both ways.
  int64_t DiffAgainstCsv(const std::string& target, const std::vector<fs::path>& files,
                         bool header) {
    auto c = pg::Connection::Open(params_);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    if (!c.ok()) return -1;
    const std::string ref = "ref_" + std::to_string(++refs_);
    EXPECT_TRUE(c->Execute("CREATE TABLE " + ref + " (LIKE " + target + ")").ok());
    for (const fs::path& f : files) {
      auto copy = pg::CopyIn::Begin(*c, "COPY " + ref + " FROM STDIN (FORMAT csv" +
                                            std::string(header ? ", HEADER true" : "") + ")");
      EXPECT_TRUE(copy.ok()) << copy.status().ToString();
      if (!copy.ok()) return -1;
      EXPECT_TRUE(copy->Write(ReadFile(f)).ok());
      auto n = copy->Finish();
      EXPECT_TRUE(n.ok()) << f << ": " << n.status().ToString();
    }
    auto diff = c->Query("SELECT (SELECT count(*) FROM (SELECT * FROM " + target +
                         " EXCEPT ALL SELECT * FROM " + ref + ") a) + (SELECT count(*) FROM (SELECT * FROM " +
                         ref + " EXCEPT ALL SELECT * FROM " + target + ") b)");
    EXPECT_TRUE(diff.ok()) << diff.status().ToString();
    return diff.ok() ? std::stoll(std::string(diff->Get(0, 0))) : -1;
  }

  static std::vector<fs::path> Objects(const fs::path& folder) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(folder)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    return files;
  }

  // No secret may reach the server's log: the target's password, the root secret key.
  void CheckLogHasNoSecrets() {
    if (starts_ == 0) return;
    std::string secret_key;
    std::string creds = ReadFile(data_dir() / "aws-credentials");
    if (auto p = creds.find("aws_secret_access_key"); p != std::string::npos) {
      auto eq = creds.find('=', p);
      auto nl = creds.find('\n', eq);
      secret_key = creds.substr(eq + 1, nl - eq - 1);
      secret_key.erase(0, secret_key.find_first_not_of(' '));
      secret_key.erase(secret_key.find_last_not_of(" \r") + 1);
    }
    for (int i = 1; i <= starts_; ++i) {
      for (const char* stream : {".err", ".out"}) {
        const std::string log =
            ReadFile(dir_ / ("server-" + std::to_string(i) + stream));
        EXPECT_EQ(log.find(params_.password), std::string::npos)
            << "server-" << i << stream << " holds the target's password";
        if (!secret_key.empty() && std::string(stream) == ".err") {
          EXPECT_EQ(log.find(secret_key), std::string::npos)
              << "server-" << i << stream << " holds the secret access key";
        }
      }
    }
  }

  fs::path dir_;
  int port_ = 0;
  int starts_ = 0, shells_ = 0, refs_ = 0;
  TaskProcess server_;
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

// Test fixture for `opendms server` as a user runs it: the real binary in a child process with a
// scratch data directory, a free port, the aws CLI (through bash) pointed at it with the
// credentials file it wrote, the test PostgreSQL (PgTest) as the target, and a check at the end
// that no secret reached the server's log.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/cli_fixture.h"

namespace opendms::cli_testing {

inline int FreePort() {
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

inline bool PortAnswers(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

inline std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct ShellResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, interleaved
};

class ServerTest : public testing::PgTest {
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

  // No secret may reach the server's log: the target's password, the root secret key, and
  // more_secrets_.
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
        for (const std::string& secret : more_secrets_) {
          EXPECT_EQ(log.find(secret), std::string::npos)
              << "server-" << i << stream << " holds a secret the test gave it";
        }
        if (!secret_key.empty() && std::string(stream) == ".err") {
          EXPECT_EQ(log.find(secret_key), std::string::npos)
              << "server-" << i << stream << " holds the secret access key";
        }
      }
    }
  }

  fs::path dir_;
  std::vector<std::string> more_secrets_;  // secrets a test gave the server
  int port_ = 0;
  int starts_ = 0, shells_ = 0, refs_ = 0;
  TaskProcess server_;
};

}  // namespace opendms::cli_testing

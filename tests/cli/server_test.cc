// `opendms server` as a user runs it: the real binary in a child process with a scratch data
// directory, its banner, its credentials file, a signed request from boto3 using that file, and
// a clean exit on SIGTERM.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>

#include "support/pg_test_server.h"

namespace opendms {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The server child: stdout and stderr to files in `dir`; SIGKILLed if still running at the end.
class ServerProcess {
 public:
  ServerProcess(const fs::path& dir, std::vector<std::string> args) : dir_(dir) {
    fs::remove(dir / "stdout");  // not a previous run's banner
    fs::remove(dir / "stderr");
    pid_ = ::fork();
    if (pid_ == 0) {
      int out = ::open((dir / "stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = ::open((dir / "stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(out, 1);
      ::dup2(err, 2);
      std::vector<char*> argv;
      std::string binary = OPENDMS_BINARY;
      argv.push_back(binary.data());
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
  }
  ~ServerProcess() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::string out() const { return Slurp(dir_ / "stdout"); }
  std::string err() const { return Slurp(dir_ / "stderr"); }

  // Waits for `text` on stdout; false after the timeout or if the process exited.
  bool WaitForOutput(const std::string& text, std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (out().find(text) != std::string::npos) return true;
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  bool exited() const { return reaped_; }
  // Sends `sig` and waits for the exit; the exit status, or -1 on a timeout or a signal death.
  int Signal(int sig, std::chrono::seconds timeout) {
    ::kill(pid_, sig);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

 private:
  fs::path dir_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

TEST(OpendmsServer, StartsWritesCredentialsAnswersAndStopsOnSigterm) {
  Result<testing::ScratchDir> scratch = testing::ScratchDir::Create("opendms-server-test");
  ASSERT_TRUE(scratch.ok()) << scratch.status().ToString();
  const fs::path base = scratch->path();
  const fs::path data = base / "data";
  std::string endpoint, secret;
  for (int start = 0; start < 2; ++start) {  // the second start reuses the credentials
    ServerProcess server(base, {"server", "--data-dir", data.string(), "--listen", "127.0.0.1:0"});
    ASSERT_TRUE(server.WaitForOutput("s3 ls", std::chrono::seconds(20)))
        << server.out() << server.err();
    const std::string out = server.out();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(out, m, std::regex("listening on (http://127\\.0\\.0\\.1:[0-9]+)")))
        << out;
    endpoint = m[1];
    const fs::path credentials = data / "aws-credentials";
    EXPECT_NE(out.find(credentials.string()), std::string::npos) << out;
    EXPECT_NE(out.find("AWS_PROFILE=opendms"), std::string::npos) << out;
    EXPECT_EQ(out.find("generated now") != std::string::npos, start == 0) << out;
    struct stat st {};
    ASSERT_EQ(::stat(credentials.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    const std::string file = Slurp(credentials);
    ASSERT_TRUE(std::regex_search(
        file, m, std::regex("\\[opendms\\]\naws_access_key_id = AKIA[A-Z0-9]{16}\n"
                            "aws_secret_access_key = ([A-Za-z0-9+/]{40})\n")))
        << file;
    if (start == 1) {
      EXPECT_EQ(m[1], secret);  // reused, not regenerated
    }
    secret = m[1];

    const std::string command =
        "AWS_SHARED_CREDENTIALS_FILE=" + credentials.string() + " AWS_CONFIG_FILE=" +
        (data / "aws-config").string() + " AWS_PROFILE=opendms python3 " OPENDMS_SOURCE_DIR
        "/tests/cli/server_smoke.py " + endpoint + " 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string output;
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) output.append(buf, n);
    EXPECT_EQ(::pclose(pipe), 0) << output;

    EXPECT_EQ(server.Signal(SIGTERM, std::chrono::seconds(20)), 0) << server.err();
    const std::string log = server.err();
    EXPECT_NE(log.find("GET / 200"), std::string::npos) << log;  // one line per request
    EXPECT_EQ(log.find(secret), std::string::npos) << "the secret reached the log";
  }
}

TEST(OpendmsServer, PortInUseIsAClearError) {
  Result<testing::ScratchDir> scratch = testing::ScratchDir::Create("opendms-server-test");
  ASSERT_TRUE(scratch.ok());
  const fs::path base = scratch->path();
  fs::create_directories(base / "a");
  fs::create_directories(base / "b");
  ServerProcess first(base / "a", {"server", "--data-dir", (base / "a").string(), "--listen",
                                   "127.0.0.1:0"});
  ASSERT_TRUE(first.WaitForOutput("s3 ls", std::chrono::seconds(20))) << first.err();
  std::smatch m;
  const std::string out = first.out();
  ASSERT_TRUE(std::regex_search(out, m, std::regex("127\\.0\\.0\\.1:([0-9]+)")));
  ServerProcess second(base / "b", {"server", "--data-dir", (base / "b").string(), "--listen",
                                    "127.0.0.1:" + m[1].str()});
  // The second server initializes its own catalog before it binds, which takes a while on a
  // loaded machine; it must then exit, never print the banner.
  EXPECT_FALSE(second.WaitForOutput("s3 ls", std::chrono::seconds(90)));
  EXPECT_TRUE(second.exited());
  EXPECT_NE(second.err().find("cannot listen on 127.0.0.1:" + m[1].str()), std::string::npos)
      << second.err();
  EXPECT_EQ(first.Signal(SIGTERM, std::chrono::seconds(20)), 0);
}

}  // namespace
}  // namespace opendms

#include "support/s3_test_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>
#include <vector>

extern char** environ;

namespace opendms::testing {
namespace {

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

// A port nobody listens on right now (the kernel's pick for an ephemeral bind).
Result<int> FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Status::FromErrno("socket", errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::FromErrno("bind an ephemeral port", err);
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

bool Accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// POST /moto-api/reset: moto forgets everything at once (faster than deleting key by key).
Status ResetMoto(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::FromErrno("connect to moto_server", err);
  }
  const std::string request =
      "POST /moto-api/reset HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n"
      "Connection: close\r\n\r\n";
  std::string answer;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
      static_cast<ssize_t>(request.size())) {
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) answer.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (!answer.starts_with("HTTP/1.1 200") && !answer.starts_with("HTTP/1.0 200")) {
    return Status::Internal("moto_server reset failed: " + answer.substr(0, 200));
  }
  return Status::Ok();
}

std::optional<std::string> FindOnPath(const std::string& program) {
  std::string path = Env("PATH");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string candidate = path.substr(start, end - start) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

// moto_server as a child that dies with this process.
class MotoServer {
 public:
  static Result<std::unique_ptr<MotoServer>> Start() {
    std::optional<std::string> program = FindOnPath("moto_server");
    if (!program) return Status::NotFound("moto_server is not installed (not on PATH)");
    ASSIGN_OR_RETURN(int port, FreePort());
    auto server = std::unique_ptr<MotoServer>(new MotoServer);
    server->port_ = port;
    server->log_ = (std::filesystem::temp_directory_path() /
                    ("opendms-moto-" + std::to_string(::getpid()) + ".log"))
                       .string();
    const std::string port_text = std::to_string(port);
    std::vector<std::string> args = {*program, "-H", "127.0.0.1", "-p", port_text};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // moto builds some errors with a botocore Session, which fails (HTTP 500) when the profile
    // it is given is gone — and tests point AWS_PROFILE at opendms servers that come and go. So
    // moto gets this process's environment without the shared-config variables.
    std::vector<char*> envp;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string_view entry(*e);
      const bool shared_config = entry.starts_with("AWS_PROFILE=") ||
                                 entry.starts_with("AWS_DEFAULT_PROFILE=") ||
                                 entry.starts_with("AWS_SHARED_CREDENTIALS_FILE=") ||
                                 entry.starts_with("AWS_CONFIG_FILE=");
      if (!shared_config) envp.push_back(*e);
    }
    envp.push_back(nullptr);
    const int log_fd = ::open(server->log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log_fd < 0) return Status::FromErrno("open " + server->log_, errno);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return Status::FromErrno("fork", errno);
    if (pid == 0) {
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(log_fd);
    server->pid_ = pid;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!Accepts(port)) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        server->pid_ = -1;
        return Status::Internal("moto_server exited at start; its log: " + server->LogTail());
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return Status::Internal("moto_server did not listen on port " + port_text +
                                " within 60 s; its log: " + server->LogTail());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return server;
  }

  ~MotoServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      for (int i = 0; i < 100 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (::waitpid(pid_, &status, WNOHANG) == 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
    }
    std::error_code ec;
    std::filesystem::remove(log_, ec);
  }

  int port() const { return port_; }

 private:
  MotoServer() = default;
  std::string LogTail() const {
    std::ifstream in(log_);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
  }

  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_;
};

struct SharedState {
  std::unique_ptr<MotoServer> moto;
  std::optional<Result<TestS3Endpoint>> endpoint;
};

SharedState& Shared() {
  static SharedState* state = new SharedState();  // emptied by the Environment
  return *state;
}

// Stops moto after the last test, inside RUN_ALL_TESTS.
class SharedS3Environment : public ::testing::Environment {
 public:
  void TearDown() override {
    Shared().moto.reset();
    Shared().endpoint.reset();
  }
};

[[maybe_unused]] ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new SharedS3Environment);

Result<TestS3Endpoint> MakeEndpoint() {
  TestS3Endpoint endpoint;
  endpoint.region = Env("OPENDMS_TEST_S3_REGION");
  if (endpoint.region.empty()) endpoint.region = "us-east-1";
  if (std::string url = Env("OPENDMS_TEST_S3_ENDPOINT"); !url.empty()) {
    endpoint.url = url;
    endpoint.access_key_id = Env("OPENDMS_TEST_S3_ACCESS_KEY_ID");
    endpoint.secret_access_key = Env("OPENDMS_TEST_S3_SECRET_KEY");
    if (endpoint.access_key_id.empty() || endpoint.secret_access_key.empty()) {
      return Status::InvalidArgument(
          "OPENDMS_TEST_S3_ENDPOINT is set: set OPENDMS_TEST_S3_ACCESS_KEY_ID and "
          "OPENDMS_TEST_S3_SECRET_KEY too");
    }
    endpoint.checks_signatures = true;
    return endpoint;
  }
  ASSIGN_OR_RETURN(Shared().moto, MotoServer::Start());
  endpoint.url = "http://127.0.0.1:" + std::to_string(Shared().moto->port());
  endpoint.access_key_id = "AKIDTESTMOTO";
  endpoint.secret_access_key = "moto-does-not-check-this";
  endpoint.is_moto = true;
  return endpoint;
}

}  // namespace

objectstore::S3ClientOptions TestS3Endpoint::ClientOptions() const {
  objectstore::S3ClientOptions options;
  options.endpoint_url = url;
  options.region = region;
  options.access_key_id = access_key_id;
  options.secret_access_key = secret_access_key;
  options.retry_base_delay = std::chrono::milliseconds(20);
  options.max_retries = 2;
  options.connect_timeout = std::chrono::seconds(5);
  options.idle_timeout = std::chrono::seconds(30);
  return options;
}

Result<TestS3Endpoint> SharedTestS3Endpoint() {
  SharedState& s = Shared();
  if (!s.endpoint) s.endpoint = MakeEndpoint();
  return *s.endpoint;
}

Status ResetTestS3(const TestS3Endpoint& endpoint) {
  if (endpoint.is_moto && Shared().moto) return ResetMoto(Shared().moto->port());
  ASSIGN_OR_RETURN(std::unique_ptr<objectstore::ObjectStore> store,
                   objectstore::OpenS3Client(endpoint.ClientOptions()));
  ASSIGN_OR_RETURN(std::vector<objectstore::BucketInfo> buckets, store->ListBuckets());
  for (const objectstore::BucketInfo& bucket : buckets) {
    objectstore::ListOptions options;
    while (true) {
      ASSIGN_OR_RETURN(objectstore::ListResult page, store->List(bucket.name, options));
      for (const objectstore::ObjectInfo& object : page.objects) {
        RETURN_IF_ERROR(store->Delete(bucket.name, object.key));
      }
      if (!page.truncated) break;
      options.start_after = page.next_start_after;
    }
    RETURN_IF_ERROR(store->DeleteBucket(bucket.name));
  }
  return Status::Ok();
}

}  // namespace opendms::testing

// Test fixture for `opendms run-task` as a user runs it: the real binary (OPENDMS_BINARY) in a
// child process, a bucket store in a scratch folder, the three JSON documents written there, and
// a fresh database on the test PostgreSQL (PgTest). Runs block (Run) or go to the background
// (Start) so that a test can kill the process or restart the server under it.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/core.h"
#include "pg/pg.h"
#include "support/pg_test_server.h"

namespace opendms::cli_testing {

namespace fs = std::filesystem;

inline std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
inline void WriteFile(const fs::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary) << s;
}

// How a run-task process ended, and what it printed.
struct Outcome {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;      // the signal that killed it, 0 when it exited
  std::string out, err;
  // The JSON document on stdout; null when stdout is not one (killed, refused).
  Json doc;

  // doc's ReplicationTask; an empty object when there is none.
  Json task() const {
    return doc.is_object() && doc.contains("ReplicationTask") ? doc["ReplicationTask"]
                                                              : Json::object();
  }
  std::string Describe() const {
    return "exit " + std::to_string(exit_code) + " signal " + std::to_string(signal) +
           "\nstderr:\n" + err + "\nstdout:\n" + out;
  }
};

// One run-task child process. Move-only; the destructor SIGKILLs and reaps a process still
// running, so that a failing test leaves nothing behind.
class TaskProcess {
 public:
  TaskProcess() = default;
  TaskProcess(TaskProcess&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)),
        out_(std::move(other.out_)),
        err_(std::move(other.err_)),
        outcome_(std::move(other.outcome_)) {}
  TaskProcess& operator=(TaskProcess&& other) noexcept {
    std::swap(pid_, other.pid_);
    std::swap(out_, other.out_);
    std::swap(err_, other.err_);
    std::swap(outcome_, other.outcome_);
    return *this;
  }
  ~TaskProcess() {
    if (running()) Kill();
  }

  // argv[0] is the binary; stdout and stderr go to the files (truncated).
  static TaskProcess Spawn(const std::vector<std::string>& argv, const fs::path& out,
                           const fs::path& err) {
    TaskProcess p;
    p.out_ = out;
    p.err_ = err;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_EQ(rc, 0) << "posix_spawn " << argv[0] << ": " << std::strerror(rc);
    p.pid_ = rc == 0 ? pid : -1;
    return p;
  }

  bool running() const { return pid_ > 0 && !outcome_; }
  pid_t pid() const { return pid_; }

  // The outcome once the process has ended within `timeout`; nullopt while it still runs.
  std::optional<Outcome> WaitFor(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        Reaped(status);
        break;
      }
      if (r < 0 || std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return outcome_;
  }

  // SIGKILLs the process (if it still runs) and reaps it.
  Outcome Kill() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      if (::waitpid(pid_, &status, 0) == pid_) Reaped(status);
    }
    return outcome_.value_or(Outcome{});
  }

 private:
  void Reaped(int status) {
    Outcome o;
    if (WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
    o.out = ReadFile(out_);
    o.err = ReadFile(err_);
    if (!o.out.empty()) o.doc = Json::parse(o.out, nullptr, /*allow_exceptions=*/false);
    if (o.doc.is_discarded()) o.doc = Json();
    outcome_ = std::move(o);
  }

  pid_t pid_ = -1;
  fs::path out_, err_;
  std::optional<Outcome> outcome_;
};

class CliTest : public testing::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    dir_ = fs::temp_directory_path() /
           ("opendms-cli-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "store");
    fs::create_directories(dir_ / "tmp");
    Json target = {{"EndpointIdentifier", "tgt"}, {"EndpointType", "target"},
                   {"EngineName", "postgres"},    {"ServerName", params_.host},
                   {"Port", params_.port},        {"DatabaseName", params_.dbname},
                   {"Username", params_.user},    {"Password", params_.password}};
    target_ = WriteJson("target.json", target);
  }
  void TearDown() override {
    db_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
    PgTest::TearDown();
  }

  fs::path store() const { return dir_ / "store"; }

  // Writes `json` to <dir>/<name> and returns the path.
  fs::path WriteJson(const std::string& name, const Json& json) {
    WriteFile(dir_ / name, json.dump());
    return dir_ / name;
  }

  // Puts an object as a user would: written beside the store, then renamed into the bucket
  // folder, so a task never lists a half-written object.
  void PutObject(const std::string& bucket, const std::string& key, const std::string& data) {
    const fs::path tmp = dir_ / "tmp" / ("put-" + std::to_string(++puts_));
    WriteFile(tmp, data);
    const fs::path dst = store() / bucket / key;
    fs::create_directories(dst.parent_path());
    fs::rename(tmp, dst);
  }
  void RemoveObject(const std::string& bucket, const std::string& key) {
    ASSERT_TRUE(fs::remove(store() / bucket / key)) << key;
  }

  std::vector<std::string> Argv(const fs::path& source, const fs::path& task,
                                const std::vector<std::string>& extra) const {
    std::vector<std::string> argv = {OPENDMS_BINARY,      "--log-level",   "warn",
                                     "run-task",          "--store",       store().string(),
                                     "--source-endpoint", source.string(), "--target-endpoint",
                                     target_.string(),    "--task",        task.string(),
                                     "--progress",        "never"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  // Starts run-task in the background; `name` names its stdout/stderr files.
  TaskProcess Start(const fs::path& source, const fs::path& task,
                    const std::vector<std::string>& extra = {}, const std::string& name = "run") {
    return TaskProcess::Spawn(Argv(source, task, extra), dir_ / (name + ".out"),
                              dir_ / (name + ".err"));
  }

  // Runs run-task to its end (at most `timeout`; then it is killed and the test fails).
  Outcome Run(const fs::path& source, const fs::path& task,
              const std::vector<std::string>& extra = {},
              std::chrono::milliseconds timeout = std::chrono::seconds(120)) {
    TaskProcess p = Start(source, task, extra);
    std::optional<Outcome> o = p.WaitFor(timeout);
    if (!o) {
      ADD_FAILURE() << "run-task still running after " << timeout.count() << " ms: killed";
      return p.Kill();
    }
    return *o;
  }

  // A connection of the test's own to its database, opened again when the server restarted
  // (PgTest's conn() dies with the server).
  pg::Connection& db() {
    if (!db_ || !db_->IsHealthy()) {
      db_.reset();
      for (int attempt = 0; attempt < 100 && !db_; ++attempt) {
        auto c = pg::Connection::Open(params_);
        if (c.ok()) {
          db_.emplace(std::move(c).value());
        } else {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }
      if (!db_) ADD_FAILURE() << "cannot reconnect to " << params_.dbname;
    }
    return *db_;
  }

  // After the server restarted: db() connects again (a dead session may still look healthy to
  // libpq until it is used).
  void Reconnect() { db_.reset(); }

  // Rows of `sql` on db(); fails the test on an error.
  std::vector<std::vector<std::string>> Rows(
      std::string_view sql, const std::vector<std::optional<std::string>>& args = {}) {
    auto r = db().Query(sql, args);
    EXPECT_TRUE(r.ok()) << r.status().ToString() << "\nin: " << sql;
    std::vector<std::vector<std::string>> out;
    if (!r.ok()) return out;
    for (int i = 0; i < r->rows(); ++i) {
      std::vector<std::string> row;
      for (int j = 0; j < r->columns(); ++j) {
        row.emplace_back(r->IsNull(i, j) ? "<null>" : std::string(r->Get(i, j)));
      }
      out.push_back(std::move(row));
    }
    return out;
  }
  // The first value of `sql`'s first row on db(); "" (and a failure) when there is none.
  // Client sessions on the test's database (the test's own included).
  int64_t BackendsOfThisDatabase() {
    return std::stoll(Value("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                            "current_database() AND backend_type = 'client backend'"));
  }
  // Waits (up to 30 s) until no more than `n` client sessions remain: a killed process's
  // backends have finished what they were doing and exited.
  bool WaitForBackendsAtMost(int64_t n) {
    for (int i = 0; i < 3000; ++i) {
      if (BackendsOfThisDatabase() <= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  std::string Value(std::string_view sql,
                    const std::vector<std::optional<std::string>>& args = {}) {
    auto rows = Rows(sql, args);
    if (rows.empty() || rows[0].empty()) {
      ADD_FAILURE() << "no value from: " << sql;
      return "";
    }
    return rows[0][0];
  }

  fs::path dir_, target_;

 private:
  std::optional<pg::Connection> db_;
  int puts_ = 0;
};

}  // namespace opendms::cli_testing

// LocalCluster: initdb, start, stop, kill and databases of a PostgreSQL cluster we supervise.
//
// Invariants: options_ is resolved once in Start (absolute paths, a concrete port) and never
// changes, so Restart comes back on the same port and socket. pid_ is the postmaster, a child
// of this process, or 0; every change of it happens under mutex_.
#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <clocale>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "pg/errors.h"
#include "pg/pg.h"
#include "pg/subprocess.h"

namespace opendms::pg {

namespace fs = std::filesystem;
using internal::OsUser;

namespace {

constexpr char kConfFile[] = "opendms.conf";
constexpr char kIncludeLine[] = "include_if_exists = 'opendms.conf'";
constexpr size_t kMaxSocketDirChars = 100;
// Unix socket paths are limited to 107 bytes; PostgreSQL adds "/.s.PGSQL.<port>" (≤ 16).
constexpr size_t kSocketSuffixChars = 16;
constexpr int kStopTimeoutMs = 120'000;
constexpr int kOrphanWaitMs = 30'000;
constexpr int kPollMs = 10;

void SleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

Result<int> PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("socket", errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    close(fd);
    return Status::FromErrno("pick a free port on 127.0.0.1", err);
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

// C.UTF-8 sorts by code point and knows UTF-8 character classes; plain C is the fallback on
// systems without that locale.
std::string InitdbLocale() {
  if (locale_t l = newlocale(LC_ALL_MASK, "C.UTF-8", static_cast<locale_t>(0))) {
    freelocale(l);
    return "C.UTF-8";
  }
  return "C";
}

// A postgresql.conf string value: single-quoted, with ' doubled and \ escaped (the GUC file
// parser treats backslash as an escape inside quotes).
std::string ConfValue(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += '\'';
    if (c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

bool IsValidSettingName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
  });
}

Status WriteFile(const std::string& path, std::string_view content, mode_t mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return Status::FromErrno("write " + path, err);
    }
    done += static_cast<size_t>(n);
  }
  if (close(fd) != 0) return Status::FromErrno("close " + path, errno);
  return Status::Ok();
}

Status MakeDir(const std::string& path, mode_t mode, const OsUser& user) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return Status::IoError("create directory " + path + ": " + ec.message());
  if (chmod(path.c_str(), mode) != 0) return Status::FromErrno("chmod " + path, errno);
  return internal::ChownToUser(path, user);
}

// A process that is alive (a zombie is not).
bool ProcessAlive(pid_t pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0) return errno == EPERM;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  size_t close_paren = line.rfind(')');
  return close_paren == std::string::npos || close_paren + 2 >= line.size() ||
         line[close_paren + 2] != 'Z';
}

// Live processes whose working directory is `dir`: a postmaster and its backends chdir to the
// data directory, so after a crash these are the leftovers that still hold its shared memory.
std::vector<pid_t> ProcessesIn(const fs::path& dir) {
  std::vector<pid_t> pids;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    pid_t pid = static_cast<pid_t>(std::stol(name));
    if (pid == getpid()) continue;
    std::error_code link_ec;
    fs::path cwd = fs::read_symlink(entry.path() / "cwd", link_ec);
    if (!link_ec && cwd == dir && ProcessAlive(pid)) pids.push_back(pid);
  }
  return pids;
}

// postmaster.pid's first line; 0 when absent or unreadable.
pid_t PidFromPidFile(const std::string& data_dir) {
  std::ifstream in(data_dir + "/postmaster.pid");
  long pid = 0;
  if (!(in >> pid)) return 0;
  return static_cast<pid_t>(pid);
}

// Line 8 of postmaster.pid ("starting", "ready", "stopping", "standby") when the file belongs
// to `pid`; "" otherwise.
std::string PidFileStatus(const std::string& data_dir, pid_t pid) {
  std::ifstream in(data_dir + "/postmaster.pid");
  std::string line;
  for (int i = 1; std::getline(in, line); ++i) {
    if (i == 1 && std::atol(line.c_str()) != pid) return "";
    if (i == 8) {
      while (!line.empty() && line.back() == ' ') line.pop_back();
      return line;
    }
  }
  return "";
}

std::string ReadTail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff start = size > static_cast<std::streamoff>(max_bytes)
                             ? size - static_cast<std::streamoff>(max_bytes)
                             : 0;
  in.seekg(start);
  std::string tail(static_cast<size_t>(size - start), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  return tail;
}

}  // namespace

Result<std::string> FindPostgresBinDir() {
  const fs::path root = "/usr/lib/postgresql";
  std::error_code ec;
  int best_major = -1;
  std::string best;
  for (const fs::directory_entry& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    char* end = nullptr;
    long major = std::strtol(name.c_str(), &end, 10);
    if (end == name.c_str() || *end != '\0') continue;  // "15", not "15.bak"
    const fs::path bin = entry.path() / "bin";
    if (access((bin / "postgres").c_str(), X_OK) != 0 ||
        access((bin / "initdb").c_str(), X_OK) != 0) {
      continue;
    }
    if (major > best_major) {
      best_major = static_cast<int>(major);
      best = bin.string();
    }
  }
  if (best.empty()) {
    return Status::NotFound(
        "no PostgreSQL server binaries under /usr/lib/postgresql/<major>/bin (install the "
        "postgresql package, or set LocalCluster::Options::bin_dir)");
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------

namespace {

// Options with every default resolved (absolute paths, bin_dir, socket_dir), the socket directory
// created, and the OS user to run as.
struct Prepared {
  LocalCluster::Options options;
  OsUser user;
  bool owns_socket_dir = false;  // socket_dir was made here under /tmp
};

Result<Prepared> Prepare(LocalCluster::Options options) {
  if (options.data_dir.empty()) return Status::InvalidArgument("LocalCluster needs a data_dir");
  if (options.superuser.empty()) return Status::InvalidArgument("LocalCluster needs a superuser");
  for (const auto& [name, value] : options.settings) {
    if (!IsValidSettingName(name)) {
      return Status::InvalidArgument("not a PostgreSQL setting name: \"" + name + "\"");
    }
  }
  Prepared p;
  options.data_dir = fs::absolute(options.data_dir).lexically_normal().string();
  while (options.data_dir.size() > 1 && options.data_dir.back() == '/') options.data_dir.pop_back();
  if (options.log_file.empty()) options.log_file = options.data_dir + "/server.log";
  options.log_file = fs::absolute(options.log_file).lexically_normal().string();
  if (options.bin_dir.empty()) {
    ASSIGN_OR_RETURN(options.bin_dir, FindPostgresBinDir());
  }
  ASSIGN_OR_RETURN(p.user, internal::ResolveServerUser(options.os_user));

  if (options.socket_dir.empty()) {
    const fs::path data = options.data_dir;
    std::string near = (data.parent_path() / ("sock-" + data.filename().string())).string();
    if (near.size() <= kMaxSocketDirChars) {
      options.socket_dir = near;
    } else {
      char templ[] = "/tmp/opendms-sock-XXXXXX";
      if (mkdtemp(templ) == nullptr) return Status::FromErrno("mkdtemp /tmp/opendms-sock-", errno);
      options.socket_dir = templ;
      p.owns_socket_dir = true;
    }
  } else {
    options.socket_dir = fs::absolute(options.socket_dir).lexically_normal().string();
  }
  if (options.socket_dir.size() > kMaxSocketDirChars ||
      options.socket_dir.size() + kSocketSuffixChars > 107) {
    return Status::InvalidArgument("socket_dir " + options.socket_dir + " is longer than " +
                                   std::to_string(kMaxSocketDirChars) + " characters");
  }
  // The socket directory is mode 0700: only the server's OS user (and root) can reach the
  // socket, which is what makes trust authentication on it safe.
  RETURN_IF_ERROR(MakeDir(options.socket_dir, 0700, p.user));
  p.options = std::move(options);
  return p;
}

Status InitdbIfNeeded(const LocalCluster::Options& options, const OsUser& user) {
  if (fs::exists(options.data_dir + "/PG_VERSION")) return Status::Ok();
  std::error_code ec;
  if (fs::exists(options.data_dir) && !fs::is_empty(options.data_dir, ec)) {
    return Status::InvalidState(options.data_dir +
                                " is neither empty nor a PostgreSQL data directory");
  }
  RETURN_IF_ERROR(MakeDir(options.data_dir, 0700, user));
  std::vector<std::string> argv = {options.bin_dir + "/initdb",
                                   "-D",
                                   options.data_dir,
                                   "-U",
                                   options.superuser,
                                   "-E",
                                   "UTF8",
                                   "--locale=" + InitdbLocale(),
                                   "--no-instructions",
                                   "--auth-local=trust"};
  std::string pwfile;
  if (options.superuser_password.empty()) {
    argv.push_back("--auth-host=trust");
  } else {
    // In the 0700 socket directory, readable by the server's user only, and removed at once.
    pwfile = options.socket_dir + "/.initdb-password";
    RETURN_IF_ERROR(WriteFile(pwfile, options.superuser_password + "\n", 0600));
    RETURN_IF_ERROR(internal::ChownToUser(pwfile, user));
    argv.push_back("--auth-host=scram-sha-256");
    argv.push_back("--pwfile=" + pwfile);
  }
  Result<internal::RunOutput> run = internal::RunAs(user, argv);
  if (!pwfile.empty()) unlink(pwfile.c_str());
  if (!run.ok()) return run.status();
  if (run->exit_code != 0) {
    return Status::IoError("initdb " + options.data_dir + " failed (exit " +
                           std::to_string(run->exit_code) + "): " + internal::OneLine(run->output));
  }
  std::ofstream conf(options.data_dir + "/postgresql.conf", std::ios::app);
  conf << "\n# opendms: settings from LocalCluster::Options, rewritten at every start.\n"
       << kIncludeLine << "\n";
  if (!conf.flush()) return Status::IoError("append to " + options.data_dir + "/postgresql.conf");
  return Status::Ok();
}

void RemoveOwnedSocketDir(const Prepared& p) {
  if (!p.owns_socket_dir) return;
  std::error_code ec;
  fs::remove_all(p.options.socket_dir, ec);
}

}  // namespace

Status LocalCluster::Initialize(Options options) {
  ASSIGN_OR_RETURN(Prepared p, Prepare(std::move(options)));
  Status st = InitdbIfNeeded(p.options, p.user);
  RemoveOwnedSocketDir(p);
  return st;
}

Result<std::unique_ptr<LocalCluster>> LocalCluster::Start(Options options) {
  ASSIGN_OR_RETURN(Prepared p, Prepare(std::move(options)));
  Status st = InitdbIfNeeded(p.options, p.user);
  if (!st.ok()) {
    RemoveOwnedSocketDir(p);
    return st;
  }
  const bool pick_port = p.options.port == 0;
  // A picked port can be taken by someone else before the server binds it: pick again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (pick_port) {
      ASSIGN_OR_RETURN(p.options.port, PickFreePort());
    }
    std::unique_ptr<LocalCluster> cluster(new LocalCluster(p.options));
    cluster->uid_ = p.user.uid;
    cluster->gid_ = p.user.gid;
    {
      std::lock_guard<std::mutex> lock(cluster->mutex_);
      st = cluster->Launch();
    }
    if (st.ok()) {
      cluster->owns_socket_dir_ = p.owns_socket_dir;
      return cluster;
    }
    if (!pick_port || st.message().find("could not bind") == std::string::npos) break;
  }
  RemoveOwnedSocketDir(p);
  return st;
}

Status LocalCluster::Launch() {
  const std::string& data_dir = options_.data_dir;
  OsUser user;
  user.uid = uid_;
  user.gid = gid_;
  user.name = options_.os_user;
  user.switch_to = geteuid() == 0;

  // A postmaster.pid left behind. PostgreSQL removes a stale one itself unless its pid now
  // belongs to another live process (common after a container restart), so decide here: a live
  // postmaster on this data directory is a leftover of an earlier supervisor and is stopped;
  // anything else makes the file stale.
  if (pid_t old = PidFromPidFile(data_dir); old > 0) {
    std::vector<pid_t> in_dir = ProcessesIn(data_dir);
    if (std::find(in_dir.begin(), in_dir.end(), old) != in_dir.end()) {
      spdlog::warn("[pg] stopping leftover postmaster {} of {}", old, data_dir);
      kill(old, SIGINT);
      for (int waited = 0; ProcessAlive(old) && waited < kStopTimeoutMs; waited += kPollMs) {
        SleepMs(kPollMs);
      }
      if (ProcessAlive(old)) kill(old, SIGKILL);
    }
  }
  // Backends of a killed postmaster exit when they notice its death; until then they hold the
  // old shared memory and the new postmaster would refuse to start.
  for (int waited = 0;; waited += kPollMs) {
    std::vector<pid_t> left = ProcessesIn(data_dir);
    if (left.empty()) break;
    if (waited >= kOrphanWaitMs) {
      for (pid_t p : left) kill(p, SIGKILL);
    }
    if (waited >= kOrphanWaitMs + 5000) {
      return Status::InvalidState("processes still running in " + data_dir + " (e.g. pid " +
                                  std::to_string(left.front()) + ")");
    }
    SleepMs(kPollMs);
  }
  if (pid_t old = PidFromPidFile(data_dir); old > 0 && !ProcessAlive(old)) {
    unlink((data_dir + "/postmaster.pid").c_str());
  }

  std::ostringstream conf;
  conf << "# Written by opendms at every start from LocalCluster::Options; edits are lost.\n"
       << "listen_addresses = " << ConfValue(options_.listen_tcp ? "127.0.0.1" : "") << "\n"
       << "port = " << options_.port << "\n"
       << "unix_socket_directories = " << ConfValue(options_.socket_dir) << "\n"
       << "max_connections = 100\n"
       << "shared_buffers = '128MB'\n"
       << "fsync = on\n"
       << "lc_messages = 'C'\n"
       << "logging_collector = off\n";
  for (const auto& [name, value] : options_.settings) {
    conf << name << " = " << ConfValue(value) << "\n";
  }
  const std::string conf_path = data_dir + "/" + kConfFile;
  RETURN_IF_ERROR(WriteFile(conf_path, conf.str(), 0600));
  RETURN_IF_ERROR(internal::ChownToUser(conf_path, user));

  std::error_code ec;
  fs::create_directories(fs::path(options_.log_file).parent_path(), ec);
  int log_fd = open(options_.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) return Status::FromErrno("open " + options_.log_file, errno);
  if (user.switch_to && fchown(log_fd, user.uid, user.gid) != 0) {
    int err = errno;
    close(log_fd);
    return Status::FromErrno("chown " + options_.log_file, err);
  }
  const off_t log_start = lseek(log_fd, 0, SEEK_END);
  Result<pid_t> pid = internal::SpawnAs(user, {options_.bin_dir + "/postgres", "-D", data_dir},
                                        log_fd, options_.stop_with_parent ? SIGQUIT : 0);
  close(log_fd);
  if (!pid.ok()) return pid.status();
  pid_ = *pid;

  // What this start wrote to the log, for failure messages.
  auto start_log = [&] {
    std::string all = ReadTail(options_.log_file, 1 << 20);
    size_t from = static_cast<size_t>(std::max<off_t>(0, log_start));
    std::string mine = from < all.size() && all.size() < (1u << 20) ? all.substr(from) : all;
    if (mine.size() > 3000) mine = mine.substr(mine.size() - 3000);
    return mine;
  };
  const std::string ping = SocketParams("postgres").ToConnInfo();
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(options_.start_timeout_seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (ReapIfExitedLocked()) {
      return Status::IoError("PostgreSQL in " + data_dir +
                             " exited during start; log: " + start_log());
    }
    // The postmaster writes "ready" in its pid file when it accepts connections; asking before
    // that would only fill the log with "the database system is starting up". PQping needs no
    // password: it reports whether the server accepts connections at all.
    if (PidFileStatus(data_dir, pid_) == "ready" && PQping(ping.c_str()) == PQPING_OK) {
      spdlog::info("[pg] cluster {} ready on port {} (pid {})", data_dir, options_.port, pid_);
      return Status::Ok();
    }
    SleepMs(kPollMs);
  }
  Status stopped = StopLocked();
  return Status::IoError("PostgreSQL in " + data_dir + " did not accept connections within " +
                         std::to_string(options_.start_timeout_seconds) + " s" +
                         (stopped.ok() ? "" : " (" + stopped.ToString() + ")") +
                         "; log: " + start_log());
}

// ---------------------------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------------------------

LocalCluster::~LocalCluster() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    Status st = StopLocked();
    if (!st.ok()) spdlog::warn("[pg] stopping cluster {}: {}", options_.data_dir, st.ToString());
  }
  if (owns_socket_dir_) {
    std::error_code ec;
    fs::remove_all(options_.socket_dir, ec);
  }
}

bool LocalCluster::ReapIfExitedLocked() const {
  if (pid_ == 0) return true;
  int wait_status = 0;
  pid_t r = waitpid(pid_, &wait_status, WNOHANG);
  // ECHILD: someone else reaped it (or SIGCHLD is ignored); fall back to asking the kernel.
  if (r == pid_ || (r < 0 && errno == ECHILD && !ProcessAlive(pid_))) {
    pid_ = 0;
    return true;
  }
  return false;
}

Status LocalCluster::WaitForExitLocked(int timeout_ms) const {
  for (int waited = 0; waited < timeout_ms; waited += kPollMs) {
    if (ReapIfExitedLocked()) return Status::Ok();
    SleepMs(kPollMs);
  }
  return ReapIfExitedLocked()
             ? Status::Ok()
             : Status::IoError("PostgreSQL (pid " + std::to_string(pid_) +
                               ") did not exit within " + std::to_string(timeout_ms / 1000) + " s");
}

Status LocalCluster::StopLocked() {
  if (ReapIfExitedLocked()) return Status::Ok();
  // SIGINT is PostgreSQL's fast shutdown, what pg_ctl stop -m fast sends.
  kill(pid_, SIGINT);
  Status st = WaitForExitLocked(kStopTimeoutMs);
  if (st.ok()) return st;
  kill(pid_, SIGQUIT);  // immediate shutdown
  if (WaitForExitLocked(10'000).ok()) return st.WithContext("fast shutdown timed out; quit");
  kill(pid_, SIGKILL);
  (void)WaitForExitLocked(10'000);
  return st.WithContext("fast shutdown timed out; killed");
}

Status LocalCluster::Stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  return StopLocked();
}

Status LocalCluster::Restart() {
  std::lock_guard<std::mutex> lock(mutex_);
  RETURN_IF_ERROR(StopLocked());
  return Launch();
}

Status LocalCluster::Kill() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (ReapIfExitedLocked()) return Status::InvalidState("PostgreSQL is not running");
  kill(pid_, SIGKILL);
  return WaitForExitLocked(10'000);
}

bool LocalCluster::running() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return !ReapIfExitedLocked();
}

pid_t LocalCluster::pid() const {
  std::lock_guard<std::mutex> lock(mutex_);
  ReapIfExitedLocked();
  return pid_;
}

std::string LocalCluster::LogTail(size_t max_bytes) const {
  return ReadTail(options_.log_file, max_bytes);
}

// ---------------------------------------------------------------------------------------------
// Connections and databases
// ---------------------------------------------------------------------------------------------

ConnectionParams LocalCluster::Params(std::string_view dbname) const {
  if (!options_.listen_tcp) return SocketParams(dbname);
  ConnectionParams p;
  p.host = "127.0.0.1";
  p.port = options_.port;
  p.dbname = std::string(dbname);
  p.user = options_.superuser;
  p.password = options_.superuser_password;
  return p;
}

ConnectionParams LocalCluster::SocketParams(std::string_view dbname) const {
  ConnectionParams p;
  p.host = options_.socket_dir;
  p.port = options_.port;
  p.dbname = std::string(dbname);
  p.user = options_.superuser;
  return p;
}

Status LocalCluster::CreateDatabase(std::string_view name) {
  RETURN_IF_ERROR(ValidateIdentifier(name));
  ASSIGN_OR_RETURN(Connection conn, Connection::Open(SocketParams("postgres")));
  Status st = conn.Execute("CREATE DATABASE " + QuoteIdentifier(name));
  if (SqlState(st) == "42P04") return Status::AlreadyExists(st.message());
  return st;
}

Status LocalCluster::DropDatabase(std::string_view name) {
  RETURN_IF_ERROR(ValidateIdentifier(name));
  ASSIGN_OR_RETURN(Connection conn, Connection::Open(SocketParams("postgres")));
  Status st = conn.Execute("DROP DATABASE " + QuoteIdentifier(name) + " WITH (FORCE)");
  if (SqlState(st) == "3D000") return Status::NotFound(st.message());
  return st;
}

}  // namespace opendms::pg

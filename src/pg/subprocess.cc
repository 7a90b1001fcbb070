#include "pg/subprocess.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace opendms::pg::internal {

namespace {

// argv and envp as the char* arrays execve wants, built before fork: after fork in a
// multi-threaded process the child may only make async-signal-safe calls.
struct ExecImage {
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;
};

ExecImage MakeImage(const std::vector<std::string>& args) {
  ExecImage image;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, "PG", 2) == 0) continue;
    image.env_storage.emplace_back(*e);
  }
  for (const std::string& a : args) image.argv.push_back(const_cast<char*>(a.c_str()));
  image.argv.push_back(nullptr);
  for (std::string& e : image.env_storage) image.envp.push_back(e.data());
  image.envp.push_back(nullptr);
  return image;
}

// In the child: become `user`, wire fds 0/1/2, close the rest, exec. Never returns; on failure
// writes a short reason to fd 2 and exits 127.
[[noreturn]] void ExecChild(const OsUser& user, const ExecImage& image, int out_fd,
                            int parent_death_signal, pid_t parent) {
  auto die = [](const char* what) {
    const char* reason = std::strerror(errno);  // not async-signal-safe in theory; glibc's is
    (void)!write(2, what, std::strlen(what));
    (void)!write(2, ": ", 2);
    (void)!write(2, reason, std::strlen(reason));
    (void)!write(2, "\n", 1);
    _exit(127);
  };
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd < 0 || dup2(null_fd, 0) < 0) die("open /dev/null");
  if (dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0) die("dup2");
  // Close everything else (libpq sockets, listening sockets, other servers' logs).
  if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
    for (int fd = 3; fd < 65536; ++fd) close(fd);
  }
  if (user.switch_to) {
    if (setgroups(1, &user.gid) != 0) die("setgroups");
    if (setgid(user.gid) != 0) die("setgid");
    if (setuid(user.uid) != 0) die("setuid");
  }
  // After the uid change, which clears it. If the parent is already gone, so are we.
  if (parent_death_signal != 0) {
    if (prctl(PR_SET_PDEATHSIG, parent_death_signal) != 0) die("prctl");
    if (getppid() != parent) _exit(127);
  }
  // initdb and postgres complain when they cannot read the directory they start in.
  if (chdir("/") != 0) die("chdir /");
  execve(image.argv[0], image.argv.data(), image.envp.data());
  die(image.argv[0]);
  _exit(127);  // die() does not return; this tells the compiler so
}

Result<pid_t> Fork(const OsUser& user, const std::vector<std::string>& argv, int out_fd,
                   int parent_death_signal) {
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/') {
    return Status::Internal("a program to run needs an absolute path");
  }
  ExecImage image = MakeImage(argv);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return Status::FromErrno("fork for " + argv[0], errno);
  if (pid == 0) ExecChild(user, image, out_fd, parent_death_signal, parent);
  return pid;
}

int ExitCode(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

}  // namespace

Result<OsUser> ResolveServerUser(const std::string& name) {
  OsUser user;
  if (geteuid() != 0) {
    user.uid = geteuid();
    user.gid = getegid();
    return user;
  }
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  int rc = getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (rc != 0 || found == nullptr) {
    return Status::NotFound("running as root, PostgreSQL needs the unprivileged OS user \"" + name +
                            "\", which does not exist (install the postgresql package)");
  }
  user.uid = found->pw_uid;
  user.gid = found->pw_gid;
  user.name = name;
  user.switch_to = true;
  return user;
}

Status ChownToUser(const std::string& path, const OsUser& user) {
  if (!user.switch_to) return Status::Ok();
  if (chown(path.c_str(), user.uid, user.gid) != 0) {
    return Status::FromErrno("chown " + path + " to " + user.name, errno);
  }
  return Status::Ok();
}

Result<RunOutput> RunAs(const OsUser& user, const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Status::FromErrno("pipe", errno);
  Result<pid_t> pid = Fork(user, argv, fds[1], /*parent_death_signal=*/0);
  close(fds[1]);
  if (!pid.ok()) {
    close(fds[0]);
    return pid.status();
  }
  RunOutput out;
  char chunk[4096];
  for (;;) {
    ssize_t n = read(fds[0], chunk, sizeof chunk);
    if (n > 0) {
      out.output.append(chunk, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(fds[0]);
  int wait_status = 0;
  while (waitpid(*pid, &wait_status, 0) < 0) {
    if (errno != EINTR) return Status::FromErrno("waitpid " + argv[0], errno);
  }
  out.exit_code = ExitCode(wait_status);
  return out;
}

Result<pid_t> SpawnAs(const OsUser& user, const std::vector<std::string>& argv, int log_fd,
                      int parent_death_signal) {
  return Fork(user, argv, log_fd, parent_death_signal);
}

}  // namespace opendms::pg::internal

// Internal to pg: running PostgreSQL's programs (initdb, postgres) as the OS user the server
// runs as. Plain fork/exec rather than runuser or pg_ctl, so that the process we start is the
// program itself: its pid is the postmaster's, and we reap it.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/core.h"

namespace opendms::pg::internal {

struct OsUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
  bool switch_to = false;  // true when we are root and must become this user in the child
};

// `name` when this process is root (PostgreSQL refuses to run as root); else the current user.
// NotFound if we are root and `name` does not exist.
Result<OsUser> ResolveServerUser(const std::string& name);

// chown to `user` when we are root (so the server can own its files); nothing otherwise.
Status ChownToUser(const std::string& path, const OsUser& user);

struct RunOutput {
  int exit_code = 0;   // 128 + signal number if killed
  std::string output;  // stdout and stderr, interleaved
};

// Runs argv (argv[0] an absolute path) as `user` in "/", stdin from /dev/null, and waits.
// Environment variables starting with PG are removed so that they cannot redirect the program.
Result<RunOutput> RunAs(const OsUser& user, const std::vector<std::string>& argv);

// Starts argv as `user` in "/", stdin from /dev/null, stdout and stderr to `log_fd`, and returns
// its pid without waiting. The caller reaps it (waitpid). A non-zero `parent_death_signal` is
// sent to the child when the calling thread exits (prctl PR_SET_PDEATHSIG).
Result<pid_t> SpawnAs(const OsUser& user, const std::vector<std::string>& argv, int log_fd,
                      int parent_death_signal);

}  // namespace opendms::pg::internal

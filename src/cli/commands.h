// cli (internal): one function per subcommand, registering it on the app. The subcommand's
// callback runs it and stores the process exit status in *exit_code.
#pragma once

#include <CLI/CLI.hpp>

namespace opendms::cli {

// opendms run-task: the engine alone, without a server (run_task.cc).
void AddRunTask(CLI::App& app, int* exit_code);

// opendms server: the AWS endpoint (server.cc).
void AddServer(CLI::App& app, int* exit_code);
// opendms logs TASK: a task's log lines from a server's catalog (logs.cc).
void AddLogs(CLI::App& app, int* exit_code);

}  // namespace opendms::cli

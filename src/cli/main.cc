// opendms: the command line. Subcommands live one per file (run_task.cc, …) and register here.
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "core/core.h"

int main(int argc, char** argv) {
  CLI::App app{"opendms: a self-hosted AWS Database Migration Service (S3 CSV -> PostgreSQL)"};
  app.set_version_flag("--version", std::string("opendms 0.1.0"));
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")
      ->capture_default_str();
  int exit_code = 0;
  opendms::cli::AddRunTask(app, &exit_code);
  opendms::cli::AddServer(app, &exit_code);
  opendms::cli::AddLogs(app, &exit_code);
  app.parse_complete_callback([&] { opendms::InitLogging(log_level); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}

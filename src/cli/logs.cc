// opendms logs TASK: a replication task's log lines, read from the catalog of a running server
// (its private PostgreSQL, found through DIR/catalog/postmaster.pid) or of --catalog-url.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "cli/commands.h"
#include "dms/dms.h"
#include "objectstore/objectstore.h"
#include "pg/pg.h"

namespace opendms::cli {
namespace {

namespace fs = std::filesystem;

struct LogsConfig {
  std::string task;
  std::string data_dir = "./opendms-data";
  std::string catalog_url;
};

// How to reach a running server's private catalog: postmaster.pid's lines 4 (port) and 5
// (socket directory), as PostgreSQL documents them.
Result<std::string> PrivateCatalogConnInfo(const fs::path& data_dir) {
  const fs::path pid_file = data_dir / "catalog" / "postmaster.pid";
  std::ifstream in(pid_file);
  if (!in) {
    return Status::NotFound("no running server with data directory " + data_dir.string() +
                            " (no " + pid_file.string() +
                            "): start it with `opendms server --data-dir " + data_dir.string() +
                            "`, or give --catalog-url");
  }
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  if (lines.size() < 5) return Status::InvalidState(pid_file.string() + " is incomplete");
  pg::ConnectionParams params;
  params.host = lines[4];
  params.port = std::atoi(lines[3].c_str());
  params.dbname = "opendms";
  params.user = "postgres";
  params.application_name = "opendms logs";
  return params.ToConnInfo();
}

int RunLogs(const LogsConfig& config) {
  std::string conninfo = config.catalog_url;
  if (conninfo.empty()) {
    Result<std::string> found = PrivateCatalogConnInfo(fs::absolute(config.data_dir));
    if (!found.ok()) {
      std::fprintf(stderr, "opendms logs: %s\n", found.status().message().c_str());
      return 2;
    }
    conninfo = *found;
  }
  catalog::Options options;
  options.url = conninfo;
  options.pool_size = 1;
  auto catalog = catalog::Catalog::Open(options);
  if (!catalog.ok()) {
    std::fprintf(stderr, "opendms logs: %s\n", catalog.status().ToString().c_str());
    return 2;
  }
  // The service only reads here; it runs nothing (no Start()) and needs no bucket store.
  auto store = objectstore::NewMemoryStore();
  auto dms = dms::DmsService::Create(**catalog, *store, nullptr);
  if (!dms.ok()) {
    std::fprintf(stderr, "opendms logs: %s\n", dms.status().ToString().c_str());
    return 2;
  }
  auto lines = (*dms)->TaskLogLines(config.task);
  if (!lines.ok()) {
    std::fprintf(stderr, "opendms logs: %s\n", lines.status().message().c_str());
    return 1;
  }
  for (const std::string& line : *lines) std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace

void AddLogs(CLI::App& app, int* exit_code) {
  auto config = std::make_shared<LogsConfig>();
  CLI::App* cmd = app.add_subcommand("logs", "Print a replication task's log lines");
  cmd->fallthrough();
  cmd->add_option("task", config->task, "the task's identifier or ARN")->required();
  cmd->add_option("--data-dir", config->data_dir, "the running server's data directory")
      ->capture_default_str();
  cmd->add_option("--catalog-url", config->catalog_url,
                  "the server's catalog, when it was started with --catalog-url");
  cmd->callback([config, exit_code] { *exit_code = RunLogs(*config); });
}

}  // namespace opendms::cli

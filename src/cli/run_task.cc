// opendms run-task: one replication task from DMS-shaped JSON files, against a local bucket
// store (--store) or any S3 (--s3-endpoint), without a server. Prints {"ReplicationTask": …,
// "TableStatistics": […]} on stdout.
//
// Exit status: 0 the task stopped normally with every table loaded; 1 the task failed
// (LastFailureMessage on stderr); 2 the input was refused before anything ran; 3 the task
// stopped but some tables are in "Table error" (their errors on stderr).
#include <unistd.h>

#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "engine/engine.h"
#include "objectstore/objectstore.h"

namespace opendms::cli {
namespace {

struct RunTaskArgs {
  std::string store, source_endpoint, target_endpoint, task;
  // A remote S3 instead of --store. Credentials default to the AWS_* environment variables.
  std::string s3_endpoint, s3_region, s3_access_key, s3_secret_key;
  bool s3_virtual_host = false;
  std::string start_type = "start-replication";
  std::string copy_format = "binary";
  std::string progress = "auto";
  size_t copy_chunk_bytes = engine::RunOptions{}.copy_chunk_bytes;
  std::string cdc_start_position, cdc_start_time, cdc_stop_position;
  double until_idle = 0;
};

std::atomic<int> g_signal{0};
extern "C" void OnSignal(int sig) { g_signal = sig; }

std::string EnvOr(const char* name, std::string fallback = "") {
  const char* value = std::getenv(name);
  return value && *value ? std::string(value) : fallback;
}

// The store the task reads: a DiskStore folder (--store), an S3 client (--s3-endpoint), or,
// without either, the remote S3 the source endpoint names (ServerName, with its Username and
// Password as keys). `where` describes it for messages (never with credentials).
Result<std::unique_ptr<objectstore::ObjectStore>> OpenStore(const RunTaskArgs& args,
                                                            const engine::SourceEndpoint& source,
                                                            std::string* where) {
  const engine::S3SourceConnection& c = source.connection;
  if (args.store.empty() && args.s3_endpoint.empty()) {
    if (!c.remote()) {
      return Status::InvalidArgument(
          "give --store DIR or --s3-endpoint URL, or a source endpoint with a ServerName");
    }
    if (!c.secrets_manager_secret_id.empty()) {
      return Status::InvalidArgument(
          "source endpoint " + source.identifier +
          ": secretsManagerSecretId needs the Secrets Manager of an opendms server; for run-task "
          "give the endpoint Username and Password, or --s3-endpoint with credentials");
    }
    *where = "S3 endpoint " + c.endpoint_url + " (the source endpoint's ServerName)";
    auto store = objectstore::OpenS3Client(engine::S3ClientOptionsFor(c));
    if (!store.ok()) return store.status().WithContext("source endpoint " + source.identifier);
    return store;
  }
  if (c.remote()) {
    std::cerr << "opendms run-task: reading " << (args.store.empty() ? "--s3-endpoint" : "--store")
              << "; the source endpoint's ServerName " << c.server_name << " is not used\n";
  }
  if (args.s3_endpoint.empty()) {
    *where = "store " + args.store;
    auto store = objectstore::OpenDiskStore(args.store);
    if (!store.ok()) return store.status().WithContext("--store " + args.store);
    return store;
  }
  *where = "S3 endpoint " + args.s3_endpoint;
  objectstore::S3ClientOptions options;
  options.endpoint_url = args.s3_endpoint;
  options.region = !args.s3_region.empty()
                       ? args.s3_region
                       : EnvOr("AWS_REGION", EnvOr("AWS_DEFAULT_REGION", "us-east-1"));
  options.access_key_id =
      !args.s3_access_key.empty() ? args.s3_access_key : EnvOr("AWS_ACCESS_KEY_ID");
  options.secret_access_key =
      !args.s3_secret_key.empty() ? args.s3_secret_key : EnvOr("AWS_SECRET_ACCESS_KEY");
  // A session token belongs to the environment's key pair only.
  options.session_token = args.s3_secret_key.empty() ? EnvOr("AWS_SESSION_TOKEN") : "";
  options.path_style = !args.s3_virtual_host;
  if (options.access_key_id.empty() || options.secret_access_key.empty()) {
    return Status::InvalidArgument(
        "--s3-endpoint needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
        "--s3-access-key and --s3-secret-key)");
  }
  auto store = objectstore::OpenS3Client(std::move(options));
  if (!store.ok()) return store.status().WithContext("--s3-endpoint");
  return store;
}

Result<Json> ReadJsonFile(const std::string& path, std::string_view what) {
  ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
  return ParseJson(text, std::string(what) + " (" + path + ")");
}

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", bytes, units[u]);
  return buf;
}

// Live progress on a terminal: one line per table, redrawn in place.
class ProgressDisplay {
 public:
  explicit ProgressDisplay(const engine::ReplicationTask& task) : task_(task) {}
  void Draw(bool final) {
    engine::TaskSnapshot s = task_.Snapshot();
    auto now = std::chrono::steady_clock::now();
    double dt = std::chrono::duration<double>(now - last_time_).count();
    std::string out;
    if (lines_ > 0) out += "\x1b[" + std::to_string(lines_) + "A";
    char buf[512];
    std::snprintf(buf, sizeof buf, "\x1b[2Ktask %s  %d%%\n", s.status.c_str(),
                  s.full_load_progress_percent);
    out += buf;
    int lines = 1;
    last_bytes_.resize(s.tables.size(), 0);
    for (size_t i = 0; i < s.tables.size(); ++i) {
      const engine::TableStatistics& t = s.tables[i];
      double rate = dt > 0 ? (t.bytes_read - last_bytes_[i]) / dt : 0;
      last_bytes_[i] = t.bytes_read;
      int pct = t.bytes_total > 0
                    ? static_cast<int>(100 * std::min(t.bytes_read, t.bytes_total) / t.bytes_total)
                    : (t.table_state == engine::kTableCompleted ? 100 : 0);
      std::snprintf(buf, sizeof buf, "\x1b[2K  %-40s %-16s %12lld rows %10s/s %3d%%%s\n",
                    (t.schema_name + "." + t.table_name).c_str(), t.table_state.c_str(),
                    static_cast<long long>(t.full_load_rows), HumanBytes(rate).c_str(), pct,
                    t.full_load_error_rows
                        ? (" " + std::to_string(t.full_load_error_rows) + " rejected").c_str()
                        : "");
      out += buf;
      ++lines;
    }
    lines_ = lines;
    last_time_ = now;
    (void) final;
    std::fputs(out.c_str(), stderr);
    std::fflush(stderr);
  }

 private:
  const engine::ReplicationTask& task_;
  int lines_ = 0;
  std::vector<int64_t> last_bytes_;
  std::chrono::steady_clock::time_point last_time_ = std::chrono::steady_clock::now();
};

int RunTask(const RunTaskArgs& args) {
  auto source = ReadJsonFile(args.source_endpoint, "source endpoint");
  auto target = ReadJsonFile(args.target_endpoint, "target endpoint");
  auto task = ReadJsonFile(args.task, "replication task");
  for (const auto* r : {&source, &target, &task}) {
    if (!r->ok()) {
      std::cerr << "opendms run-task: " << r->status().message() << "\n";
      return 2;
    }
  }
  auto start_type = engine::ParseStartType(args.start_type);
  if (!start_type.ok()) {
    std::cerr << "opendms run-task: --start-type: " << start_type.status().message() << "\n";
    return 2;
  }
  // The CDC options override the task document's, as StartReplicationTask's parameters do.
  if (!args.cdc_start_position.empty()) {
    (*task)["CdcStartPosition"] = args.cdc_start_position;
    task->erase("CdcStartTime");
  }
  if (!args.cdc_start_time.empty()) {
    (*task)["CdcStartTime"] = args.cdc_start_time;
    task->erase("CdcStartPosition");
  }
  if (!args.cdc_stop_position.empty()) (*task)["CdcStopPosition"] = args.cdc_stop_position;
  auto definition = engine::LoadTaskDefinition(*source, *target, *task);
  if (!definition.ok()) {
    std::cerr << "opendms run-task: " << definition.status().message() << "\n";
    return 2;
  }
  std::string where;
  auto store = OpenStore(args, definition->source, &where);
  if (!store.ok()) {
    std::cerr << "opendms run-task: " << store.status().message() << "\n";
    return 2;
  }
  const std::string& bucket_name = definition->source.s3.bucket_name;
  auto bucket = (*store)->BucketExists(bucket_name);
  if (!bucket.ok()) {
    std::cerr << "opendms run-task: bucket " << bucket_name << " in " << where << ": "
              << bucket.status().message() << "\n";
    return 2;
  }
  if (!*bucket) {
    std::cerr << "opendms run-task: bucket " << bucket_name << " does not exist in " << where;
    if (!args.store.empty()) {
      std::cerr << " (expected a folder " << args.store << "/" << bucket_name << ")";
    }
    std::cerr << "\n";
    return 2;
  }
  engine::RunOptions options;
  options.start_type = *start_type;
  options.copy_chunk_bytes = args.copy_chunk_bytes;
  options.until_idle_seconds = args.until_idle;
  if (args.copy_format == "text") {
    options.copy_format = engine::CopyFormat::kText;
  } else if (args.copy_format != "binary") {
    std::cerr << "opendms run-task: --copy-format must be binary or text\n";
    return 2;
  }

  engine::ReplicationTask runner(*definition, **store, options);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  const bool show_progress =
      args.progress == "always" || (args.progress == "auto" && isatty(STDERR_FILENO));
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread watcher([&] {
    ProgressDisplay display(runner);
    std::unique_lock lock(mu);
    bool stop_sent = false;
    while (!done) {
      cv.wait_for(lock, std::chrono::milliseconds(500));
      if (g_signal && !stop_sent) {
        spdlog::warn("signal {}: stopping the task at its next commit", g_signal.load());
        runner.RequestStop();
        stop_sent = true;
      }
      if (show_progress && !done) display.Draw(false);
    }
    if (show_progress) display.Draw(true);
  });
  auto result = runner.Run();
  {
    std::lock_guard lock(mu);
    done = true;
  }
  cv.notify_all();
  watcher.join();
  if (!result.ok()) {
    std::cerr << "opendms run-task: " << result.status().message() << "\n";
    return 2;
  }
  Json out;
  out["ReplicationTask"] = engine::ReplicationTaskJson(*definition, *result);
  out["TableStatistics"] = engine::TableStatisticsJson(*result);
  if (result->cdc.active) out["CdcStatistics"] = engine::CdcStatisticsJson(result->cdc);
  std::cout << out.dump(4) << std::endl;
  if (result->failed()) {
    std::cerr << result->last_failure_message << "\n";
    return 1;
  }
  int errored = 0;
  for (const engine::TableStatistics& t : result->tables) {
    if (t.table_state == engine::kTableError) {
      std::cerr << "table " << t.schema_name << "." << t.table_name << ": " << t.error_message
                << "\n";
      ++errored;
    }
  }
  return errored ? 3 : 0;
}

}  // namespace

void AddRunTask(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<RunTaskArgs>();
  CLI::App* cmd = app.add_subcommand(
      "run-task", "Run one replication task from DMS-shaped JSON files, without a server");
  CLI::Option* store = cmd->add_option("--store", args->store,
                                       "bucket store: a folder whose sub-folders are buckets");
  CLI::Option* s3 = cmd->add_option(
      "--s3-endpoint", args->s3_endpoint,
      "read buckets from this S3 instead (http(s)://host[:port]: AWS, MinIO, Ceph, opendms); "
      "credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN");
  store->excludes(s3);
  s3->excludes(store);
  cmd->add_option("--s3-region", args->s3_region,
                  "the S3 region to sign for (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1)")
      ->needs(s3);
  cmd->add_option("--s3-access-key", args->s3_access_key,
                  "S3 access key id (default: AWS_ACCESS_KEY_ID)")
      ->needs(s3);
  cmd->add_option("--s3-secret-key", args->s3_secret_key,
                  "S3 secret access key (default: AWS_SECRET_ACCESS_KEY; the environment keeps it "
                  "out of the process list)")
      ->needs(s3);
  cmd->add_flag("--s3-virtual-host", args->s3_virtual_host,
                "virtual-hosted addressing (bucket.host) instead of path-style (host/bucket)")
      ->needs(s3);
  cmd->add_option("--source-endpoint", args->source_endpoint,
                  "source endpoint JSON (aws dms create-endpoint --cli-input-json shape)")
      ->required();
  cmd->add_option("--target-endpoint", args->target_endpoint, "target endpoint JSON")->required();
  cmd->add_option("--task", args->task,
                  "task JSON (aws dms create-replication-task --cli-input-json shape)")
      ->required();
  cmd->add_option("--start-type", args->start_type,
                  "start-replication | resume-processing | reload-target")
      ->capture_default_str();
  cmd->add_option("--copy-format", args->copy_format, "COPY format: binary | text")
      ->capture_default_str();
  cmd->add_option("--copy-chunk-bytes", args->copy_chunk_bytes,
                  "bytes of COPY data per CopyData message (tuning)")
      ->check(CLI::Range(size_t{4096}, size_t{64} << 20));
  cmd->add_option("--cdc-start-position", args->cdc_start_position,
                  "CDC starts after this RecoveryCheckpoint (or at this time, UTC)");
  cmd->add_option("--cdc-start-time", args->cdc_start_time,
                  "CDC starts at change objects last modified at or after this time (UTC)");
  cmd->add_option("--cdc-stop-position", args->cdc_stop_position,
                  "server_time:<time> or commit_time:<time>: where CDC stops");
  cmd->add_option("--until-idle", args->until_idle,
                  "stop normally once no new change object has arrived for this many seconds")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--progress", args->progress, "live progress on stderr: auto | always | never")
      ->capture_default_str();
  cmd->callback([args, exit_code] { *exit_code = RunTask(*args); });
}

}  // namespace opendms::cli

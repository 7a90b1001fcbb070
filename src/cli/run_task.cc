// opendms run-task: one replication task from DMS-shaped JSON files, against a local bucket
// store, without a server. Prints {"ReplicationTask": …, "TableStatistics": […]} on stdout.
//
// Exit status: 0 the task stopped normally with every table loaded; 1 the task failed
// (LastFailureMessage on stderr); 2 the input was refused before anything ran; 3 the task
// stopped but some tables are in "Table error" (their errors on stderr).
#include <unistd.h>

#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "engine/engine.h"
#include "objectstore/objectstore.h"

namespace opendms::cli {
namespace {

struct RunTaskArgs {
  std::string store, source_endpoint, target_endpoint, task;
  std::string start_type = "start-replication";
  std::string copy_format = "binary";
  std::string progress = "auto";
  size_t copy_chunk_bytes = engine::RunOptions{}.copy_chunk_bytes;
  std::string cdc_start_position, cdc_start_time, cdc_stop_position;
  double until_idle = 0;
};

std::atomic<int> g_signal{0};
extern "C" void OnSignal(int sig) { g_signal = sig; }

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
  auto store = objectstore::OpenDiskStore(args.store);
  if (!store.ok()) {
    std::cerr << "opendms run-task: --store " << args.store << ": " << store.status().message()
              << "\n";
    return 2;
  }
  auto bucket = (*store)->BucketExists(definition->source.s3.bucket_name);
  if (!bucket.ok() || !*bucket) {
    std::cerr << "opendms run-task: bucket " << definition->source.s3.bucket_name
              << " does not exist in store " << args.store << " (expected a folder " << args.store
              << "/" << definition->source.s3.bucket_name << ")\n";
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
  cmd->add_option("--store", args->store, "bucket store: a folder whose sub-folders are buckets")
      ->required();
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

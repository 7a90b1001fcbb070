// engine: the replication engine. It takes a DMS-shaped task (the JSON a user passes to
// `aws dms create-endpoint` / `create-replication-task`), reads the source bucket through the
// objectstore interface and loads PostgreSQL through binary COPY, with DMS's statistics, task
// lifecycle and error policies. It knows nothing of the server.
//
// Start reading at LoadTaskDefinition (everything is validated before anything runs), then
// ReplicationTask::Run (replication_task.cc), which schedules TableLoaders (full_load.cc).
// Formats: docs/types.md (values), docs/task-settings.md, docs/control-tables.md.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.h"
#include "csv/csv.h"
#include "engine/table_definition.h"
#include "engine/table_mappings.h"
#include "engine/task_config.h"
#include "engine/value_codec.h"
#include "objectstore/objectstore.h"

namespace opendms::engine {

enum class StartType { kStartReplication, kResumeProcessing, kReloadTarget };
// "start-replication" | "resume-processing" | "reload-target"
Result<StartType> ParseStartType(std::string_view text);
std::string_view StartTypeName(StartType type);

// Everything a task needs, parsed and validated. Built by LoadTaskDefinition; immutable after.
struct TaskDefinition {
  SourceEndpoint source;
  TargetEndpoint target;
  TaskSpec task;
  csv::Dialect dialect;
  ExternalTableDefinition tables;
  std::vector<MappedTable> mapped_tables;  // the tables the task migrates, in load order
  // The endpoints' and settings' warnings (accepted but ignored or changed); each run logs
  // them (TASK_MANAGER W) when it starts.
  std::vector<std::string> warnings;
};

// Client options for the remote S3 a source endpoint names (ServerName, Port, SslMode, ECA region
// and addressingStyle), with its Username and Password as the keys; resolving a
// secretsManagerSecretId instead is the caller's.
objectstore::S3ClientOptions S3ClientOptionsFor(const S3SourceConnection& connection);

// Parses and validates the three documents (CreateEndpoint ×2, CreateReplicationTask shapes).
// Nothing touches the store or the target. Errors name the document and the field.
Result<TaskDefinition> LoadTaskDefinition(const Json& source_endpoint, const Json& target_endpoint,
                                          const Json& task);

// Wakes a task's idle CDC loop before its next poll, e.g. when a new object lands in the source
// bucket. Thread-safe. Shared (shared_ptr in RunOptions) because the notifier — the server's
// object-store hooks — and the run have independent lifetimes.
class WakeSignal {
 public:
  void Notify();
  // The count of Notify() calls so far; pass it to WaitFor.
  uint64_t Generation() const;
  // Returns once Notify() has been called after `seen` was read (at once if it already was) or
  // `timeout` passed; returns the generation now.
  uint64_t WaitFor(std::chrono::milliseconds timeout, uint64_t seen);

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t generation_ = 0;  // guarded by mu_
};

// A task log line's component, as DMS names it (the ids of ReplicationTaskSettings
// Logging.LogComponents): which part of the task wrote it.
enum class LogComponent {
  kTaskManager,    // TASK_MANAGER: the task's lifecycle, start, recoverable errors and retries
  kSourceUnload,   // SOURCE_UNLOAD: reading a table's objects for the full load
  kTargetLoad,     // TARGET_LOAD: loading and committing a table, full-load data errors
  kSourceCapture,  // SOURCE_CAPTURE: reading change objects (late, overwritten, unknown tables)
  kTargetApply,    // TARGET_APPLY: applying changes, apply errors, suspended tables
};
// "TASK_MANAGER", "SOURCE_UNLOAD", …
std::string_view LogComponentName(LogComponent component);

// DMS's severity letters: E (LOGGER_SEVERITY_ERROR), W, I, D (DEBUG).
enum class LogSeverity { kError, kWarning, kInfo, kDebug };
char LogSeverityLetter(LogSeverity severity);

// Receives the task's own log lines (the message without time, task name or component).
// Called from the task's threads, several at once: it must be thread-safe, and quick (no I/O;
// queue the line). The engine logs per table, object and event, never per loaded row; data
// error rows kept under a LOG_ERROR policy log one line each.
using LogSink =
    std::function<void(LogComponent component, LogSeverity severity, std::string_view message)>;

struct RunOptions {
  StartType start_type = StartType::kStartReplication;
  CopyFormat copy_format = CopyFormat::kBinary;
  size_t copy_chunk_bytes = 1 << 20;   // bytes handed to one PQputCopyData call
  size_t read_buffer_bytes = 1 << 20;  // per table being loaded
  // Tables load in slices of whole objects, about 1/8 of a subtask's share of the bytes each,
  // and never smaller than this (tests make it small to see several slices).
  int64_t min_slice_bytes = int64_t{32} << 20;
  // CDC: stop normally once no new change object has arrived for this long (0 = run until
  // stopped). The change folder is listed every cdc_poll_interval_ms (at most 1 s; at most 60 s
  // with a wake signal).
  double until_idle_seconds = 0;
  int cdc_poll_interval_ms = 100;
  // Late and overwritten change objects are looked for (a full listing) this often.
  int cdc_audit_interval_ms = 5000;
  // Optional: the CDC loop waits on this instead of sleeping between polls, so a Notify() makes
  // it list the change folder at once. RequestStop() notifies it too.
  std::shared_ptr<WakeSignal> wake;
  // Optional: every line the task logs goes here as well as to the process log (spdlog).
  LogSink log_sink;
};

// DMS's TableState values.
inline constexpr std::string_view kTableBeforeLoad = "Before load";
inline constexpr std::string_view kTableFullLoad = "Full load";
inline constexpr std::string_view kTableCompleted = "Table completed";
// From a ReloadTables request until the table is loaded and its changes applied again.
inline constexpr std::string_view kTableBeingReloaded = "Table is being reloaded";
inline constexpr std::string_view kTableCancelled = "Table cancelled";
inline constexpr std::string_view kTableError = "Table error";

// One table's statistics, as DescribeTableStatistics reports them. SchemaName/TableName are the
// source names (what selection rules, filters and ReloadTables use).
struct TableStatistics {
  std::string schema_name, table_name;
  std::string target_schema, target_table;
  std::string table_state = std::string(kTableBeforeLoad);
  int64_t full_load_rows = 0;            // rows committed to the target
  int64_t full_load_error_rows = 0;      // rows rejected by a data error policy (kept, see docs)
  int64_t full_load_truncated_rows = 0;  // rows loaded with a truncated value (also recorded)
  int64_t inserts = 0, updates = 0, deletes = 0, ddls = 0;  // changes applied (CDC)
  int64_t apply_errors = 0;  // changes an ApplyError*Policy kept out (see awsdms_apply_exceptions)
  int64_t bytes_read = 0, bytes_total = 0;
  int64_t objects_total = 0, objects_done = 0;
  std::optional<TimePoint> full_load_start, full_load_end;
  TimePoint last_update{};
  bool full_load_reloaded = false;
  std::string error_message;  // why the table is in "Table error"
};

// Change processing, task-wide.
struct CdcStatistics {
  bool active = false;  // the task reached change processing
  int64_t objects_applied = 0, changes_applied = 0;
  int64_t late_objects = 0, overwritten_objects = 0, skipped_objects = 0;
  int64_t rows_for_other_tables = 0;  // change rows for tables the task does not migrate
  // Latency of applied change objects, landed (LastModified) → committed, in milliseconds:
  // the most recent samples (at most kMaxLatencySamples).
  std::vector<double> latency_ms;
  static constexpr size_t kMaxLatencySamples = 100000;
};

// A consistent copy of the task's state. Status values are DMS's ("running", "stopped",
// "failed"); stop_reason is the full "Stop Reason …" string.
struct TaskSnapshot {
  std::string status = "ready";
  std::string stop_reason;
  std::string last_failure_message;
  std::string recovery_checkpoint;
  int full_load_progress_percent = 0;
  int64_t elapsed_millis = 0;
  std::optional<TimePoint> fresh_start_date, start_date, stop_date, full_load_start_date,
      full_load_finish_date;
  std::vector<TableStatistics> tables;
  CdcStatistics cdc;

  int TablesIn(std::string_view state) const;
  bool failed() const { return status == "failed"; }
};

// {"ReplicationTaskIdentifier": …, "Status": …, "ReplicationTaskStats": {…}, …} with dates as
// the aws CLI prints them (ISO 8601 with +00:00).
Json ReplicationTaskJson(const TaskDefinition& definition, const TaskSnapshot& snapshot);
// How TableStatisticsJson writes times: as the aws CLI prints them (ISO 8601 with +00:00, for
// run-task's output) or as JSON 1.1 carries them on the wire (epoch-second numbers).
enum class TimeFormat { kIso8601, kEpochSeconds };
// DescribeTableStatistics' TableStatistics: [{"SchemaName": …, "TableName": …, "FullLoadRows": …,
// "TableState": …}, …], plus opendms's own "ApplyErrors" count, which DMS's shape lacks.
Json TableStatisticsJson(const TaskSnapshot& snapshot,
                         TimeFormat time_format = TimeFormat::kIso8601);
// opendms's own CDC figures: {"ChangeObjectsApplied": …, "LateObjects": …,
// "LatencyMillis": {"P50": …, "P99": …, "Max": …, "Samples": …}, …}.
Json CdcStatisticsJson(const CdcStatistics& cdc);

// A table as ReloadTables names it: its SOURCE schema and table (as in TableStatistics).
struct TableToReload {
  std::string schema_name, table_name;
};

// One run of a replication task (one StartReplicationTask). Run() blocks until the task stops
// or fails; Snapshot() and RequestStop() may be called from any thread meanwhile.
class ReplicationTask {
 public:
  ReplicationTask(const TaskDefinition& definition, objectstore::ObjectStore& store,
                  RunOptions options);
  ~ReplicationTask();
  ReplicationTask(const ReplicationTask&) = delete;
  ReplicationTask& operator=(const ReplicationTask&) = delete;

  // Errors are refusals before anything ran (e.g. resume-processing of a task that never ran);
  // a task that ran and failed returns its snapshot with status "failed".
  Result<TaskSnapshot> Run();
  // The task stops at its next commit boundary: status "stopped", StopReason NORMAL.
  void RequestStop();
  TaskSnapshot Snapshot() const;
  // DMS's ReloadTables (data-reload): queues the tables' reload, which the task performs at its
  // next commit boundary — during change processing, between change objects; requested during
  // the full load, once the full load phase is over. Each table is prepared as the
  // TargetTablePrepMode says (as DMS does: DO_NOTHING leaves its rows), loaded again from its
  // table folder, and the change objects the task has applied so far are applied to it again,
  // so it ends as if loaded and changed without a break (docs/cdc.md, "Reloading tables");
  // TableState is "Table is being reloaded" meanwhile. Survives crashes: a reload interrupted
  // is finished by resume-processing. InvalidArgument names the tables the task does not
  // migrate, or more than 10 tables (DMS's limit); InvalidState when the task is not running or
  // is a cdc task (DMS reloads full-load and full-load-and-cdc tasks only). Thread-safe.
  Status ReloadTables(const std::vector<TableToReload>& tables);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace opendms::engine

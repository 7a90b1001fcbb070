// ReplicationTask: one run of a task. Validates the start type against the checkpoints in the
// target, lists every table's objects (so progress is bytes read over all bytes), then runs
// MaxFullLoadSubTasks worker threads, each with its own PostgreSQL connection, taking tables in
// load order. The task's status and StopReason follow DMS (docs in engine.h).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <set>
#include <thread>

#include <unistd.h>

#include "engine/cdc.h"
#include "engine/engine.h"
#include "engine/full_load.h"
#include "engine/reload.h"
#include "pg/pg.h"

namespace opendms::engine {

Result<StartType> ParseStartType(std::string_view text) {
  if (text == "start-replication") return StartType::kStartReplication;
  if (text == "resume-processing") return StartType::kResumeProcessing;
  if (text == "reload-target") return StartType::kReloadTarget;
  return Status::InvalidArgument(
      "StartReplicationTaskType must be one of start-replication, "
      "resume-processing, reload-target; got '" +
      std::string(text) + "'");
}

std::string_view StartTypeName(StartType type) {
  switch (type) {
    case StartType::kStartReplication:
      return "start-replication";
    case StartType::kResumeProcessing:
      return "resume-processing";
    case StartType::kReloadTarget:
      return "reload-target";
  }
  return "?";
}

std::string JoinFolder(std::string_view folder, std::string_view path) {
  while (!folder.empty() && folder.front() == '/') folder.remove_prefix(1);
  while (!folder.empty() && folder.back() == '/') folder.remove_suffix(1);
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (folder.empty()) return std::string(path);
  return std::string(folder) + "/" + std::string(path);
}

void WakeSignal::Notify() {
  {
    std::lock_guard lock(mu_);
    ++generation_;
  }
  cv_.notify_all();
}

uint64_t WakeSignal::Generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

uint64_t WakeSignal::WaitFor(std::chrono::milliseconds timeout, uint64_t seen) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return generation_ != seen; });
  return generation_;
}

int TaskSnapshot::TablesIn(std::string_view state) const {
  return static_cast<int>(
      std::count_if(tables.begin(), tables.end(),
                    [&](const TableStatistics& t) { return t.table_state == state; }));
}

objectstore::S3ClientOptions S3ClientOptionsFor(const S3SourceConnection& connection) {
  objectstore::S3ClientOptions options;
  options.endpoint_url = connection.endpoint_url;
  options.region = connection.region;
  options.path_style = connection.path_style;
  options.access_key_id = connection.username;
  options.secret_access_key = connection.password;
  return options;
}

Result<TaskDefinition> LoadTaskDefinition(const Json& source_endpoint, const Json& target_endpoint,
                                          const Json& task) {
  TaskDefinition def;
  {
    auto r = ParseSourceEndpoint(source_endpoint);
    if (!r.ok()) return r.status().WithContext("source endpoint");
    def.source = std::move(r).value();
  }
  {
    auto r = ParseTargetEndpoint(target_endpoint);
    if (!r.ok()) return r.status().WithContext("target endpoint");
    def.target = std::move(r).value();
  }
  {
    auto r = ParseTaskSpec(task);
    if (!r.ok()) return r.status().WithContext("replication task");
    def.task = std::move(r).value();
  }
  {
    auto r = csv::Dialect::FromDms(def.source.s3.csv_delimiter, def.source.s3.csv_row_delimiter,
                                   def.source.s3.rfc4180);
    if (!r.ok()) return r.status().WithContext("source endpoint S3Settings");
    def.dialect = *r;
  }
  {
    auto r = ParseExternalTableDefinition(def.source.s3.external_table_definition);
    if (!r.ok()) return r.status().WithContext("source endpoint ExternalTableDefinition");
    def.tables = std::move(r).value();
  }
  {
    auto mappings = ParseTableMappings(def.task.table_mappings_json);
    if (!mappings.ok()) return mappings.status().WithContext("TableMappings");
    auto r = ResolveTableMappings(*mappings, def.tables, def.task.settings.target_schema);
    if (!r.ok()) return r.status().WithContext("TableMappings");
    def.mapped_tables = std::move(r).value();
  }
  if (def.mapped_tables.empty() && def.task.settings.fail_on_no_tables_captured) {
    return Status::InvalidArgument(
        "TableMappings select none of the " + std::to_string(def.tables.tables.size()) +
        " tables of the ExternalTableDefinition (ErrorBehavior.FailOnNoTablesCaptured is true)");
  }
  for (const auto* from : {&def.source.warnings, &def.target.warnings, &def.task.settings.warnings}) {
    def.warnings.insert(def.warnings.end(), from->begin(), from->end());
  }
  return def;
}

namespace {

// The aws CLI prints timestamps as ISO 8601 with microseconds and +00:00.
std::string CliTime(TimePoint t) {
  std::string iso = FormatIso8601(t);  // 2026-11-30T08:13:05.123Z
  return iso.substr(0, iso.size() - 1) + "000+00:00";
}

void PutTime(Json& j, const char* name, const std::optional<TimePoint>& t) {
  if (t) j[name] = CliTime(*t);
}

}  // namespace

Json ReplicationTaskJson(const TaskDefinition& def, const TaskSnapshot& snap) {
  Json j;
  j["ReplicationTaskIdentifier"] = def.task.identifier;
  if (!def.task.source_endpoint_arn.empty()) j["SourceEndpointArn"] = def.task.source_endpoint_arn;
  if (!def.task.target_endpoint_arn.empty()) j["TargetEndpointArn"] = def.task.target_endpoint_arn;
  if (!def.task.replication_instance_arn.empty()) {
    j["ReplicationInstanceArn"] = def.task.replication_instance_arn;
  }
  j["MigrationType"] = std::string(MigrationTypeName(def.task.migration_type));
  j["TableMappings"] = def.task.table_mappings_json;
  j["ReplicationTaskSettings"] = def.task.settings_document.dump();
  j["Status"] = snap.status;
  if (!snap.last_failure_message.empty()) j["LastFailureMessage"] = snap.last_failure_message;
  if (!snap.stop_reason.empty()) j["StopReason"] = snap.stop_reason;
  PutTime(j, "ReplicationTaskStartDate", snap.start_date);
  if (def.task.cdc_start_position) j["CdcStartPosition"] = *def.task.cdc_start_position;
  if (def.task.cdc_stop_position) j["CdcStopPosition"] = *def.task.cdc_stop_position;
  if (!snap.recovery_checkpoint.empty()) j["RecoveryCheckpoint"] = snap.recovery_checkpoint;
  Json stats;
  stats["FullLoadProgressPercent"] = snap.full_load_progress_percent;
  stats["ElapsedTimeMillis"] = snap.elapsed_millis;
  stats["TablesLoaded"] = snap.TablesIn(kTableCompleted);
  stats["TablesLoading"] = snap.TablesIn(kTableFullLoad);
  stats["TablesQueued"] = snap.TablesIn(kTableBeforeLoad);
  stats["TablesErrored"] = snap.TablesIn(kTableError);
  PutTime(stats, "FreshStartDate", snap.fresh_start_date);
  PutTime(stats, "StartDate", snap.start_date);
  PutTime(stats, "StopDate", snap.stop_date);
  PutTime(stats, "FullLoadStartDate", snap.full_load_start_date);
  PutTime(stats, "FullLoadFinishDate", snap.full_load_finish_date);
  j["ReplicationTaskStats"] = std::move(stats);
  return j;
}

Json TableStatisticsJson(const TaskSnapshot& snap, TimeFormat time_format) {
  auto time = [time_format](TimePoint t) -> Json {
    if (time_format == TimeFormat::kEpochSeconds) return ToEpochSeconds(t);
    return CliTime(t);
  };
  auto put_time = [&](Json& j, const char* name, const std::optional<TimePoint>& t) {
    if (t) j[name] = time(*t);
  };
  Json list = Json::array();
  for (const TableStatistics& t : snap.tables) {
    Json j;
    j["SchemaName"] = t.schema_name;
    j["TableName"] = t.table_name;
    j["Inserts"] = t.inserts;
    j["Deletes"] = t.deletes;
    j["Updates"] = t.updates;
    j["Ddls"] = t.ddls;
    j["AppliedInserts"] = t.inserts;
    j["AppliedDeletes"] = t.deletes;
    j["AppliedUpdates"] = t.updates;
    j["AppliedDdls"] = t.ddls;
    j["ApplyErrors"] = t.apply_errors;
    j["FullLoadRows"] = t.full_load_rows;
    j["FullLoadCondtnlChkFailedRows"] = 0;
    j["FullLoadErrorRows"] = t.full_load_error_rows;
    put_time(j, "FullLoadStartTime", t.full_load_start);
    put_time(j, "FullLoadEndTime", t.full_load_end);
    j["FullLoadReloaded"] = t.full_load_reloaded;
    // A table nothing has happened to yet was last updated now.
    j["LastUpdateTime"] = time(t.last_update == TimePoint{} ? Clock::Now() : t.last_update);
    j["TableState"] = t.table_state;
    j["ValidationPendingRecords"] = 0;
    j["ValidationFailedRecords"] = 0;
    j["ValidationSuspendedRecords"] = 0;
    j["ValidationState"] = "Not enabled";
    list.push_back(std::move(j));
  }
  return list;
}

Json CdcStatisticsJson(const CdcStatistics& cdc) {
  Json j;
  j["ChangeObjectsApplied"] = cdc.objects_applied;
  j["ChangesApplied"] = cdc.changes_applied;
  j["LateObjects"] = cdc.late_objects;
  j["OverwrittenObjects"] = cdc.overwritten_objects;
  j["SkippedObjects"] = cdc.skipped_objects;
  j["RowsForOtherTables"] = cdc.rows_for_other_tables;
  std::vector<double> l = cdc.latency_ms;
  std::sort(l.begin(), l.end());
  auto pct = [&](double p) {
    return l.empty() ? 0.0 : l[std::min(l.size() - 1, static_cast<size_t>(p * l.size()))];
  };
  j["LatencyMillis"] = {{"P50", pct(0.50)},
                        {"P99", pct(0.99)},
                        {"Max", l.empty() ? 0.0 : l.back()},
                        {"Samples", l.size()}};
  return j;
}

namespace {

// Splits a table's objects into contiguous slices of about `target_bytes` (never splitting an
// object), each one's first checkpoint. A table with no objects has one empty slice.
std::vector<TableCheckpoint> PlanSlices(const std::vector<SourceObject>& objects,
                                        int64_t target_bytes) {
  int64_t total = 0;
  for (const SourceObject& o : objects) total += static_cast<int64_t>(o.size);
  int64_t n = target_bytes > 0 ? (total + target_bytes / 2) / target_bytes : 1;
  n = std::clamp<int64_t>(n, 1, std::max<int64_t>(1, static_cast<int64_t>(objects.size())));
  TableCheckpoint base;
  base.table_state = "loading";
  base.plan_objects = static_cast<int64_t>(objects.size());
  base.plan_digest = ObjectsDigest(objects, 0, objects.size());
  base.done_digest = ObjectsDigest(objects, 0, 0);
  // Slice k ends once the running total reaches k/n of the table, taking at least one object
  // and leaving at least one for each later slice.
  std::vector<size_t> ends;
  size_t next = 0;
  int64_t cumulative = 0;
  for (int64_t k = 1; k < n; ++k) {
    const int64_t goal = total * k / n;
    do {
      cumulative += static_cast<int64_t>(objects[next++].size);
    } while (next < objects.size() - static_cast<size_t>(n - k) && cumulative < goal);
    ends.push_back(next);
  }
  ends.push_back(objects.size());
  std::vector<TableCheckpoint> slices;
  size_t first = 0;
  for (size_t k = 0; k < ends.size(); ++k) {
    TableCheckpoint c = base;
    c.slice = static_cast<int>(k);
    c.slice_first = static_cast<int64_t>(first);
    c.slice_objects = static_cast<int64_t>(ends[k] - first);
    first = ends[k];
    slices.push_back(std::move(c));
  }
  return slices;
}

// Bytes of a slice's objects before its checkpoint's position.
int64_t BytesDone(const std::vector<SourceObject>& objects, const TableCheckpoint& c) {
  int64_t bytes = c.object_offset;
  for (int64_t i = 0; i < c.objects_done && i < static_cast<int64_t>(objects.size()); ++i) {
    bytes += static_cast<int64_t>(objects[i].size);
  }
  return bytes;
}

}  // namespace

class ReplicationTask::Impl {
 public:
  Impl(const TaskDefinition& def, objectstore::ObjectStore& store, RunOptions options)
      : def_(def), store_(store), options_(options), shared_(InitialStatistics(def)) {}

  Result<TaskSnapshot> Run();
  TaskSnapshot Snapshot() const;
  void RequestStop() {
    shared_.RequestStop();
    if (options_.wake) options_.wake->Notify();
  }
  Status ReloadTables(const std::vector<TableToReload>& tables);

 private:
  static std::vector<TableStatistics> InitialStatistics(const TaskDefinition& def);
  Result<pg::Connection> Connect() const;
  void Worker();
  // Change processing after the full load (or alone): runs it and sets the final status.
  Result<TaskSnapshot> FinishWithCdc(bool fresh);
  // Waits RecoverableErrorInterval after a recoverable error (the target connection broke);
  // false once RecoverableErrorCount retries are used up (or the task is stopping).
  bool RecoverableBackoff(const Status& error);
  // A table went to "Table error": applies TableErrorPolicy and TableErrorEscalationCount.
  void CountTableError(const std::string& message);
  void SetStatus(std::string status);
  // A full-load task: the reloads requested while it loaded, once its full load is over.
  void ReloadAfterFullLoad();
  // No more reloads are taken (the task is finishing); those queued are dropped, and logged.
  void CloseReloads();

  const TaskDefinition& def_;
  objectstore::ObjectStore& store_;
  const RunOptions options_;
  TaskShared shared_;
  std::string control_schema_;
  OptionalControlTables optional_;  // DMS's optional control tables the task keeps

  mutable std::mutex mu_;
  TaskSnapshot state_;                  // guarded by mu_ (tables come from shared_)
  std::deque<TableLoadRequest> queue_;  // guarded by mu_
  int table_errors_ = 0;                // guarded by mu_
  int recoverable_errors_ = 0;          // guarded by mu_
  bool reloads_closed_ = false;         // guarded by mu_: ReloadTables refuses once set
  std::chrono::steady_clock::time_point started_;
};

std::vector<TableStatistics> ReplicationTask::Impl::InitialStatistics(const TaskDefinition& def) {
  std::vector<TableStatistics> out;
  for (const MappedTable& t : def.mapped_tables) {
    TableStatistics s;
    s.schema_name = t.source_schema;
    s.table_name = t.source_table;
    s.target_schema = t.target_schema;
    s.target_table = t.target_table;
    s.last_update = Clock::Now();
    out.push_back(std::move(s));
  }
  return out;
}

Result<pg::Connection> ReplicationTask::Impl::Connect() const {
  pg::ConnectionParams p;
  p.host = def_.target.server_name;
  p.port = def_.target.port;
  p.dbname = def_.target.database_name;
  p.user = def_.target.username;
  p.password = def_.target.password;
  p.application_name = "opendms:" + def_.task.identifier;
  auto conn = pg::Connection::Open(p);
  if (!conn.ok())
    return conn.status().WithContext("connecting to target " + def_.target.Describe());
  if (def_.target.execute_timeout_seconds > 0) {
    RETURN_IF_ERROR(conn->Execute("SET statement_timeout = " +
                                  std::to_string(def_.target.execute_timeout_seconds * 1000)));
  }
  if (!def_.target.after_connect_script.empty()) {
    Status st = conn->Execute(def_.target.after_connect_script);
    if (!st.ok()) return st.WithContext("target endpoint AfterConnectScript");
  }
  return conn;
}

Status ReplicationTask::Impl::ReloadTables(const std::vector<TableToReload>& tables) {
  if (tables.empty()) return Status::InvalidArgument("TablesToReload must name at least one table");
  if (tables.size() > 10) {
    return Status::InvalidArgument("TablesToReload names " + std::to_string(tables.size()) +
                                   " tables; DMS reloads at most 10 at a time");
  }
  if (def_.task.migration_type == MigrationType::kCdc) {
    return Status::InvalidState("task " + def_.task.identifier +
                                " is a cdc task: DMS reloads tables of full-load and "
                                "full-load-and-cdc tasks only (it has no full load to repeat)");
  }
  std::vector<size_t> indexes;
  std::string unknown;
  for (const TableToReload& want : tables) {
    size_t i = 0;
    while (i < def_.mapped_tables.size() &&
           (def_.mapped_tables[i].source_schema != want.schema_name ||
            def_.mapped_tables[i].source_table != want.table_name)) {
      ++i;
    }
    if (i == def_.mapped_tables.size()) {
      unknown += (unknown.empty() ? "" : ", ") + want.schema_name + "." + want.table_name;
    } else if (std::find(indexes.begin(), indexes.end(), i) == indexes.end()) {
      indexes.push_back(i);
    }
  }
  if (!unknown.empty()) {
    std::string known;
    for (const MappedTable& t : def_.mapped_tables) {
      known += (known.empty() ? "" : ", ") + t.source_schema + "." + t.source_table;
    }
    return Status::InvalidArgument("TablesToReload: " + unknown + " is not a table of task " +
                                   def_.task.identifier +
                                   " (SchemaName and TableName are the "
                                   "source's; the task's tables: " +
                                   known + ")");
  }
  {
    std::lock_guard lock(mu_);
    if (state_.status != "running" || reloads_closed_) {
      return Status::InvalidState(
          "task " + def_.task.identifier + " is " +
          (state_.status == "running" ? std::string("finishing") : state_.status) +
          ": tables can be reloaded only while it runs");
    }
    for (size_t i : indexes) {
      const MappedTable& t = def_.mapped_tables[i];
      TaskLog(options_, def_.task.identifier, LogComponent::kTaskManager, LogSeverity::kInfo,
              "reload of table {}.{} requested", t.source_schema, t.source_table);
      shared_.RequestReload(i);
      // A table still in the full load finishes it first, and shows it meanwhile.
      shared_.UpdateTable(i, [](TableStatistics& s) {
        if (s.table_state != kTableFullLoad) s.table_state = std::string(kTableBeingReloaded);
      });
    }
  }
  if (options_.wake) options_.wake->Notify();
  return Status::Ok();
}

void ReplicationTask::Impl::CloseReloads() {
  std::lock_guard lock(mu_);
  reloads_closed_ = true;
  for (size_t i : shared_.TakeReloads()) {
    const MappedTable& t = def_.mapped_tables[i];
    TaskLog(options_, def_.task.identifier, LogComponent::kTaskManager, LogSeverity::kWarning,
            "the reload of table {}.{} was requested as the task finished: not done",
            t.source_schema, t.source_table);
  }
}

void ReplicationTask::Impl::ReloadAfterFullLoad() {
  std::optional<pg::Connection> conn;
  for (;;) {
    std::vector<size_t> todo;
    {
      std::lock_guard lock(mu_);
      todo = shared_.TakeReloads();
      if (todo.empty()) {
        reloads_closed_ = true;
        return;
      }
    }
    for (size_t i : todo) {
      if (shared_.failed() || shared_.stop_requested()) return;
      if (!conn) {
        auto c = Connect();
        if (!c.ok()) {
          shared_.Fail("reloading tables: " + c.status().message());
          return;
        }
        conn.emplace(std::move(c).value());
      }
      const MappedTable& t = def_.mapped_tables[i];
      LoadEnvironment env{def_,    store_,   options_, def_.task.identifier, control_schema_,
                          shared_, optional_};
      std::string message;
      const TableOutcome outcome = ReloadTableData(env, *conn, i, true, &message);
      if (outcome == TableOutcome::kCompleted) {
        Status st = DeleteTableReload(*conn, control_schema_, def_.task.identifier,
                                      {t.target_schema, t.target_table});
        if (!st.ok()) {
          shared_.Fail("reloading " + t.target_schema + "." + t.target_table + ": " + st.message());
          return;
        }
        shared_.UpdateTable(i, [](TableStatistics& s) {
          s.table_state = std::string(kTableCompleted);
        });
        TaskLog(options_, def_.task.identifier, LogComponent::kTargetLoad, LogSeverity::kInfo,
                "table {}.{} reloaded: {} rows loaded", t.target_schema, t.target_table,
                shared_.Tables()[i].full_load_rows);
      } else if (outcome == TableOutcome::kTableError || outcome == TableOutcome::kAbandoned) {
        TaskLog(options_, def_.task.identifier, LogComponent::kTargetLoad, LogSeverity::kError,
                "{}", message);
        shared_.UpdateTable(i, [&](TableStatistics& s) {
          s.table_state = std::string(kTableError);
          s.error_message = message;
        });
        CountTableError(message);
      } else if (outcome != TableOutcome::kStopped) {
        shared_.Fail(message);
        return;
      }
    }
  }
}

void ReplicationTask::Impl::SetStatus(std::string status) {
  std::lock_guard lock(mu_);
  state_.status = std::move(status);
}

TaskSnapshot ReplicationTask::Impl::Snapshot() const {
  TaskSnapshot s;
  {
    std::lock_guard lock(mu_);
    s = state_;
  }
  s.tables = shared_.Tables();
  s.cdc = shared_.Cdc();
  s.recovery_checkpoint = shared_.recovery_checkpoint();
  int64_t read = 0, total = 0;
  for (const TableStatistics& t : s.tables) {
    read += std::min(t.bytes_read, t.bytes_total);
    total += t.bytes_total;
  }
  if (total > 0) {
    s.full_load_progress_percent = static_cast<int>(read * 100 / total);
  } else {
    s.full_load_progress_percent = s.full_load_finish_date ? 100 : 0;
  }
  if (s.start_date && s.status == "running") {
    s.elapsed_millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - started_)
                           .count();
  }
  return s;
}

void ReplicationTask::Impl::Worker() {
  std::optional<pg::Connection> conn;
  for (;;) {
    TableLoadRequest request;
    {
      std::lock_guard lock(mu_);
      if (queue_.empty()) return;
      request = std::move(queue_.front());
      queue_.pop_front();
    }
    if (shared_.failed() || shared_.stop_requested()) continue;  // stays "Before load"
    auto requeue = [&] {
      request.reread_checkpoint = true;
      std::lock_guard lock(mu_);
      queue_.push_front(std::move(request));
    };
    if (!conn || !conn->IsHealthy()) {
      conn.reset();
      auto c = Connect();
      if (!c.ok()) {
        if (pg::IsTransientError(c.status()) && RecoverableBackoff(c.status())) {
          requeue();
          continue;
        }
        shared_.UpdateTable(request.index, [&](TableStatistics& t) {
          t.table_state = std::string(kTableError);
          t.error_message = c.status().ToString();
        });
        shared_.Fail(c.status().message());
        return;
      }
      conn.emplace(std::move(c).value());
      // See full_load.cc: intermediate commits need not wait for the WAL flush.
      (void)conn->Execute("SET synchronous_commit = off");
    }
    if (request.reread_checkpoint) {
      // After a lost connection: where the slice stands is what the target committed.
      auto checkpoints = ReadCheckpoints(*conn, control_schema_, def_.task.identifier);
      if (!checkpoints.ok()) {
        if (!conn->IsHealthy() && RecoverableBackoff(checkpoints.status())) {
          requeue();
          continue;
        }
        shared_.Fail(checkpoints.status().message());
        return;
      }
      const MappedTable& t = def_.mapped_tables[request.index];
      auto it = checkpoints->find({t.target_schema, t.target_table});
      if (it != checkpoints->end()) {
        for (const TableCheckpoint& c : it->second) {
          if (c.slice == request.checkpoint.slice) request.checkpoint = c;
        }
      }
      request.reread_checkpoint = false;
    }
    LoadEnvironment env{def_,    store_,   options_, def_.task.identifier, control_schema_,
                        shared_, optional_};
    std::string message;
    TableOutcome outcome = LoadTable(env, *conn, request, &message);
    if (outcome == TableOutcome::kRecoverable) {
      conn.reset();
      if (RecoverableBackoff(Status::ConnectionError(message))) {
        requeue();
        continue;
      }
      shared_.Fail(message + " (RecoverableErrorCount " +
                   std::to_string(def_.task.settings.recoverable_error_count) + " reached)");
    } else if (outcome == TableOutcome::kFatal) {
      shared_.Fail(message);
    } else if (outcome == TableOutcome::kTableError) {
      CountTableError(message);
    }
  }
}

bool ReplicationTask::Impl::RecoverableBackoff(const Status& error) {
  const TaskSettings& s = def_.task.settings;
  int n = 0;
  {
    std::lock_guard lock(mu_);
    if (s.recoverable_error_count >= 0 && recoverable_errors_ >= s.recoverable_error_count) {
      return false;
    }
    n = ++recoverable_errors_;
  }
  TaskLog(options_, def_.task.identifier, LogComponent::kTaskManager, LogSeverity::kWarning,
          "{} (recoverable error {}; retrying in {} s)", error.message(), n,
          s.recoverable_error_interval);
  for (int i = 0; i < s.recoverable_error_interval * 10 && !shared_.stop_requested(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return !shared_.stop_requested();
}

void ReplicationTask::Impl::CountTableError(const std::string& message) {
  const TaskSettings& s = def_.task.settings;
  std::lock_guard lock(mu_);
  ++table_errors_;
  if (s.table_error_policy == ErrorPolicy::kStopTask) {
    shared_.Fail(message + " (TableErrorPolicy STOP_TASK)");
  } else if (s.table_error_escalation_count > 0 &&
             table_errors_ >= s.table_error_escalation_count) {
    shared_.Fail(message + " (TableErrorEscalationCount " +
                 std::to_string(s.table_error_escalation_count) + " reached)");
  }
}

Result<TaskSnapshot> ReplicationTask::Impl::Run() {
  const TaskSettings& settings = def_.task.settings;
  const MigrationType type = def_.task.migration_type;
  const bool resume = options_.start_type == StartType::kResumeProcessing;
  control_schema_ = settings.control_schema.empty() ? "public" : settings.control_schema;
  started_ = std::chrono::steady_clock::now();
  for (const std::string& w : def_.warnings) {
    TaskLog(options_, def_.task.identifier, LogComponent::kTaskManager, LogSeverity::kWarning,
            "{}", w);
  }
  {
    std::lock_guard lock(mu_);
    state_.status = "starting";
    state_.start_date = Clock::Now();
    if (options_.start_type != StartType::kResumeProcessing)
      state_.fresh_start_date = state_.start_date;
  }
  auto fail = [&](std::string message) {
    std::lock_guard lock(mu_);
    state_.status = "failed";
    state_.stop_reason = "Stop Reason FATAL_ERROR";
    state_.last_failure_message =
        "Last Error " + message + " Stop Reason FATAL_ERROR Error Level FATAL";
    state_.stop_date = Clock::Now();
  };

  auto control = Connect();
  if (!control.ok()) {
    fail(control.status().message());
    return Snapshot();
  }
  Status st = EnsureControlTables(*control, control_schema_);
  if (!st.ok()) {
    fail("creating control tables in schema " + control_schema_ + ": " + st.message());
    return Snapshot();
  }
  if (type != MigrationType::kFullLoad) {
    // DMS keeps these only for tasks that do CDC, and only when enabled.
    optional_.status = settings.status_table_enabled;
    optional_.suspended_tables = settings.suspended_tables_table_enabled;
    optional_.history = settings.history_table_enabled;
    optional_.txn_state = settings.task_recovery_table_enabled;
    optional_.history_timeslot_minutes = settings.history_timeslot_minutes;
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    optional_.server_name = host;
    st = EnsureOptionalControlTables(*control, control_schema_, optional_);
    if (st.ok() && type == MigrationType::kFullLoadAndCdc) {
      st = WriteStatusRow(*control, control_schema_, optional_, def_.task.identifier,
                          StatusRow{"FULL LOAD", "", std::nullopt, std::nullopt, 0});
    }
    if (!st.ok()) {
      fail("creating control tables in schema " + control_schema_ + ": " + st.message());
      return Snapshot();
    }
  }
  auto checkpoints = ReadCheckpoints(*control, control_schema_, def_.task.identifier);
  if (!checkpoints.ok()) {
    fail(checkpoints.status().message());
    return Snapshot();
  }
  auto cdc_state = ReadCdcState(*control, control_schema_, def_.task.identifier);
  if (!cdc_state.ok()) {
    fail(cdc_state.status().message());
    return Snapshot();
  }
  if (resume && checkpoints->empty() && !*cdc_state) {
    return Status::InvalidState(
        "resume-processing: task " + def_.task.identifier + " has not run against " +
        def_.target.Describe() + " (no checkpoint in " + control_schema_ + "." +
        std::string(kCheckpointTable) + " or " + control_schema_ + "." +
        std::string(kCdcStateTable) + "); start it with start-replication first");
  }
  std::set<size_t> reloading;  // tables with an unfinished reload: the reload loads them
  if (!resume) {
    st = DeleteCheckpoints(*control, control_schema_, def_.task.identifier);
    if (st.ok()) st = DeleteCdcState(*control, control_schema_, def_.task.identifier);
    if (!st.ok()) {
      fail(st.message());
      return Snapshot();
    }
    checkpoints->clear();
  } else {
    // Reloads a crash or a stop interrupted are finished first (the CDC loop takes them before
    // any change object; a full-load task once its full load is over).
    auto reloads = ReadTableReloads(*control, control_schema_, def_.task.identifier);
    if (!reloads.ok()) {
      fail(reloads.status().message());
      return Snapshot();
    }
    for (const TableKey& key : *reloads) {
      for (size_t i = 0; i < def_.mapped_tables.size(); ++i) {
        const MappedTable& t = def_.mapped_tables[i];
        if (t.target_schema != key.first || t.target_table != key.second) continue;
        TaskLog(options_, def_.task.identifier, LogComponent::kTaskManager, LogSeverity::kInfo,
                "table {}.{} has an unfinished reload: finishing it", key.first, key.second);
        shared_.RequestReload(i);
        shared_.UpdateTable(i, [](TableStatistics& s) { s.full_load_reloaded = true; });
        reloading.insert(i);
      }
    }
  }
  if (type == MigrationType::kCdc) {
    // No full load: the tables are prepared (fresh starts only) and change processing begins.
    std::set<std::string> schemas;
    for (const MappedTable& t : def_.mapped_tables) schemas.insert(t.target_schema);
    for (const std::string& schema : schemas) {
      st = control->Execute("CREATE SCHEMA IF NOT EXISTS " + pg::QuoteIdentifier(schema));
      if (!st.ok()) {
        fail("creating target schema " + schema + ": " + st.message());
        return Snapshot();
      }
    }
    for (size_t i = 0; i < def_.mapped_tables.size(); ++i) {
      const MappedTable& t = def_.mapped_tables[i];
      if (!resume) {
        st =
            control->Execute("BEGIN;\n" + PrepareTableSql(t, settings.prep_mode, true) + "COMMIT;");
        if (!st.ok()) {
          (void)control->Execute("ROLLBACK");
          fail("preparing " + t.target_schema + "." + t.target_table +
               " (TargetTablePrepMode): " + st.message());
          return Snapshot();
        }
      }
      shared_.UpdateTable(i,
                          [](TableStatistics& s) { s.table_state = std::string(kTableCompleted); });
    }
    {
      std::lock_guard lock(mu_);
      state_.status = "running";
    }
    return FinishWithCdc(/*fresh=*/!resume);
  }

  // List every table's objects first: the full load reads what exists when it starts.
  std::vector<std::vector<SourceObject>> listed(def_.mapped_tables.size());
  int64_t bytes_to_load = 0;
  for (size_t i = 0; i < def_.mapped_tables.size(); ++i) {
    const MappedTable& table = def_.mapped_tables[i];
    const TableDefinition& source = def_.tables.tables[table.source_table_index];
    const std::string prefix = JoinFolder(def_.source.s3.bucket_folder, source.path);
    objectstore::ListOptions lo;
    lo.prefix = prefix;
    int64_t bytes = 0;
    for (;;) {
      auto page = store_.List(def_.source.s3.bucket_name, lo);
      if (!page.ok()) {
        fail("listing s3://" + def_.source.s3.bucket_name + "/" + prefix + ": " +
             page.status().message());
        return Snapshot();
      }
      for (const objectstore::ObjectInfo& o : page->objects) {
        if (!o.key.empty() && o.key.back() == '/') continue;  // folder marker, no data
        listed[i].push_back({o.key, o.etag, o.size});
        bytes += static_cast<int64_t>(o.size);
      }
      if (!page->truncated) break;
      lo.start_after = page->next_start_after;
    }
    shared_.UpdateTable(i, [&](TableStatistics& s) {
      s.bytes_total = bytes;
      s.objects_total = static_cast<int64_t>(listed[i].size());
    });
    bytes_to_load += bytes;
  }
  // Tables load in slices of about 1/8 of a subtask's share, so that the subtasks finish close
  // together instead of one large table loading alone at the end. Slices are whole objects.
  const int64_t slice_bytes = std::max<int64_t>(
      options_.min_slice_bytes, bytes_to_load / (8 * std::max(1, settings.max_full_load_subtasks)));

  std::vector<TableLoadRequest> requests;
  for (size_t i = 0; i < def_.mapped_tables.size(); ++i) {
    const MappedTable& table = def_.mapped_tables[i];
    const std::vector<SourceObject>& objects = listed[i];
    const std::string table_name = table.target_schema + "." + table.target_table;
    if (reloading.count(i)) continue;  // its reload continues its load (reload.h)
    std::vector<TableCheckpoint> slices;
    bool prepare = true;
    auto it = checkpoints->find({table.target_schema, table.target_table});
    if (it != checkpoints->end() && !it->second.empty()) {
      const std::vector<TableCheckpoint>& rows = it->second;
      int64_t rows_loaded = 0, rows_rejected = 0, bytes_done = 0, objects_done = 0;
      bool completed = true, error = false;
      std::optional<TimePoint> start, end;
      const bool same_plan = rows.front().plan_objects == static_cast<int64_t>(objects.size()) &&
                             rows.front().plan_digest == ObjectsDigest(objects, 0, objects.size());
      for (const TableCheckpoint& c : rows) {
        rows_loaded += c.rows_loaded;
        rows_rejected += c.rows_rejected;
        completed = completed && c.table_state == "completed";
        error = error || c.table_state == "error";
        if (c.full_load_start && (!start || *c.full_load_start < *start)) start = c.full_load_start;
        if (c.full_load_end && (!end || *c.full_load_end > *end)) end = c.full_load_end;
        if (same_plan) {
          std::vector<SourceObject> mine(objects.begin() + c.slice_first,
                                         objects.begin() + c.slice_first + c.slice_objects);
          bytes_done += BytesDone(mine, c);
          objects_done += c.objects_done;
        }
      }
      if (completed) {  // left alone, as DMS leaves completed tables
        shared_.UpdateTable(i, [&](TableStatistics& s) {
          s.table_state = std::string(kTableCompleted);
          s.full_load_rows = rows_loaded;
          s.full_load_error_rows = rows_rejected;
          s.full_load_start = start;
          s.full_load_end = end;
          s.bytes_read = s.bytes_total;
          s.objects_done = s.objects_total;
        });
        continue;
      }
      if (!error && same_plan) {
        slices = rows;
        prepare = false;
        shared_.UpdateTable(i, [&](TableStatistics& s) {
          s.full_load_rows = rows_loaded;
          s.full_load_error_rows = rows_rejected;
          s.bytes_read = bytes_done;
          s.objects_done = objects_done;
        });
      } else if (!error) {
        // The objects changed since the table's load was planned: it loads again from the start.
        if (settings.prep_mode == TargetTablePrepMode::kDoNothing && rows_loaded > 0) {
          const std::string message =
              "the objects of " + table_name +
              " changed since its interrupted load; with TargetTablePrepMode DO_NOTHING a reload "
              "would duplicate the " +
              std::to_string(rows_loaded) +
              " rows already loaded: start the task with reload-target";
          TaskLog(options_, def_.task.identifier, LogComponent::kTaskManager, LogSeverity::kError,
                  "table {} failed: {}", table_name, message);
          shared_.UpdateTable(i, [&](TableStatistics& s) {
            s.table_state = std::string(kTableError);
            s.error_message = message;
          });
          CountTableError(message);
          continue;
        }
        TaskLog(options_, def_.task.identifier, LogComponent::kTaskManager, LogSeverity::kWarning,
                "the objects of table {} changed since its interrupted load: reloading it from "
                "the start",
                table_name);
        shared_.UpdateTable(i, [](TableStatistics& s) { s.full_load_reloaded = true; });
      }
      // "error": loaded again from the start, prep mode applies.
    }
    if (prepare) slices = PlanSlices(objects, slice_bytes);
    int remaining = 0;
    for (const TableCheckpoint& c : slices) remaining += c.table_state == "completed" ? 0 : 1;
    auto run = std::make_shared<TableRun>(
        prepare, prepare ? slices : std::vector<TableCheckpoint>{}, remaining);
    for (const TableCheckpoint& c : slices) {
      if (c.table_state == "completed") continue;
      TableLoadRequest req;
      req.index = i;
      req.objects.assign(objects.begin() + c.slice_first,
                         objects.begin() + c.slice_first + c.slice_objects);
      req.checkpoint = c;
      req.table = run;
      req.bytes = 0;
      for (const SourceObject& o : req.objects) req.bytes += static_cast<int64_t>(o.size);
      req.bytes -= BytesDone(req.objects, c);
      requests.push_back(std::move(req));
    }
  }
  // Target schemas are created once here: concurrent CREATE SCHEMA IF NOT EXISTS can collide.
  {
    std::set<std::string> schemas;
    for (const MappedTable& t : def_.mapped_tables) schemas.insert(t.target_schema);
    for (const std::string& schema : schemas) {
      st = control->Execute("CREATE SCHEMA IF NOT EXISTS " + pg::QuoteIdentifier(schema));
      if (!st.ok()) {
        fail("creating target schema " + schema + ": " + st.message());
        return Snapshot();
      }
    }
  }
  // Load order: higher load-order first (mapped_tables is already in that order). Among tables
  // of equal load-order, which DMS leaves unordered, slices go round-robin over the tables (the
  // subtasks rarely write the same table at once), the tables with most left to load first.
  std::vector<int64_t> table_bytes(def_.mapped_tables.size(), 0);
  for (const TableLoadRequest& r : requests) table_bytes[r.index] += r.bytes;
  std::stable_sort(requests.begin(), requests.end(),
                   [&](const TableLoadRequest& a, const TableLoadRequest& b) {
                     const int64_t oa = def_.mapped_tables[a.index].load_order;
                     const int64_t ob = def_.mapped_tables[b.index].load_order;
                     if (oa != ob) return oa > ob;
                     if (a.checkpoint.slice != b.checkpoint.slice) {
                       return a.checkpoint.slice < b.checkpoint.slice;
                     }
                     return table_bytes[a.index] > table_bytes[b.index];
                   });
  {
    std::lock_guard lock(mu_);
    for (auto& r : requests) queue_.push_back(std::move(r));
    state_.status = "running";
    state_.full_load_start_date = Clock::Now();
  }
  TaskLog(options_, def_.task.identifier, LogComponent::kTaskManager, LogSeverity::kInfo,
          "{} full load of {} tables ({} slices to load), {} subtasks",
          StartTypeName(options_.start_type), def_.mapped_tables.size(), requests.size(),
          settings.max_full_load_subtasks);
  const size_t workers =
      std::max<size_t>(1, std::min<size_t>(settings.max_full_load_subtasks, requests.size()));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < workers; ++i) threads.emplace_back([this] { Worker(); });
  for (auto& t : threads) t.join();
  if (type == MigrationType::kFullLoad && !shared_.failed() && !shared_.stop_requested()) {
    ReloadAfterFullLoad();
  }
  if (type == MigrationType::kFullLoad || shared_.failed() || shared_.stop_requested()) {
    CloseReloads();
  }

  {
    std::lock_guard lock(mu_);
    state_.stop_date = Clock::Now();
    state_.elapsed_millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - started_)
                                .count();
    if (shared_.failed()) {
      state_.status = "failed";
      state_.stop_reason = "Stop Reason FATAL_ERROR";
      state_.last_failure_message =
          "Last Error " + shared_.failure_message() + " Stop Reason FATAL_ERROR Error Level FATAL";
    } else if (shared_.stop_requested()) {
      state_.status = "stopped";
      state_.stop_reason = "Stop Reason NORMAL";
    } else if (type == MigrationType::kFullLoad) {
      state_.status = "stopped";
      state_.stop_reason = "Stop Reason FULL_LOAD_ONLY_FINISHED";
      state_.full_load_finish_date = state_.stop_date;
    } else {
      state_.full_load_finish_date = state_.stop_date;
      state_.stop_date.reset();
    }
  }
  if (type == MigrationType::kFullLoad || shared_.failed() || shared_.stop_requested()) {
    return Snapshot();
  }
  if (settings.stop_task_cached_changes_not_applied || settings.stop_task_cached_changes_applied) {
    // S3 change objects are not cached during the load: they all wait in the bucket, so both
    // settings stop the task here.
    CloseReloads();
    std::lock_guard lock(mu_);
    state_.status = "stopped";
    state_.stop_reason = settings.stop_task_cached_changes_applied
                             ? "Stop Reason STOPPED_AFTER_CACHED_EVENTS"
                             : "Stop Reason STOPPED_AFTER_FULL_LOAD";
    state_.stop_date = Clock::Now();
    return Snapshot();
  }
  return FinishWithCdc(/*fresh=*/!resume || !*cdc_state);
}

Result<TaskSnapshot> ReplicationTask::Impl::FinishWithCdc(bool fresh) {
  CdcEnvironment env{
      {def_, store_, options_, def_.task.identifier, control_schema_, shared_, optional_},
      [this] { return Connect(); }};
  const CdcEnd end = RunCdc(env, fresh);
  CloseReloads();
  {
    std::lock_guard lock(mu_);
    state_.stop_date = Clock::Now();
    state_.elapsed_millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - started_)
                                .count();
    switch (end) {
      case CdcEnd::kFailed:
        state_.status = "failed";
        state_.stop_reason = "Stop Reason FATAL_ERROR";
        state_.last_failure_message = "Last Error " + shared_.failure_message() +
                                      " Stop Reason FATAL_ERROR Error Level FATAL";
        break;
      case CdcEnd::kStopRequested:
      case CdcEnd::kIdle:
        state_.status = "stopped";
        state_.stop_reason = "Stop Reason NORMAL";
        break;
      case CdcEnd::kServerTime:
        state_.status = "stopped";
        state_.stop_reason = "Stop Reason STOPPED_AT_SERVER_TIME";
        break;
      case CdcEnd::kCommitTime:
        state_.status = "stopped";
        state_.stop_reason = "Stop Reason STOPPED_AT_COMMIT_TIME";
        break;
    }
  }
  return Snapshot();
}

ReplicationTask::ReplicationTask(const TaskDefinition& definition, objectstore::ObjectStore& store,
                                 RunOptions options)
    : impl_(std::make_unique<Impl>(definition, store, options)) {}
ReplicationTask::~ReplicationTask() = default;
Result<TaskSnapshot> ReplicationTask::Run() { return impl_->Run(); }
void ReplicationTask::RequestStop() { impl_->RequestStop(); }
TaskSnapshot ReplicationTask::Snapshot() const { return impl_->Snapshot(); }
Status ReplicationTask::ReloadTables(const std::vector<TableToReload>& tables) {
  return impl_->ReloadTables(tables);
}

}  // namespace opendms::engine

// The runner: a replication instance is a pool of slots (its class's concurrent_tasks); each
// StartReplicationTask becomes a Run on a thread of its own that waits for a slot ("starting"),
// runs an engine::ReplicationTask, and ends "stopped" or "failed". A monitor thread publishes
// every run's snapshot to the catalog every publish_interval_millis; the run publishes its
// final snapshot itself.
#include <algorithm>

#include "dms/service_impl.h"

namespace opendms::dms {
namespace {

void PutTime(Json& j, const char* name, const std::optional<TimePoint>& t) {
  if (t) j[name] = ToEpochSeconds(*t);
}

std::string FailureMessage(std::string_view message) {
  return "Last Error " + std::string(message) + " Stop Reason FATAL_ERROR Error Level FATAL";
}

bool Terminal(const std::string& status) { return status == "stopped" || status == "failed"; }

}  // namespace

Json TableStatisticsShape(const engine::TaskSnapshot& snap) {
  Json list = engine::TableStatisticsJson(snap, engine::TimeFormat::kEpochSeconds);
  for (Json& table : list) table.erase("ApplyErrors");  // not a member of DMS's TableStatistics
  return list;
}

Json TaskStatsShape(const engine::TaskSnapshot& snap) {
  Json stats;
  stats["FullLoadProgressPercent"] = snap.full_load_progress_percent;
  stats["ElapsedTimeMillis"] = snap.elapsed_millis;
  stats["TablesLoaded"] = snap.TablesIn(engine::kTableCompleted);
  stats["TablesLoading"] = snap.TablesIn(engine::kTableFullLoad);
  stats["TablesQueued"] = snap.TablesIn(engine::kTableBeforeLoad);
  stats["TablesErrored"] = snap.TablesIn(engine::kTableError);
  PutTime(stats, "FreshStartDate", snap.fresh_start_date);
  PutTime(stats, "StartDate", snap.start_date);
  PutTime(stats, "StopDate", snap.stop_date);
  PutTime(stats, "FullLoadStartDate", snap.full_load_start_date);
  PutTime(stats, "FullLoadFinishDate", snap.full_load_finish_date);
  return stats;
}

DmsService::Impl::Impl(catalog::Catalog& catalog, objectstore::ObjectStore& store,
                       SecretResolver resolver, Options options)
    : catalog_(catalog), store_(store), resolver_(std::move(resolver)), options_(options) {
  monitor_ = std::thread([this] { MonitorMain(); });
}

DmsService::Impl::~Impl() {
  abandoning_ = true;
  shutting_down_ = true;
  StopAllRuns();
  {
    std::lock_guard lock(mu_);
    stop_monitor_ = true;
  }
  cv_.notify_all();
  if (monitor_.joinable()) monitor_.join();
  std::vector<std::thread> background;
  {
    std::lock_guard lock(mu_);
    background.swap(background_);
  }
  for (auto& t : background) t.join();
}

void DmsService::Impl::StopAllRuns() {
  std::unique_lock lock(mu_);
  for (auto& [arn, run] : runs_) {
    std::lock_guard publish(run->publish_mu);
    run->stop_requested = true;
    if (run->task) run->task->RequestStop();
    run->wake->Notify();
  }
  cv_.notify_all();  // runs waiting for a slot give up
  cv_.wait(lock, [&] {
    return std::all_of(runs_.begin(), runs_.end(), [](const auto& r) { return r.second->finished.load(); });
  });
  // Finished runs are past their last use of mu_, so joining under it cannot deadlock; all joins
  // happen under mu_, so no thread is joined twice.
  for (auto& [arn, run] : runs_) {
    if (run->thread.joinable()) run->thread.join();
  }
  runs_.clear();
}

Status DmsService::Impl::Start() {
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  RETURN_IF_ERROR(Settle(*conn));
  ASSIGN_OR_RETURN(auto tasks, LoadTasks(*conn, "run_desired"));
  for (const TaskRecord& task : tasks) {
    if (task.status == "stopping") {
      // The user asked for the stop; the server went down before it was recorded.
      Record(task.arn, "stopped", {{"StopReason", "Stop Reason NORMAL"}},
             {LogLine("TASK_MANAGER", 'I', "Task '" + task.identifier + "' stopped")});
      RETURN_IF_ERROR(
          conn->Query("UPDATE dms.tasks SET run_desired = false WHERE arn = $1", {task.arn})
              .status());
      continue;
    }
    spdlog::info("[dms] resuming replication task {} (it was {} when the server stopped)",
                 task.identifier, task.status);
    auto fallback = engine::ParseStartType(task.last_start_type);
    RETURN_IF_ERROR(conn->Query("UPDATE dms.tasks SET status = 'starting', run = run - "
                                "'StopReason' - 'LastFailureMessage' WHERE arn = $1",
                                {task.arn})
                        .status());
    RETURN_IF_ERROR(AppendLog(
        *conn, task.arn,
        {LogLine("TASK_MANAGER", 'I',
                 "Task '" + task.identifier + "' resumed (resume-processing) at server start; it "
                 "was " + task.status + " when the server stopped")}));
    TaskRecord starting = task;
    starting.status = "starting";
    RETURN_IF_ERROR(Launch(starting, engine::StartType::kResumeProcessing,
                           fallback.ok() ? std::optional(*fallback) : std::nullopt,
                           options_.context));
  }
  return Status::Ok();
}

void DmsService::Impl::Shutdown() {
  shutting_down_ = true;
  StopAllRuns();
  std::vector<std::thread> background;
  {
    std::lock_guard lock(mu_);
    background.swap(background_);
  }
  for (auto& t : background) t.join();
}

void DmsService::Impl::NotifyObjectWritten(std::string_view bucket) {
  std::lock_guard lock(mu_);
  for (auto& [arn, run] : runs_) {
    if (run->bucket == bucket) run->wake->Notify();
  }
}

Result<std::vector<std::string>> DmsService::Impl::TaskLogLines(std::string_view task) {
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(auto tasks, LoadTasks(*conn, "arn = $1 OR identifier = $1", {std::string(task)}));
  if (tasks.empty()) return NotFoundFault("Replication task " + std::string(task) + " not found");
  ASSIGN_OR_RETURN(auto r, conn->Query("SELECT line FROM dms.task_logs WHERE task_arn = $1 "
                                       "ORDER BY seq",
                                       {tasks[0].arn}));
  std::vector<std::string> lines;
  for (int i = 0; i < r.rows(); ++i) lines.emplace_back(r.Get(i, 0));
  return lines;
}

void DmsService::Impl::Background(std::function<void()> work) {
  std::lock_guard lock(mu_);
  background_.emplace_back(std::move(work));
}

Status DmsService::Impl::Launch(const TaskRecord& task, engine::StartType start_type,
                                std::optional<engine::StartType> fallback,
                                const CallContext& ctx) {
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(EndpointRecord source, LoadEndpoint(*conn, task.source_arn));
  auto parsed = engine::ParseSourceEndpoint(
      WithSealedPlaceholders(source.input, source.sealed_passwords));
  if (!parsed.ok()) return InvalidParameter(parsed.status().message());
  auto run = std::make_shared<Run>();
  run->task_arn = task.arn;
  run->task_id = task.identifier;
  run->instance_arn = task.instance_arn;
  // Only the server's own buckets announce new objects (NotifyObjectWritten); a remote bucket
  // of the same name is another bucket, and its changes are found by polling.
  if (!parsed->connection.remote()) run->bucket = parsed->s3.bucket_name;
  run->start_type = start_type;
  run->fallback_start_type = fallback;
  run->context = ctx;
  run->log_filter = LogFilter(task.settings_document);
  std::lock_guard lock(mu_);
  if (shutting_down_) {
    return InvalidStateFault("the server is shutting down; task " + task.identifier +
                             " will start with it next time");
  }
  auto it = runs_.find(task.arn);
  if (it != runs_.end()) {
    if (!it->second->finished) {
      return InvalidStateFault("Replication task " + task.identifier + " is already running");
    }
    if (it->second->thread.joinable()) it->second->thread.join();
    runs_.erase(it);
  }
  Run* raw = run.get();
  runs_[task.arn] = run;
  raw->thread = std::thread([this, raw] { RunMain(*raw); });
  return Status::Ok();
}

Result<Json> DmsService::Impl::TargetDocument(const EndpointRecord& target,
                                              const CallContext& ctx) {
  ASSIGN_OR_RETURN(Json doc, OpenPasswords(options_.master_key, target));
  const char* settings_key = doc.contains("PostgreSQLSettings")   ? "PostgreSQLSettings"
                             : doc.contains("PostgreSqlSettings") ? "PostgreSqlSettings"
                                                                  : nullptr;
  if (settings_key == nullptr || !doc[settings_key].contains("SecretsManagerSecretId")) {
    return doc;
  }
  Json& settings = doc[settings_key];
  const std::string secret_id = settings["SecretsManagerSecretId"].get<std::string>();
  if (!resolver_) {
    return Status::InvalidState("endpoint " + target.identifier +
                                ": SecretsManagerSecretId is set but this server resolves no "
                                "secrets");
  }
  auto text = resolver_(secret_id, ctx);
  if (!text.ok()) {
    return text.status().WithContext("endpoint " + target.identifier +
                                     ": reading secret " + secret_id);
  }
  auto secret = ParseJson(*text, "secret " + secret_id);
  if (!secret.ok() || !secret->is_object()) {
    return Status::InvalidArgument("endpoint " + target.identifier + ": secret " + secret_id +
                                   " is not a JSON object with username, password, host, port");
  }
  settings.erase("SecretsManagerSecretId");
  settings.erase("SecretsManagerAccessRoleArn");
  for (const char* k : {"username", "password", "host"}) {
    if (!secret->contains(k) || !(*secret)[k].is_string()) {
      return Status::InvalidArgument("endpoint " + target.identifier + ": secret " + secret_id +
                                     " has no string \"" + k + "\"");
    }
  }
  settings["Username"] = (*secret)["username"];
  settings["Password"] = (*secret)["password"];
  settings["ServerName"] = (*secret)["host"];
  if (secret->contains("port")) {
    auto port = JsonToInt((*secret)["port"], "secret port");
    if (!port.ok()) return port.status().WithContext("secret " + secret_id);
    settings["Port"] = *port;
  }
  if (!settings.contains("DatabaseName") && !doc.contains("DatabaseName") &&
      secret->contains("dbname")) {
    settings["DatabaseName"] = (*secret)["dbname"];
  }
  return doc;
}

Result<engine::TaskDefinition> DmsService::Impl::BuildDefinition(pg::Connection& conn,
                                                                  const TaskRecord& task,
                                                                  const CallContext& ctx,
                                                                  bool* uses_secret) {
  ASSIGN_OR_RETURN(EndpointRecord source, LoadEndpoint(conn, task.source_arn));
  ASSIGN_OR_RETURN(EndpointRecord target, LoadEndpoint(conn, task.target_arn));
  auto target_parsed = engine::ParseTargetEndpoint(target.input);
  *uses_secret = target_parsed.ok() && !target_parsed->secrets_manager_secret_id.empty();
  ASSIGN_OR_RETURN(Json target_doc, TargetDocument(target, ctx));
  Json spec = task.spec;
  spec["SourceEndpointArn"] = task.source_arn;
  spec["TargetEndpointArn"] = task.target_arn;
  spec["ReplicationInstanceArn"] = task.instance_arn;
  // A remote S3 source's secret key is sealed like a database password.
  ASSIGN_OR_RETURN(Json source_doc, OpenPasswords(options_.master_key, source));
  return engine::LoadTaskDefinition(source_doc, target_doc, spec);
}

void DmsService::Impl::Record(const std::string& task_arn, const std::string& status,
                              Json run_fields, const std::vector<std::string>& log_lines) {
  if (abandoning_) return;
  auto conn = catalog_.Acquire();
  if (!conn.ok()) {
    spdlog::error("[dms] task {}: recording status {}: {}", task_arn, status,
                  conn.status().ToString());
    return;
  }
  // One transaction: a reader that sees the status sees the lines that go with it.
  Status st = (*conn)->Execute("BEGIN");
  if (st.ok()) {
    st = (*conn)
             ->Query("UPDATE dms.tasks SET status = $2, run = run || $3::jsonb WHERE arn = $1",
                     {task_arn, status, run_fields.dump()})
             .status();
  }
  if (st.ok()) st = AppendLog(**conn, task_arn, log_lines);
  if (st.ok()) st = (*conn)->Execute("COMMIT");
  if (!st.ok()) {
    (void)(*conn)->Execute("ROLLBACK");
    spdlog::error("[dms] task {}: recording status {}: {}", task_arn, status, st.ToString());
  }
}

void DmsService::Impl::RunMain(Run& run) {
  auto finish = [&] {
    std::lock_guard lock(mu_);
    run.finished = true;
    cv_.notify_all();
  };
  auto fail_before_start = [&](const std::string& message) {
    spdlog::error("[dms] task {}: {}", run.task_id, message);
    Json fields = {{"StopReason", "Stop Reason FATAL_ERROR"},
                   {"LastFailureMessage", FailureMessage(message)}};
    // The engine's last lines, if it ran, come before the reason it ended.
    std::vector<std::string> lines = TakeEngineLog(run);
    lines.push_back(LogLine("TASK_MANAGER", 'E', message));
    Record(run.task_arn, "failed", fields, lines);
    if (!abandoning_) {
      if (auto conn = catalog_.Acquire(); conn.ok()) {
        (void)(*conn)->Query("UPDATE dms.tasks SET run_desired = false WHERE arn = $1",
                             {run.task_arn});
      }
    }
    finish();
  };

  // 1. The task's documents, with the target's credentials resolved now.
  Result<engine::TaskDefinition> def = Status::Internal("not built");
  const InstanceClass* klass = nullptr;
  {
    auto conn = catalog_.Acquire();
    if (!conn.ok()) return fail_before_start(conn.status().message());
    auto task = LoadTask(**conn, run.task_arn);
    if (!task.ok()) return fail_before_start(task.status().message());
    auto instance = LoadInstance(**conn, task->instance_arn);
    if (!instance.ok()) return fail_before_start(instance.status().message());
    klass = FindInstanceClass(instance->doc.value("ReplicationInstanceClass", ""));
    bool uses_secret = false;
    def = BuildDefinition(**conn, *task, run.context, &uses_secret);
    if (def.ok() && uses_secret) {
      // Credentials from a secret: a refused login means the secret may have been rotated
      // since it was read; read it once more.
      pg::ConnectionParams p;
      p.host = def->target.server_name;
      p.port = def->target.port;
      p.dbname = def->target.database_name;
      p.user = def->target.username;
      p.password = def->target.password;
      auto probe = pg::Connection::Open(p);
      if (!probe.ok() && pg::SqlState(probe.status()) == "28P01") {
        spdlog::info("[dms] task {}: the target refused the login; reading its secret again",
                     run.task_id);
        def = BuildDefinition(**conn, *task, run.context, &uses_secret);
      }
    }
  }
  if (!def.ok()) return fail_before_start(def.status().message());
  {
    auto source = OpenSourceStore(def->source, run.context,
                                  objectstore::S3ClientOptions{}.max_retries);
    if (!source.ok()) return fail_before_start(source.status().message());
    if (source->remote()) {
      spdlog::info("[dms] task {}: reads {}", run.task_id,
                   source->Where(def->source.s3.bucket_name));
    }
    run.source = std::move(source).value();
  }
  if (klass != nullptr) {
    int& subtasks = def->task.settings.max_full_load_subtasks;
    subtasks = std::min(subtasks, klass->max_full_load_subtasks);
  }

  // 2. A slot on the instance.
  {
    std::unique_lock lock(mu_);
    if (klass != nullptr) slot_limits_[run.instance_arn] = klass->concurrent_tasks;
    cv_.wait(lock, [&] {
      return busy_slots_[run.instance_arn] < SlotsOf(run.instance_arn) || run.stop_requested;
    });
    if (run.stop_requested) {
      lock.unlock();
      if (!abandoning_) {
        Record(run.task_arn, "stopped", {{"StopReason", "Stop Reason NORMAL"}},
               {LogLine("TASK_MANAGER", 'I', "Task '" + run.task_id + "' stopped before it ran")});
      }
      return finish();
    }
    ++busy_slots_[run.instance_arn];
  }

  // 3. The engine.
  engine::RunOptions options;
  options.start_type = run.start_type;
  options.cdc_poll_interval_ms = options_.cdc_poll_interval_millis;
  options.cdc_audit_interval_ms = options_.cdc_audit_interval_millis;
  options.wake = run.wake;
  options.log_sink = EngineLogSink(run);
  if (klass != nullptr) options.read_buffer_bytes = static_cast<size_t>(klass->read_buffer_bytes);
  Result<engine::TaskSnapshot> result = Status::Internal("not run");
  for (int attempt = 0; attempt < 2; ++attempt) {
    {
      std::lock_guard publish(run.publish_mu);
      run.task = std::make_unique<engine::ReplicationTask>(*def, *run.source.store, options);
      if (run.stop_requested) run.task->RequestStop();
    }
    result = run.task->Run();
    // A resume at server start of a task that never committed anything: start it as it was.
    if (!result.ok() && result.status().IsInvalidState() && attempt == 0 &&
        options.start_type == engine::StartType::kResumeProcessing && run.fallback_start_type &&
        *run.fallback_start_type != engine::StartType::kResumeProcessing) {
      spdlog::info("[dms] task {}: nothing to resume; starting it with {}", run.task_id,
                   engine::StartTypeName(*run.fallback_start_type));
      options.start_type = *run.fallback_start_type;
      continue;
    }
    break;
  }
  {
    std::lock_guard lock(mu_);
    --busy_slots_[run.instance_arn];
    cv_.notify_all();
  }
  if (!result.ok()) {
    {
      std::lock_guard publish(run.publish_mu);
      run.final_published = true;
    }
    return fail_before_start(result.status().message());
  }
  Publish(run, /*final=*/true);
  finish();
}

void DmsService::Impl::Publish(Run& run, bool final) {
  std::lock_guard publish(run.publish_mu);
  if (run.final_published || !run.task) return;
  engine::TaskSnapshot snap = run.task->Snapshot();
  const bool shutting_down = shutting_down_;
  if (abandoning_) return;  // as if the process had died: the catalog keeps the last publish
  std::string status = snap.status;
  if (!final && Terminal(status)) status = "running";  // Run() has not returned yet
  if (run.stop_requested && (status == "running" || status == "starting") && !final) {
    status = "stopping";
  }
  Json fields = Json::object();
  if (!snap.stop_reason.empty() && final) fields["StopReason"] = snap.stop_reason;
  if (!snap.last_failure_message.empty() && final) {
    fields["LastFailureMessage"] = snap.last_failure_message;
  }
  if (!snap.recovery_checkpoint.empty()) fields["RecoveryCheckpoint"] = snap.recovery_checkpoint;
  fields["ReplicationTaskStats"] = TaskStatsShape(snap);

  // Log lines for what changed since the last publish: the task running, then the engine's own
  // lines, the table state changes, and last how the task ended.
  std::vector<std::string> lines;
  std::string end_line;
  if (status != run.logged_status) {
    if (status == "running") {
      lines.push_back(LogLine("TASK_MANAGER", 'I', "Task '" + run.task_id + "' running (" +
                                                       std::string(engine::StartTypeName(
                                                           run.start_type)) +
                                                       ")"));
    } else if (status == "stopped") {
      end_line =
          LogLine("TASK_MANAGER", 'I', "Task '" + run.task_id + "' stopped: " + snap.stop_reason);
    } else if (status == "failed") {
      end_line = LogLine("TASK_MANAGER", 'E',
                         "Task '" + run.task_id + "' failed: " + snap.last_failure_message);
    }
    run.logged_status = status;
  }
  for (std::string& line : TakeEngineLog(run)) lines.push_back(std::move(line));
  for (const engine::TableStatistics& t : snap.tables) {
    const std::string name = t.schema_name + "." + t.table_name;
    std::string& logged = run.logged_table_states[name];
    if (logged == t.table_state) continue;
    logged = t.table_state;
    if (t.table_state == engine::kTableFullLoad) {
      lines.push_back(LogLine("SOURCE_UNLOAD", 'I', "Unload of table '" + name + "' started"));
    } else if (t.table_state == engine::kTableCompleted) {
      lines.push_back(LogLine("TARGET_LOAD", 'I',
                              "Load finished for table '" + name + "' (" +
                                  std::to_string(t.full_load_rows) + " rows)"));
    } else if (t.table_state == engine::kTableError) {
      lines.push_back(LogLine("TARGET_LOAD", 'E',
                              "Table '" + name + "' in error: " + t.error_message));
    }
  }
  if (!end_line.empty()) lines.push_back(std::move(end_line));

  auto conn = catalog_.Acquire();
  if (!conn.ok()) {
    spdlog::warn("[dms] task {}: publishing its state: {}", run.task_id, conn.status().ToString());
    return;
  }
  // A stop while the run was being published must not be overwritten: the status moves only
  // from starting/running/stopping. One transaction: a reader that sees the status (e.g.
  // "stopped") sees the log lines that led to it.
  Status st = (*conn)->Execute("BEGIN");
  if (st.ok()) {
    st = (*conn)
             ->Query(
                 "UPDATE dms.tasks SET status = $2, run = (run - 'StopReason' - "
                 "'LastFailureMessage') || $3::jsonb, table_stats = $4 WHERE arn = $1 "
                 "AND status IN ('starting', 'running', 'stopping')",
                 {run.task_arn, status, fields.dump(), TableStatisticsShape(snap).dump()})
             .status();
  }
  if (st.ok() && final && !shutting_down && !run.stopped_for_reboot) {
    st = (*conn)
             ->Query("UPDATE dms.tasks SET run_desired = false WHERE arn = $1", {run.task_arn})
             .status();
  }
  if (st.ok()) st = AppendLog(**conn, run.task_arn, lines);
  if (st.ok()) st = (*conn)->Execute("COMMIT");
  if (!st.ok()) {
    (void)(*conn)->Execute("ROLLBACK");
    spdlog::warn("[dms] task {}: publishing its state: {}", run.task_id, st.ToString());
    return;
  }
  if (final) run.final_published = true;
}

int DmsService::Impl::SlotsOf(const std::string& instance_arn) {
  auto it = slot_limits_.find(instance_arn);
  return it == slot_limits_.end() ? 1 : it->second;
}

void DmsService::Impl::RebootRuns(const std::string& instance_arn, double available_at,
                                  std::string event) {
  // 1. Every run on the instance stops at its next commit boundary (a run still waiting for a
  // slot gives up); the task stays run_desired.
  std::vector<std::shared_ptr<Run>> stopping;
  {
    std::lock_guard lock(mu_);
    for (auto& [arn, run] : runs_) {
      if (run->instance_arn != instance_arn || run->finished) continue;
      std::lock_guard publish(run->publish_mu);
      run->stopped_for_reboot = true;
      run->stop_requested = true;
      if (run->task) run->task->RequestStop();
      run->wake->Notify();
      stopping.push_back(run);
    }
    cv_.notify_all();
  }
  // 2. In the background: wait for them, record why they stopped, wait for the instance, and
  // resume them.
  Background([this, instance_arn, available_at, stopping, event] {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] {
      return std::all_of(stopping.begin(), stopping.end(),
                         [](const auto& run) { return run->finished.load(); });
    });
    lock.unlock();
    for (const auto& run : stopping) {
      Record(run->task_arn, "stopped", {{"StopReason", "Stop Reason RECOVERABLE_ERROR"}},
             {LogLine("TASK_MANAGER", 'W',
                      "Task '" + run->task_id + "' stopped for " + event +
                          "; it resumes when the instance is available")});
    }
    lock.lock();
    const double wait_seconds = available_at - ToEpochSeconds(Clock::Now()) + 0.01;
    if (wait_seconds > 0) {
      cv_.wait_for(lock, std::chrono::duration<double>(wait_seconds),
                   [&] { return shutting_down_.load(); });
    }
    if (shutting_down_) return;  // run_desired is kept: the next Start() resumes them
    lock.unlock();
    auto conn = catalog_.Acquire();
    Status st = conn.ok() ? Settle(**conn) : conn.status();
    if (!st.ok()) {
      spdlog::error("[dms] {} ({}): {}", event, instance_arn, st.ToString());
      return;
    }
    for (const auto& run : stopping) {
      auto task = LoadTask(**conn, run->task_arn);
      if (!task.ok() || !task->run_desired || task->status != "stopped" ||
          task->instance_arn != instance_arn) {
        continue;  // deleted, or stopped by the user meanwhile
      }
      auto fallback = engine::ParseStartType(task->last_start_type);
      Status launched =
          (*conn)
              ->Query(
                  "UPDATE dms.tasks SET status = 'starting', run = run - 'StopReason' - "
                  "'LastFailureMessage' WHERE arn = $1 AND status = 'stopped'",
                  {task->arn})
              .status();
      if (launched.ok()) {
        launched = AppendLog(**conn, task->arn,
                             {LogLine("TASK_MANAGER", 'I',
                                      "Task '" + task->identifier +
                                          "' resumed (resume-processing) after " + event)});
      }
      if (launched.ok()) {
        task->status = "starting";
        launched = Launch(*task, engine::StartType::kResumeProcessing,
                          fallback.ok() ? std::optional(*fallback) : std::nullopt, run->context);
      }
      if (!launched.ok()) {
        spdlog::error("[dms] task {}: resuming after {}: {}", task->identifier, event,
                      launched.ToString());
      }
    }
  });
}

engine::LogSink DmsService::Impl::EngineLogSink(Run& run) {
  const size_t limit = static_cast<size_t>(std::max(1, options_.max_pending_log_lines));
  // The Run outlives its engine task (it owns it), so the reference stays valid for every call.
  return [&run, limit](engine::LogComponent component, engine::LogSeverity severity,
                       std::string_view message) {
    if (!run.log_filter.Keeps(engine::LogComponentName(component),
                              engine::LogSeverityLetter(severity))) {
      return;
    }
    std::string line =
        LogLine(engine::LogComponentName(component), engine::LogSeverityLetter(severity), message);
    std::lock_guard lock(run.log_mu);
    if (run.pending_log.size() >= limit) {
      ++run.dropped_log_lines;
      return;
    }
    run.pending_log.push_back(std::move(line));
  };
}

std::vector<std::string> DmsService::Impl::TakeEngineLog(Run& run) {
  std::vector<std::string> lines;
  int64_t dropped = 0;
  {
    std::lock_guard lock(run.log_mu);
    lines.swap(run.pending_log);
    std::swap(dropped, run.dropped_log_lines);
  }
  if (dropped > 0) {
    const std::string message = std::to_string(dropped) +
                                " log lines of the task were dropped: it logged more than " +
                                std::to_string(options_.max_pending_log_lines) +
                                " lines between two publishes of its state";
    spdlog::warn("[dms] task {}: {}", run.task_id, message);
    lines.push_back(LogLine("TASK_MANAGER", 'W', message));
  }
  return lines;
}

void DmsService::Impl::MonitorMain() {
  std::unique_lock lock(mu_);
  while (!stop_monitor_) {
    cv_.wait_for(lock, std::chrono::milliseconds(options_.publish_interval_millis));
    if (stop_monitor_) break;
    std::vector<std::shared_ptr<Run>> runs;
    for (auto it = runs_.begin(); it != runs_.end();) {
      if (it->second->finished) {
        // Its thread is past its last use of mu_ (finish() sets `finished` last).
        if (it->second->thread.joinable()) it->second->thread.join();
        it = runs_.erase(it);
      } else {
        runs.push_back(it->second);
        ++it;
      }
    }
    lock.unlock();
    for (const auto& run : runs) Publish(*run, /*final=*/false);
    lock.lock();
  }
}

}  // namespace opendms::dms

// dms (inside): DmsService::Impl — the operations (service.cc), the catalog records
// (records.cc) and the runner (runner.cc).
//
// State: the catalog is the truth for every resource and for each task's last published run
// state; memory holds only the runs in flight (runs_), their instances' slots, and helper
// threads. Transient statuses (creating, modifying, rebooting, deleting, moving) are stored with
// the time they settle (settle_at) and what they settle to; Settle() applies the ones due at the
// start of every call, so the transitions survive restarts and need no timer thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dms/dms.h"
#include "pg/pg.h"

namespace opendms::dms {

// AWS faults, as botocore knows them.
Status NotFoundFault(std::string msg);         // ResourceNotFoundFault
Status AlreadyExistsFault(std::string msg);    // ResourceAlreadyExistsFault
Status InvalidStateFault(std::string msg);     // InvalidResourceStateFault
Status InvalidParameter(std::string msg);      // InvalidParameterValueException
Status InvalidCombination(std::string msg);    // InvalidParameterCombinationException
Status QuotaExceededFault(std::string msg);    // ResourceQuotaExceededFault
Status StorageQuotaFault(std::string msg);     // StorageQuotaExceededFault

// "2026-11-30T08:13:05 [TASK_MANAGER   ]I:  message" — DMS's task log line shape.
std::string LogLine(std::string_view component, char severity, std::string_view message);

// Which lines a task keeps, from its settings' Logging.LogComponents: a component at
// LOGGER_SEVERITY_ERROR keeps E lines, WARNING E and W, INFO or DEFAULT E, W and I, DEBUG and
// DETAILED_DEBUG every line. A component the settings do not name keeps E, W and I.
class LogFilter {
 public:
  LogFilter() = default;
  explicit LogFilter(const Json& settings_document);
  bool Keeps(std::string_view component, char severity) const;
  bool KeepsLine(std::string_view line) const;  // a LogLine's line
 private:
  std::map<std::string, int, std::less<>> level_;  // component -> 0 (E) … 3 (D)
};

// A task row of dms.tasks.
struct TaskRecord {
  std::string arn, identifier, instance_arn, source_arn, target_arn, status;
  Json spec;  // CreateReplicationTask-shaped: identifier, MigrationType, TableMappings, …
  Json settings_document;
  double created = 0;
  Json run = Json::object();          // StopReason, LastFailureMessage, RecoveryCheckpoint, …
  Json table_stats = Json::array();   // DescribeTableStatistics' TableStatistics
  bool run_desired = false, ever_started = false;
  std::string last_start_type, target_instance_arn;
};

struct InstanceRecord {
  std::string arn, identifier, status;
  Json doc;  // the ReplicationInstance shape without ReplicationInstanceStatus
};

struct EndpointRecord {
  std::string arn, identifier;
  Json doc;    // the Endpoint shape (no password)
  // CreateEndpoint-shaped input with modifications merged, without its passwords (a row from
  // before migration 2 that no master key has sealed yet may still hold one).
  Json input;
  // The passwords taken out of `input`, sealed (records.cc, migration 2); OpenPasswords puts
  // them back.
  Json sealed_passwords = Json::object();
};

// The bucket store a source endpoint reads (source_store.cc).
struct SourceStore {
  objectstore::ObjectStore* store = nullptr;        // the server's own store, or *owned
  std::unique_ptr<objectstore::ObjectStore> owned;  // the S3Client of a remote bucket
  std::string endpoint_url;                         // a remote bucket's S3; "" = local
  bool remote() const { return !endpoint_url.empty(); }
  // "S3 bucket landing" or "S3 bucket landing at http://host:9000", for messages.
  std::string Where(std::string_view bucket) const;
};

// Ok when `bucket` can be listed; otherwise NotFound ("… does not exist") or the store's error,
// naming the bucket and the remote endpoint.
Status CheckSourceBucket(const SourceStore& source, std::string_view bucket);

// Moves the passwords out of `input` (top-level Password, <X>Settings.Password) and returns
// `sealed` with them sealed under `key`, bound to the endpoint ARN and field.
Json SealPasswords(const secrets::MasterKey& key, std::string_view arn, Json& input,
                   const Json& sealed);
// The endpoint's input with its passwords opened. DecryptionFailure naming the endpoint when
// they were sealed under another master key (the message holds no password).
Result<Json> OpenPasswords(const secrets::MasterKey* key, const EndpointRecord& endpoint);
// `input` with a placeholder where `sealed` holds a password: for validating an input without
// opening its passwords.
Json WithSealedPlaceholders(Json input, const Json& sealed);

class DmsService::Impl {
 public:
  Impl(catalog::Catalog& catalog, objectstore::ObjectStore& store, SecretResolver resolver,
       Options options);
  ~Impl();

  Status Migrate();
  Result<Json> Call(std::string_view operation, const Json& input, const CallContext& context);
  Status Start();
  void Shutdown();
  void NotifyObjectWritten(std::string_view bucket);
  Result<std::vector<std::string>> TaskLogLines(std::string_view task);

 private:
  // One StartReplicationTask (or resume at Start()) in flight.
  struct Run {
    // `bucket`: the local bucket whose new objects wake the run ("" when it reads a remote S3,
    // which is polled).
    std::string task_arn, task_id, instance_arn, bucket;
    engine::StartType start_type = engine::StartType::kStartReplication;
    std::optional<engine::StartType> fallback_start_type;  // when a resume finds nothing to resume
    CallContext context;
    // What the task reads; declared before `task`, which refers to it, so it outlives the task.
    SourceStore source;
    std::shared_ptr<engine::WakeSignal> wake = std::make_shared<engine::WakeSignal>();
    std::atomic<bool> stop_requested{false};
    std::atomic<bool> finished{false};
    // Stopped by RebootReplicationInstance: the task stays run_desired and resumes once the
    // instance is available again.
    std::atomic<bool> stopped_for_reboot{false};
    std::thread thread;
    // Serialises publishing (monitor vs. the run's final publish vs. StopReplicationTask).
    std::mutex publish_mu;
    bool final_published = false;                  // guarded by publish_mu
    std::unique_ptr<engine::ReplicationTask> task;  // set once running; guarded by publish_mu
    // What was last logged per table ("Table completed" …), to log each change once.
    std::map<std::string, std::string> logged_table_states;  // guarded by publish_mu
    std::string logged_status;                                // guarded by publish_mu
    // The engine's log lines (RunOptions::log_sink), in DMS's shape, for the next publish.
    // Its own mutex: the engine's threads append while a publish may be writing the catalog.
    std::mutex log_mu;
    std::vector<std::string> pending_log;  // guarded by log_mu; at most max_pending_log_lines
    LogFilter log_filter;                  // the task's LogComponents, set before it runs
    int64_t dropped_log_lines = 0;         // guarded by log_mu; since the last publish
  };

  // --- operations (service.cc)
  Result<Json> CreateReplicationInstance(const Json& in, const CallContext& ctx);
  Result<Json> DescribeReplicationInstances(const Json& in);
  Result<Json> ModifyReplicationInstance(const Json& in);
  Result<Json> DeleteReplicationInstance(const Json& in);
  Result<Json> RebootReplicationInstance(const Json& in);
  Result<Json> DescribeOrderableReplicationInstances(const Json& in);
  Result<Json> CreateEndpoint(const Json& in, const CallContext& ctx);
  Result<Json> DescribeEndpoints(const Json& in);
  Result<Json> DescribeEndpointTypes(const Json& in);
  Result<Json> DescribeAccountAttributes(const CallContext& ctx);
  // Refuses one more resource of `quota` (an AccountQuotaName) when `used + adding` would pass
  // its maximum; `what` names the resource in the message.
  Status CheckQuota(pg::Connection& conn, std::string_view quota, int64_t adding,
                    std::string_view what);
  // Refuses a task on `instance_arn` with these endpoints when the instance's tasks (other than
  // `moving_task`) would then use more distinct endpoints than the quota allows.
  Status CheckEndpointsPerInstance(pg::Connection& conn, const std::string& instance_arn,
                                   const std::string& source_arn, const std::string& target_arn,
                                   const std::string& moving_task);
  Result<Json> ModifyEndpoint(const Json& in);
  Result<Json> DeleteEndpoint(const Json& in);
  Result<Json> CreateReplicationTask(const Json& in, const CallContext& ctx);
  Result<Json> DescribeReplicationTasks(const Json& in);
  Result<Json> ModifyReplicationTask(const Json& in);
  Result<Json> DeleteReplicationTask(const Json& in);
  Result<Json> StartReplicationTask(const Json& in, const CallContext& ctx);
  Result<Json> StopReplicationTask(const Json& in);
  Result<Json> MoveReplicationTask(const Json& in);
  Result<Json> ReloadTables(const Json& in, const CallContext& ctx);
  Result<Json> DescribeTableStatistics(const Json& in);
  Result<Json> DescribeReplicationInstanceTaskLogs(const Json& in);
  Result<Json> TestConnection(const Json& in, const CallContext& ctx);
  Result<Json> DescribeConnections(const Json& in);
  Result<Json> DeleteConnection(const Json& in);
  Result<Json> RefreshSchemas(const Json& in, const CallContext& ctx);
  Result<Json> DescribeRefreshSchemasStatus(const Json& in);
  Result<Json> DescribeSchemas(const Json& in);
  Result<Json> CreateReplicationSubnetGroup(const Json& in, const CallContext& ctx);
  Result<Json> DescribeReplicationSubnetGroups(const Json& in);
  Result<Json> ModifyReplicationSubnetGroup(const Json& in, const CallContext& ctx);
  Result<Json> DeleteReplicationSubnetGroup(const Json& in);
  Result<Json> AddTagsToResource(const Json& in);
  Result<Json> RemoveTagsFromResource(const Json& in);
  Result<Json> ListTagsForResource(const Json& in);

  // --- tags (service.cc): NotFoundFault unless `arn` is an instance, endpoint, task or subnet
  // group.
  Status CheckTaggable(pg::Connection& conn, const std::string& arn);
  // Stores the `Tags` of a Create*/AddTagsToResource input (a tag with a key already there
  // replaces it).
  Status SaveTags(pg::Connection& conn, const std::string& arn, const Json& in);
  // Moves `input`'s passwords into `sealed` (SealPasswords); refuses a password without a key.
  Result<Json> SealInput(const std::string& arn, Json& input, const Json& sealed);

  // --- reboot (runner.cc): stops the instance's runs at a checkpoint, waits until the reboot
  // (or class change) settles, then resumes (resume-processing) the tasks that were running.
  // `event` names what happened in their log lines: "the reboot of its replication instance".
  void RebootRuns(const std::string& instance_arn, double available_at, std::string event);
  // Tasks running at once on `instance_arn` (its class's concurrent_tasks); a class applied
  // immediately changes it for runs still waiting. Guarded by mu_.
  int SlotsOf(const std::string& instance_arn);

  // --- records (records.cc)
  Status Settle(pg::Connection& conn);
  Result<std::vector<InstanceRecord>> LoadInstances(pg::Connection& conn);
  Result<InstanceRecord> LoadInstance(pg::Connection& conn, std::string_view arn);
  Result<std::vector<EndpointRecord>> LoadEndpoints(pg::Connection& conn);
  Result<EndpointRecord> LoadEndpoint(pg::Connection& conn, std::string_view arn);
  Result<std::vector<TaskRecord>> LoadTasks(pg::Connection& conn, std::string_view where = "",
                                            const std::vector<std::optional<std::string>>& params = {});
  Result<TaskRecord> LoadTask(pg::Connection& conn, std::string_view arn);
  Status SaveTaskRun(pg::Connection& conn, const std::string& arn, const std::string& status,
                     const Json& run, const Json& table_stats);
  Status AppendLog(pg::Connection& conn, const std::string& task_arn,
                   const std::vector<std::string>& lines);
  Json InstanceShape(const InstanceRecord& r) const;
  Json TaskShape(const TaskRecord& r, bool with_settings = true) const;
  double SettleAt() const;  // now + transition

  // --- runner (runner.cc)
  // Builds the engine's three documents for `task` (resolving a secret) and starts a Run.
  Status Launch(const TaskRecord& task, engine::StartType start_type,
                std::optional<engine::StartType> fallback, const CallContext& ctx);
  void RunMain(Run& run);
  // `uses_secret`: set when the target's credentials came from a secret.
  Result<engine::TaskDefinition> BuildDefinition(pg::Connection& conn, const TaskRecord& task,
                                                 const CallContext& ctx, bool* uses_secret);
  Result<Json> TargetDocument(const EndpointRecord& target, const CallContext& ctx);
  // The store `source` reads (source_store.cc): store_, or an S3Client on its remote S3 whose
  // transient failures are retried `max_retries` times. Errors name the endpoint (and the
  // secret its credentials come from), never a secret value.
  Result<SourceStore> OpenSourceStore(const engine::SourceEndpoint& source,
                                      const CallContext& ctx, int max_retries);
  // Writes the run's snapshot to the catalog (and new log lines). `final`: the run ended.
  void Publish(Run& run, bool final);
  // The sink the run's engine logs to: it queues lines in run.pending_log.
  engine::LogSink EngineLogSink(Run& run);
  // Takes the queued engine lines, and a line counting those dropped.
  std::vector<std::string> TakeEngineLog(Run& run);
  void MonitorMain();
  void Record(const std::string& task_arn, const std::string& status, Json run_fields,
              const std::vector<std::string>& log_lines);
  // Connection tests and schema refreshes run here (joined at shutdown).
  void Background(std::function<void()> work);
  // Asks every run to stop and waits until all have finished (their threads joined).
  void StopAllRuns();

  catalog::Catalog& catalog_;
  objectstore::ObjectStore& store_;
  SecretResolver resolver_;
  const Options options_;

  // Held from a quota check through the write it allows, so that two calls cannot both take
  // the last unit of a quota.
  std::mutex quota_mu_;
  std::mutex mu_;
  std::condition_variable cv_;  // slots freed, runs finished, monitor wake-up
  // By task ARN; guarded by mu_. Shared: the monitor publishes a run outside mu_ while Launch
  // may replace a finished one.
  std::map<std::string, std::shared_ptr<Run>> runs_;
  std::map<std::string, int> busy_slots_;             // by instance ARN; guarded by mu_
  std::map<std::string, int> slot_limits_;            // by instance ARN; guarded by mu_
  std::vector<std::thread> background_;               // guarded by mu_
  // Lock order: mu_ before a Run's publish_mu; these two are atomics so Publish (under
  // publish_mu) can read them without mu_.
  std::atomic<bool> shutting_down_{false};  // no new runs
  std::atomic<bool> abandoning_{false};     // destructor: record nothing more in the catalog
  bool stop_monitor_ = false;  // guarded by mu_
  std::thread monitor_;
};

// DescribeTableStatistics' TableStatistics and the task's ReplicationTaskStats from an engine
// snapshot, with epoch-second timestamps.
Json TableStatisticsShape(const engine::TaskSnapshot& snapshot);
Json TaskStatsShape(const engine::TaskSnapshot& snapshot);

}  // namespace opendms::dms

// dms: the AWS Database Migration Service control plane — replication instances, endpoints,
// replication tasks and connections as catalog records with AWS's shapes and statuses, and the
// replication instances as worker pools that run tasks on the engine.
//
// Start reading at DmsService: a JsonService (target prefix AmazonDMSv20160101) that the api
// module serves over JSON 1.1. Records live in the catalog's schema "dms" (records.cc); the
// operations are in service.cc; the runner that moves a task through starting → running →
// stopped/failed and publishes the engine's snapshot is runner.cc. Instance classes and what
// they allow: docs/replication-instances.md (the table is kInstanceClasses below).
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"
#include "core/core.h"
#include "engine/engine.h"
#include "objectstore/objectstore.h"
#include "secrets/secrets.h"

namespace opendms::dms {

// Resolves a target endpoint's PostgreSQLSettings.SecretsManagerSecretId (name or ARN) to the
// AWSCURRENT SecretString: a JSON object {"username","password","host","port",…}. Called at each
// task start and connection test, and once more when the target refuses the login (28P01), so
// a rotated password is picked up. Its errors are reported in the task's LastFailureMessage.
using SecretResolver =
    std::function<Result<std::string>(std::string_view secret_id, const CallContext& context)>;

// What an instance class gives the tasks on it (docs/replication-instances.md).
struct InstanceClass {
  std::string_view name;  // "dms.t3.medium"
  int vcpus;
  double memory_gib;
  int concurrent_tasks;        // tasks running at once; more wait in "starting"
  int max_full_load_subtasks;  // ceiling on the task's MaxFullLoadSubTasks
  int64_t read_buffer_bytes;   // per table being loaded
};
std::span<const InstanceClass> InstanceClasses();
const InstanceClass* FindInstanceClass(std::string_view name);

struct Options {
  // How long a resource stays in a transient status (creating, modifying, rebooting, deleting,
  // moving) before it settles: long enough for a client calling Describe right after the change
  // to see the transient status, short enough that an `aws` CLI command (which takes more than
  // half a second to start) always sees it settled, so `aws dms wait` never sleeps its first
  // delay (60 s for replication-instance-available, 15 s for the task waiters).
  int transition_millis = 300;
  // The account's DMS quotas (DescribeAccountAttributes), AWS's defaults; each Create or Modify
  // that would pass one is refused with ResourceQuotaExceededFault (StorageQuotaExceededFault
  // for storage), as on AWS.
  struct Quotas {
    int64_t replication_instances = 60;
    int64_t allocated_storage_gb = 30000;  // across all instances
    int64_t replication_subnet_groups = 60;
    int64_t subnets_per_replication_subnet_group = 60;
    int64_t endpoints = 1000;
    int64_t replication_tasks = 600;
    int64_t endpoints_per_instance = 100;  // distinct endpoints of one instance's tasks
  } quotas;
  // How often a running task's snapshot is written to the catalog.
  int publish_interval_millis = 1000;
  // CDC polls the change folder this often; NotifyObjectWritten wakes it in between.
  int cdc_poll_interval_millis = 5000;
  int cdc_audit_interval_millis = 5000;
  // Used for work the service starts itself (resumes at Start()): whose region and account.
  CallContext context;
  // Kept per task in the catalog; older lines are dropped.
  int max_log_lines_per_task = 10000;
  // Seals endpoint passwords at rest (AES-256-GCM, bound to the endpoint ARN); must outlive the
  // service. Null only for a service that reads (opendms logs): it refuses endpoint passwords.
  const secrets::MasterKey* master_key = nullptr;
  // A running task's own log lines (the engine's) wait in memory for the next publish; past
  // this many, further lines are dropped until then, and the count of dropped lines is logged.
  int max_pending_log_lines = 2000;
};

// Thread-safe: Call() may run on many threads at once.
class DmsService : public JsonService {
 public:
  // Applies the "dms" schema's migrations. `catalog`, `store` must outlive the service.
  static Result<std::unique_ptr<DmsService>> Create(catalog::Catalog& catalog,
                                                    objectstore::ObjectStore& store,
                                                    SecretResolver resolver, Options options = {});
  // Stops the runs in flight and waits for them WITHOUT recording anything in the catalog, as if
  // the process had died: a task that was running is still "running" there, and the next
  // service's Start() resumes it. Call Shutdown() first for a clean stop.
  ~DmsService() override;

  std::string_view target_prefix() const override { return "AmazonDMSv20160101"; }
  Result<Json> Call(std::string_view operation, const Json& input,
                    const CallContext& context) override;

  // Called once when the server starts: resumes (resume-processing) every task that was running
  // or starting when the server last stopped or died, and logs each resume.
  Status Start();
  // Stops every running task at its next commit boundary and records it "stopped", remembering
  // that it should run, so the next Start() resumes it. Refuses new starts afterwards.
  void Shutdown();

  // A new object in `bucket`: wakes the change processing of the tasks reading that bucket.
  void NotifyObjectWritten(std::string_view bucket, std::string_view key);

  // The task's log lines, oldest first, in DMS's shape
  // ("2026-11-30T08:13:05 [TASK_MANAGER    ]I:  Task started …"). `task` is its identifier or ARN.
  Result<std::vector<std::string>> TaskLogLines(std::string_view task);

  class Impl;

 private:
  explicit DmsService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace opendms::dms

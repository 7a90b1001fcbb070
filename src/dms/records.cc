// The dms schema in the catalog and the rows it holds. Resources are rows with their AWS shape
// in a jsonb column; statuses and the fields the service filters or updates are columns.
#include <algorithm>

#include "dms/service_impl.h"

namespace opendms::dms {
namespace {

const std::vector<catalog::Migration>& Migrations() {
  static const std::vector<catalog::Migration> kMigrations = {
      {1, "replication instances, endpoints, tasks, connections, schemas, task logs",
       R"sql(
CREATE SCHEMA IF NOT EXISTS dms;
CREATE TABLE dms.instances (
  arn text PRIMARY KEY,
  identifier text NOT NULL UNIQUE,
  seq bigserial,
  status text NOT NULL,
  settle_at double precision,  -- epoch seconds when status becomes settle_to
  settle_to text,              -- 'deleted' removes the row
  doc jsonb NOT NULL);
CREATE TABLE dms.endpoints (
  arn text PRIMARY KEY,
  identifier text NOT NULL UNIQUE,
  seq bigserial,
  doc jsonb NOT NULL,
  input jsonb NOT NULL);
CREATE TABLE dms.tasks (
  arn text PRIMARY KEY,
  identifier text NOT NULL UNIQUE,
  seq bigserial,
  instance_arn text NOT NULL,
  source_arn text NOT NULL,
  target_arn text NOT NULL,
  status text NOT NULL,
  settle_at double precision,
  settle_to text,
  spec jsonb NOT NULL,
  settings_document jsonb NOT NULL,
  created double precision NOT NULL,
  run jsonb NOT NULL DEFAULT '{}',
  table_stats jsonb NOT NULL DEFAULT '[]',
  run_desired boolean NOT NULL DEFAULT false,
  ever_started boolean NOT NULL DEFAULT false,
  last_start_type text NOT NULL DEFAULT '',
  target_instance_arn text NOT NULL DEFAULT '');
CREATE TABLE dms.connections (
  instance_arn text NOT NULL,
  endpoint_arn text NOT NULL,
  status text NOT NULL,
  last_failure_message text NOT NULL DEFAULT '',
  seq bigserial,
  PRIMARY KEY (instance_arn, endpoint_arn));
CREATE TABLE dms.schemas (
  endpoint_arn text PRIMARY KEY,
  instance_arn text NOT NULL,
  status text NOT NULL,
  last_refresh double precision,
  last_failure_message text NOT NULL DEFAULT '',
  schemas jsonb NOT NULL DEFAULT '[]');
CREATE TABLE dms.task_logs (
  task_arn text NOT NULL,
  seq bigserial,
  line text NOT NULL,
  PRIMARY KEY (task_arn, seq));
)sql"},
      {2, "endpoint passwords sealed apart from the endpoint's input",
       // {"KeyId": master key id, "Fields": {"Password" | "<X>Settings/Password": base64}}.
       // Rows written before this migration keep their clear-text passwords in `input` until
       // DmsService::Impl::Migrate seals them (it needs the master key, which SQL does not have).
       R"sql(
ALTER TABLE dms.endpoints ADD COLUMN sealed_passwords jsonb NOT NULL DEFAULT '{}';
)sql"},
      {3, "resource tags",
       R"sql(
CREATE TABLE dms.tags (
  resource_arn text NOT NULL,
  key text NOT NULL,
  value text NOT NULL DEFAULT '',
  seq bigserial,
  PRIMARY KEY (resource_arn, key));
)sql"},
      {4, "replication subnet groups",
       // doc: the ReplicationSubnetGroup shape; identifier lowercase, as AWS stores it.
       R"sql(
CREATE TABLE dms.subnet_groups (
  identifier text PRIMARY KEY,
  arn text NOT NULL UNIQUE,
  doc jsonb NOT NULL);
)sql"},
  };
  return kMigrations;
}

std::string Now() { return std::to_string(ToEpochSeconds(Clock::Now())); }

Result<Json> ParseColumn(std::string_view text, std::string_view what) {
  return ParseJson(text, what);
}

TaskRecord TaskFromRow(const pg::QueryResult& r, int i, Status& error) {
  TaskRecord t;
  t.arn = r.Get(i, 0);
  t.identifier = r.Get(i, 1);
  t.instance_arn = r.Get(i, 2);
  t.source_arn = r.Get(i, 3);
  t.target_arn = r.Get(i, 4);
  t.status = r.Get(i, 5);
  auto spec = ParseColumn(r.Get(i, 6), "dms.tasks.spec");
  auto settings = ParseColumn(r.Get(i, 7), "dms.tasks.settings_document");
  auto run = ParseColumn(r.Get(i, 9), "dms.tasks.run");
  auto stats = ParseColumn(r.Get(i, 10), "dms.tasks.table_stats");
  for (const auto* p : {&spec, &settings, &run, &stats}) {
    if (!p->ok()) error = p->status();
  }
  if (!error.ok()) return t;
  t.spec = *spec;
  t.settings_document = *settings;
  t.created = std::stod(std::string(r.Get(i, 8)));
  t.run = *run;
  t.table_stats = *stats;
  t.run_desired = r.Get(i, 11) == "t";
  t.ever_started = r.Get(i, 12) == "t";
  t.last_start_type = r.Get(i, 13);
  t.target_instance_arn = r.Get(i, 14);
  return t;
}

constexpr std::string_view kTaskColumns =
    "arn, identifier, instance_arn, source_arn, target_arn, status, spec, settings_document, "
    "created, run, table_stats, run_desired, ever_started, last_start_type, target_instance_arn";

}  // namespace

Status NotFoundFault(std::string msg) {
  return Status::Aws(ErrorCode::kNotFound, "ResourceNotFoundFault", std::move(msg));
}
Status AlreadyExistsFault(std::string msg) {
  return Status::Aws(ErrorCode::kAlreadyExists, "ResourceAlreadyExistsFault", std::move(msg));
}
Status InvalidStateFault(std::string msg) {
  return Status::Aws(ErrorCode::kInvalidState, "InvalidResourceStateFault", std::move(msg));
}
Status InvalidParameter(std::string msg) {
  return Status::Aws(ErrorCode::kInvalidArgument, "InvalidParameterValueException",
                     std::move(msg));
}
Status QuotaExceededFault(std::string msg) {
  return Status::Aws(ErrorCode::kInvalidArgument, "ResourceQuotaExceededFault", std::move(msg));
}
Status StorageQuotaFault(std::string msg) {
  return Status::Aws(ErrorCode::kInvalidArgument, "StorageQuotaExceededFault", std::move(msg));
}
Status InvalidCombination(std::string msg) {
  return Status::Aws(ErrorCode::kInvalidArgument, "InvalidParameterCombinationException",
                     std::move(msg));
}

std::string LogLine(std::string_view component, char severity, std::string_view message) {
  std::string iso = FormatIso8601(Clock::Now());  // 2026-11-30T08:13:05.123Z
  std::string name(component);
  if (name.size() < 15) name.resize(15, ' ');
  return iso.substr(0, 19) + " [" + name + "]" + severity + ":  " + std::string(message);
}

namespace {
int SeverityRank(char severity) {
  switch (severity) {
    case 'E': return 0;
    case 'W': return 1;
    case 'I': return 2;
    default: return 3;  // D
  }
}
}  // namespace

LogFilter::LogFilter(const Json& settings_document) {
  const Json* components = nullptr;
  if (auto l = settings_document.find("Logging"); l != settings_document.end() && l->is_object()) {
    if (auto c = l->find("LogComponents"); c != l->end() && c->is_array()) components = &*c;
  }
  if (components == nullptr) return;
  for (const Json& c : *components) {
    if (!c.is_object()) continue;
    const std::string id = c.value("Id", "");
    const std::string severity = c.value("Severity", "");
    level_[id] = severity == "LOGGER_SEVERITY_ERROR"     ? 0
                 : severity == "LOGGER_SEVERITY_WARNING" ? 1
                 : severity == "LOGGER_SEVERITY_DEBUG" ||
                         severity == "LOGGER_SEVERITY_DETAILED_DEBUG"
                     ? 3
                     : 2;
  }
}

bool LogFilter::Keeps(std::string_view component, char severity) const {
  auto it = level_.find(component);
  return SeverityRank(severity) <= (it == level_.end() ? 2 : it->second);
}

bool LogFilter::KeepsLine(std::string_view line) const {
  // "2026-11-30T08:13:05 [TASK_MANAGER   ]I:  message"
  const size_t open = line.find(" [");
  const size_t close = line.find(']', open == std::string_view::npos ? 0 : open);
  if (open == std::string_view::npos || close == std::string_view::npos || close + 1 >= line.size()) {
    return true;
  }
  std::string_view component = line.substr(open + 2, close - open - 2);
  while (!component.empty() && component.back() == ' ') component.remove_suffix(1);
  return Keeps(component, line[close + 1]);
}

Status DmsService::Impl::Migrate() {
  RETURN_IF_ERROR(catalog_.Migrate("dms", Migrations()));
  if (options_.master_key == nullptr) return Status::Ok();  // a reader (opendms logs)
  // Endpoints written before passwords were sealed: seal them now. Idempotent; a row another
  // process sealed meanwhile has nothing left to seal.
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(auto endpoints, LoadEndpoints(*conn));
  for (EndpointRecord& e : endpoints) {
    Json sealed = SealPasswords(*options_.master_key, e.arn, e.input, e.sealed_passwords);
    if (sealed == e.sealed_passwords) continue;
    RETURN_IF_ERROR(conn->Query("UPDATE dms.endpoints SET input = $2, sealed_passwords = $3 "
                                "WHERE arn = $1",
                                {e.arn, e.input.dump(), sealed.dump()})
                        .status());
    spdlog::info("[dms] endpoint {}: its clear-text password is now sealed with master key {}",
                 e.identifier, options_.master_key->key_id());
  }
  return Status::Ok();
}

namespace {

// Where a CreateEndpoint-shaped input can carry a password: top level, or in a settings object.
std::vector<std::string> PasswordFields(const Json& input) {
  std::vector<std::string> fields;
  if (input.contains("Password")) fields.push_back("Password");
  for (auto& [k, v] : input.items()) {
    if (v.is_object() && v.contains("Password")) fields.push_back(k + "/Password");
  }
  return fields;
}

Json* FieldParent(Json& input, const std::string& field, std::string* key) {
  size_t slash = field.find('/');
  if (slash == std::string::npos) {
    *key = field;
    return &input;
  }
  *key = field.substr(slash + 1);
  const std::string object = field.substr(0, slash);
  if (!input.contains(object) || !input[object].is_object()) return nullptr;
  return &input[object];
}

// Binds a sealed password to its endpoint and field: a blob copied to another row or field
// does not open.
std::string PasswordAad(std::string_view arn, std::string_view field) {
  return "dms-endpoint-password:" + std::string(arn) + ":" + std::string(field);
}

}  // namespace

Json SealPasswords(const secrets::MasterKey& key, std::string_view arn, Json& input,
                   const Json& sealed) {
  Json out = sealed.is_object() ? sealed : Json::object();
  const std::vector<std::string> fields = PasswordFields(input);
  if (fields.empty()) return out;
  if (out.value("KeyId", "") != key.key_id()) {
    // Sealed under another key: those fields cannot be carried over; the new ones replace them.
    if (out.contains("KeyId")) out["Fields"] = Json::object();
    out["KeyId"] = key.key_id();
  }
  if (!out.contains("Fields")) out["Fields"] = Json::object();
  for (const std::string& field : fields) {
    std::string name;
    Json* parent = FieldParent(input, field, &name);
    const Json value = (*parent)[name];
    parent->erase(name);
    if (!value.is_string()) continue;  // the engine's validation already refused it
    out["Fields"][field] =
        Base64Encode(key.Seal(value.get<std::string>(), PasswordAad(arn, field)));
  }
  return out;
}

Json WithSealedPlaceholders(Json input, const Json& sealed) {
  if (!sealed.is_object() || !sealed.contains("Fields")) return input;
  for (auto& [field, blob] : sealed["Fields"].items()) {
    std::string name;
    Json* parent = FieldParent(input, field, &name);
    if (parent != nullptr && !parent->contains(name)) (*parent)[name] = "********";
  }
  return input;
}

Result<Json> OpenPasswords(const secrets::MasterKey* key, const EndpointRecord& endpoint) {
  Json input = endpoint.input;  // a row from before sealing may still hold its clear text
  const Json& sealed = endpoint.sealed_passwords;
  if (!sealed.is_object() || !sealed.contains("Fields") || sealed["Fields"].empty()) return input;
  const std::string key_id = sealed.value("KeyId", "");
  if (key == nullptr) {
    return Status::InvalidState("endpoint " + endpoint.identifier +
                                ": its password is sealed and this process has no master key");
  }
  for (auto& [field, blob_text] : sealed["Fields"].items()) {
    auto blob = Base64Decode(blob_text.get<std::string>(), "sealed password");
    Result<std::string> password =
        blob.ok() ? key->Unseal(key_id, *blob, PasswordAad(endpoint.arn, field))
                  : Result<std::string>(blob.status());
    if (!password.ok()) {
      return Status::Aws(ErrorCode::kCorruption, "DecryptionFailure",
                         "endpoint " + endpoint.identifier + ": its " + field +
                             " cannot be decrypted with this server's master key " + key->key_id() +
                             " (sealed under " + key_id +
                             "); set the key the endpoint was created with (OPENDMS_MASTER_KEY "
                             "or <data-dir>/master.key), or give the endpoint its password "
                             "again with ModifyEndpoint");
    }
    std::string name;
    Json* parent = FieldParent(input, field, &name);
    if (parent != nullptr) (*parent)[name] = *password;
  }
  return input;
}

double DmsService::Impl::SettleAt() const {
  return ToEpochSeconds(Clock::Now()) + options_.transition_millis / 1000.0;
}

Status DmsService::Impl::Settle(pg::Connection& conn) {
  const std::string now = Now();
  // Two statements: a DELETE cannot see rows its own statement's CTE updated.
  auto st = conn.Query(
      "UPDATE dms.instances SET status = settle_to, settle_at = NULL, settle_to = NULL WHERE "
      "settle_at <= $1",
      {now});
  if (!st.ok()) return st.status();
  st = conn.Query(
      "WITH gone AS (DELETE FROM dms.instances WHERE status = 'deleted' RETURNING arn) "
      "DELETE FROM dms.tags WHERE resource_arn IN (SELECT arn FROM gone)");
  if (!st.ok()) return st.status();
  // A moved task's instance changes when the move settles.
  st = conn.Query(
      "UPDATE dms.tasks SET instance_arn = CASE WHEN status = 'moving' AND "
      "target_instance_arn <> '' THEN target_instance_arn ELSE instance_arn END, "
      "target_instance_arn = CASE WHEN status = 'moving' THEN '' ELSE target_instance_arn END, "
      "status = settle_to, settle_at = NULL, settle_to = NULL WHERE settle_at <= $1",
      {now});
  if (!st.ok()) return st.status();
  st = conn.Query(
      "WITH gone AS (DELETE FROM dms.tasks WHERE status = 'deleted' RETURNING arn), "
      "logs AS (DELETE FROM dms.task_logs WHERE task_arn IN (SELECT arn FROM gone)) "
      "DELETE FROM dms.tags WHERE resource_arn IN (SELECT arn FROM gone)");
  return st.status();
}

Result<std::vector<InstanceRecord>> DmsService::Impl::LoadInstances(pg::Connection& conn) {
  ASSIGN_OR_RETURN(auto r,
                   conn.Query("SELECT arn, identifier, status, doc FROM dms.instances ORDER BY seq"));
  std::vector<InstanceRecord> out;
  for (int i = 0; i < r.rows(); ++i) {
    ASSIGN_OR_RETURN(Json doc, ParseColumn(r.Get(i, 3), "dms.instances.doc"));
    out.push_back({std::string(r.Get(i, 0)), std::string(r.Get(i, 1)), std::string(r.Get(i, 2)),
                   std::move(doc)});
  }
  return out;
}

Result<InstanceRecord> DmsService::Impl::LoadInstance(pg::Connection& conn, std::string_view arn) {
  ASSIGN_OR_RETURN(auto r, conn.Query("SELECT arn, identifier, status, doc FROM dms.instances "
                                      "WHERE arn = $1",
                                      {std::string(arn)}));
  if (r.rows() == 0) {
    return NotFoundFault("Replication instance " + std::string(arn) + " not found");
  }
  ASSIGN_OR_RETURN(Json doc, ParseColumn(r.Get(0, 3), "dms.instances.doc"));
  return InstanceRecord{std::string(r.Get(0, 0)), std::string(r.Get(0, 1)),
                        std::string(r.Get(0, 2)), std::move(doc)};
}

Result<std::vector<EndpointRecord>> DmsService::Impl::LoadEndpoints(pg::Connection& conn) {
  ASSIGN_OR_RETURN(auto r, conn.Query("SELECT arn, identifier, doc, input, sealed_passwords "
                                      "FROM dms.endpoints ORDER BY seq"));
  std::vector<EndpointRecord> out;
  for (int i = 0; i < r.rows(); ++i) {
    ASSIGN_OR_RETURN(Json doc, ParseColumn(r.Get(i, 2), "dms.endpoints.doc"));
    ASSIGN_OR_RETURN(Json input, ParseColumn(r.Get(i, 3), "dms.endpoints.input"));
    ASSIGN_OR_RETURN(Json sealed, ParseColumn(r.Get(i, 4), "dms.endpoints.sealed_passwords"));
    out.push_back({std::string(r.Get(i, 0)), std::string(r.Get(i, 1)), std::move(doc),
                   std::move(input), std::move(sealed)});
  }
  return out;
}

Result<EndpointRecord> DmsService::Impl::LoadEndpoint(pg::Connection& conn, std::string_view arn) {
  ASSIGN_OR_RETURN(auto r, conn.Query("SELECT arn, identifier, doc, input, sealed_passwords "
                                      "FROM dms.endpoints WHERE arn = $1",
                                      {std::string(arn)}));
  if (r.rows() == 0) return NotFoundFault("Endpoint " + std::string(arn) + " not found");
  ASSIGN_OR_RETURN(Json doc, ParseColumn(r.Get(0, 2), "dms.endpoints.doc"));
  ASSIGN_OR_RETURN(Json input, ParseColumn(r.Get(0, 3), "dms.endpoints.input"));
  ASSIGN_OR_RETURN(Json sealed, ParseColumn(r.Get(0, 4), "dms.endpoints.sealed_passwords"));
  return EndpointRecord{std::string(r.Get(0, 0)), std::string(r.Get(0, 1)), std::move(doc),
                        std::move(input), std::move(sealed)};
}

Result<std::vector<TaskRecord>> DmsService::Impl::LoadTasks(
    pg::Connection& conn, std::string_view where,
    const std::vector<std::optional<std::string>>& params) {
  std::string sql = "SELECT " + std::string(kTaskColumns) + " FROM dms.tasks";
  if (!where.empty()) sql += " WHERE " + std::string(where);
  sql += " ORDER BY seq";
  ASSIGN_OR_RETURN(auto r, conn.Query(sql, params));
  std::vector<TaskRecord> out;
  for (int i = 0; i < r.rows(); ++i) {
    Status error;
    out.push_back(TaskFromRow(r, i, error));
    RETURN_IF_ERROR(error);
  }
  return out;
}

Result<TaskRecord> DmsService::Impl::LoadTask(pg::Connection& conn, std::string_view arn) {
  ASSIGN_OR_RETURN(auto tasks, LoadTasks(conn, "arn = $1", {std::string(arn)}));
  if (tasks.empty()) return NotFoundFault("Replication task " + std::string(arn) + " not found");
  return std::move(tasks.front());
}

Status DmsService::Impl::SaveTaskRun(pg::Connection& conn, const std::string& arn,
                                     const std::string& status, const Json& run,
                                     const Json& table_stats) {
  return conn
      .Query("UPDATE dms.tasks SET status = $2, run = $3, table_stats = $4 WHERE arn = $1",
             {arn, status, run.dump(), table_stats.dump()})
      .status();
}

Status DmsService::Impl::AppendLog(pg::Connection& conn, const std::string& task_arn,
                                   const std::vector<std::string>& lines) {
  if (lines.empty()) return Status::Ok();
  // The task's Logging.LogComponents decide which lines it keeps.
  ASSIGN_OR_RETURN(auto logging, conn.Query("SELECT settings_document->'Logging' FROM dms.tasks "
                                            "WHERE arn = $1",
                                            {task_arn}));
  const LogFilter filter(logging.rows() > 0 && !logging.IsNull(0, 0)
                             ? Json{{"Logging", Json::parse(logging.Get(0, 0))}}
                             : Json::object());
  Json array = Json::array();
  for (const std::string& l : lines) {
    if (filter.KeepsLine(l)) array.push_back(l);
  }
  if (array.empty()) return Status::Ok();
  RETURN_IF_ERROR(conn.Query("INSERT INTO dms.task_logs (task_arn, line) SELECT $1, value FROM "
                             "jsonb_array_elements_text($2::jsonb) WITH ORDINALITY ORDER BY "
                             "ordinality",
                             {task_arn, array.dump()})
                      .status());
  // Bounded: keep the newest lines.
  return conn
      .Query("DELETE FROM dms.task_logs WHERE task_arn = $1 AND seq <= (SELECT seq FROM "
             "dms.task_logs WHERE task_arn = $1 ORDER BY seq DESC OFFSET $2 LIMIT 1)",
             {task_arn, std::to_string(options_.max_log_lines_per_task)})
      .status();
}

Json DmsService::Impl::InstanceShape(const InstanceRecord& r) const {
  Json j;
  j["ReplicationInstanceIdentifier"] = r.identifier;
  j["ReplicationInstanceClass"] = r.doc.value("ReplicationInstanceClass", "");
  j["ReplicationInstanceStatus"] = r.status;
  for (auto& [k, v] : r.doc.items()) {
    if (k != "ReplicationInstanceClass") j[k] = v;
  }
  return j;
}

Json DmsService::Impl::TaskShape(const TaskRecord& r, bool with_settings) const {
  Json j;
  j["ReplicationTaskIdentifier"] = r.identifier;
  j["SourceEndpointArn"] = r.source_arn;
  j["TargetEndpointArn"] = r.target_arn;
  j["ReplicationInstanceArn"] = r.instance_arn;
  j["MigrationType"] = r.spec.value("MigrationType", "");
  j["TableMappings"] = r.spec.value("TableMappings", "");
  if (with_settings) j["ReplicationTaskSettings"] = r.settings_document.dump();
  j["Status"] = r.status;
  for (const char* k : {"LastFailureMessage", "StopReason"}) {
    if (r.run.contains(k)) j[k] = r.run[k];
  }
  j["ReplicationTaskCreationDate"] = r.created;
  if (r.run.contains("ReplicationTaskStartDate")) {
    j["ReplicationTaskStartDate"] = r.run["ReplicationTaskStartDate"];
  }
  for (const char* k : {"CdcStartPosition", "CdcStopPosition"}) {
    if (r.spec.contains(k)) j[k] = r.spec[k];
  }
  if (r.run.contains("RecoveryCheckpoint")) j["RecoveryCheckpoint"] = r.run["RecoveryCheckpoint"];
  j["ReplicationTaskArn"] = r.arn;
  if (r.run.contains("ReplicationTaskStats")) {
    j["ReplicationTaskStats"] = r.run["ReplicationTaskStats"];
  }
  if (r.spec.contains("TaskData")) j["TaskData"] = r.spec["TaskData"];
  if (!r.target_instance_arn.empty()) j["TargetReplicationInstanceArn"] = r.target_instance_arn;
  return j;
}

}  // namespace opendms::dms

// engine (internal): the DMS-shaped configuration a task runs from — the source and target
// endpoints (CreateEndpoint JSON), the task (CreateReplicationTask JSON) and its
// ReplicationTaskSettings, merged over DMS's defaults and resolved into the plain struct the
// engine reads.
//
// Two documents are kept apart on purpose: `TaskSpec::settings_document` is the full settings
// document DMS would return from DescribeReplicationTasks (the user's keys merged over the
// defaults, unknown keys kept), `TaskSpec::settings` is the validated subset the engine acts on.
// docs/task-settings.md lists what each setting does in opendms.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/core.h"

namespace opendms::engine {

// ---------------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------------

struct S3SourceSettings {
  std::string bucket_name, bucket_folder, cdc_path;
  // As given in the document. DMS users write both a real newline and the two characters
  // "\n"; UnescapeCsvDelimiter() turns the latter into the former.
  std::string csv_delimiter = ",", csv_row_delimiter = "\n";
  int64_t ignore_header_rows = 0;
  bool rfc4180 = true;
  std::string external_table_definition;  // the JSON text
  std::string service_access_role_arn;    // kept for Describe; opendms assumes no roles
  std::string expected_bucket_owner;      // kept; checked by the object store if it can
};

// Where an S3 source's bucket lives. DMS's S3Settings have no endpoint URL (on AWS the bucket is
// always on AWS), so opendms reads the endpoint's top-level connection fields: a ServerName makes
// the bucket remote (any S3: AWS, MinIO, Ceph, another opendms); without one the bucket is in
// this server's own store (or run-task's --store / --s3-endpoint). docs/compatibility.md.
struct S3SourceConnection {
  // ServerName as given: "host", "host:port" or "http(s)://host[:port]"; "" = local bucket.
  std::string server_name;
  int port = 0;  // Port; 0 = the one in server_name, else the scheme's
  // SslMode: a bare host is reached over https unless it is "none" (the default).
  std::string ssl_mode = "none";
  // Credentials: Username/Password (access key id / secret access key), or
  // ExtraConnectionAttributes secretsManagerSecretId (a secret of this server holding
  // {"accessKeyId", "secretAccessKey"[, "sessionToken"]}), exactly one of the two.
  std::string username, password;
  std::string secrets_manager_secret_id;
  std::string region = "us-east-1";  // ExtraConnectionAttributes region
  bool path_style = true;            // ExtraConnectionAttributes addressingStyle=path|virtual

  // Resolved from the fields above by ParseSourceEndpoint: "http://host:port" (scheme, host and
  // port, no path), what objectstore::S3ClientOptions::endpoint_url takes.
  std::string endpoint_url;

  bool remote() const { return !server_name.empty(); }
};

struct SourceEndpoint {
  std::string identifier, engine_name;  // engine "s3"
  S3SourceSettings s3;
  S3SourceConnection connection;
  std::vector<std::string> warnings;  // what was accepted but ignored or changed, for the task log
};

struct TargetEndpoint {
  std::string identifier,
      engine_name;  // "postgres" | "aurora-postgresql" | "aurora-postgresql-serverless"
  std::string server_name, database_name, username, password;
  int port = 5432;
  std::string secrets_manager_secret_id;        // kept for later; not resolved here
  std::string secrets_manager_access_role_arn;  // kept
  std::string after_connect_script;             // PostgreSQLSettings.AfterConnectScript
  int execute_timeout_seconds = 60;             // PostgreSQLSettings.ExecuteTimeout
  int64_t max_file_size_kb = 32768;             // PostgreSQLSettings.MaxFileSize
  bool map_boolean_as_boolean = false;          // PostgreSQLSettings.MapBooleanAsBoolean
  std::string ssl_mode = "none";                // none | require | verify-ca | verify-full
  std::vector<std::string> warnings;  // what was accepted but ignored or changed, for the task log

  // "user@host:port/db" (or "secret:<id>@…" when credentials come from a secret). Never prints
  // the password.
  std::string Describe() const;
};

// From CreateEndpoint-shaped JSON (`aws dms create-endpoint --cli-input-json`):
//  - top-level ServerName/Port/DatabaseName/Username/Password, or PostgreSQLSettings{…} (which
//    wins where both are set; CloudFormation's spelling PostgreSqlSettings is accepted too);
//  - S3Settings{…}; ExternalTableDefinition either top-level or in S3Settings (S3Settings wins),
//    as a JSON string (the API form) or an object (convenience);
//  - ExtraConnectionAttributes ("name=value;…") for the same settings, overridden by the
//    settings objects;
//  - for an S3 source, ServerName/Port/SslMode/Username/Password and the ECAs region,
//    secretsManagerSecretId and addressingStyle name a remote S3 (S3SourceConnection); they are
//    refused without a ServerName, and a ServerName needs exactly one kind of credentials;
//  - EndpointType must be source/target (case-insensitive) and match the function called.
// Unknown top-level parameters are rejected as the CLI does. Errors are InvalidArgument and name
// the field: "S3Settings.BucketName is required".
Result<SourceEndpoint> ParseSourceEndpoint(const Json& doc);
Result<TargetEndpoint> ParseTargetEndpoint(const Json& doc);

// "\\n" → "\n", "\\r" → "\r", "\\t" → "\t", "\\\\" → "\\"; other text is kept. An empty result
// is an error (a delimiter can't be empty).
Result<std::string> UnescapeCsvDelimiter(std::string_view text, std::string_view field);

// DMS identifier rules (tasks, endpoints): 1..max_length chars, ASCII letters, digits and
// hyphens, first a letter, no trailing hyphen, no two consecutive hyphens.
Status ValidateDmsIdentifier(std::string_view id, std::string_view field, size_t max_length);

// ---------------------------------------------------------------------------------------------
// Task settings
// ---------------------------------------------------------------------------------------------

enum class MigrationType { kFullLoad, kCdc, kFullLoadAndCdc };
std::string_view MigrationTypeName(MigrationType type);  // "full-load", "cdc", "full-load-and-cdc"
Result<MigrationType> ParseMigrationType(std::string_view name);

enum class TargetTablePrepMode { kDropAndCreate, kTruncateBeforeLoad, kDoNothing };
std::string_view TargetTablePrepModeName(TargetTablePrepMode mode);  // "DROP_AND_CREATE", …

enum class ErrorPolicy {
  kIgnoreRecord,
  kLogError,
  kSuspendTable,
  kStopTask,
  kInsertRecord,
  kUpdateRecord,
  kIgnore,
};
std::string_view ErrorPolicyName(ErrorPolicy policy);  // "IGNORE_RECORD", "LOG_ERROR", …

// The resolved config the engine reads (the user's document is kept apart, merged, in TaskSpec).
// Defaults are DMS's; each member names the settings key it comes from.
// OpendmsSettings.LateChangeObjectPolicy: what CDC does with a change object that lands with a
// key sorting before one already applied, or that overwrites an applied object (new ETag). DMS
// skips such objects silently; opendms always counts and logs them with their key.
enum class LateObjectPolicy { kApply, kSkip, kStopTask };
std::string_view LateObjectPolicyName(LateObjectPolicy policy);  // APPLY | SKIP | STOP_TASK

struct TaskSettings {
  std::vector<std::string> warnings;  // what was accepted but ignored or changed, for the task log
  // TargetMetadata
  std::string target_schema;  // TargetSchema ("" = source schema)
  bool batch_apply_enabled = false;
  bool task_recovery_table_enabled = false;  // TaskRecoveryTableEnabled
  bool support_lobs = true;
  bool full_lob_mode = false;
  bool limited_size_lob_mode = true;
  int64_t lob_max_size_kb = 32;       // LobMaxSize: limited LOB mode truncates CLOB/BLOB beyond it
  int64_t lob_chunk_size_kb = 64;     // LobChunkSize
  int64_t load_max_file_size_kb = 0;  // LoadMaxFileSize (0 = endpoint MaxFileSize)
  // FullLoadSettings
  TargetTablePrepMode prep_mode = TargetTablePrepMode::kDropAndCreate;
  bool create_pk_after_full_load = false;
  bool stop_task_cached_changes_applied = false, stop_task_cached_changes_not_applied = false;
  int max_full_load_subtasks = 8;  // 1..49
  int commit_rate = 10000;         // 1..50000
  int transaction_consistency_timeout = 600;
  // ControlTablesSettings
  std::string control_schema;  // ControlSchema ("" = public)
  bool status_table_enabled = false, suspended_tables_table_enabled = false,
       history_table_enabled = false, full_load_exception_table_enabled = false;
  int history_timeslot_minutes = 5;
  // ErrorBehavior
  ErrorPolicy data_error_policy = ErrorPolicy::kLogError;
  ErrorPolicy data_truncation_error_policy = ErrorPolicy::kLogError;
  ErrorPolicy data_error_escalation_policy = ErrorPolicy::kSuspendTable;
  int64_t data_error_escalation_count = 0;  // 0 = never escalate
  ErrorPolicy event_error_policy = ErrorPolicy::kIgnore;
  ErrorPolicy table_error_policy = ErrorPolicy::kSuspendTable;
  ErrorPolicy table_error_escalation_policy = ErrorPolicy::kStopTask;
  int64_t table_error_escalation_count = 0;
  int64_t recoverable_error_count = -1;  // -1 = retry forever, 0 = never
  int recoverable_error_interval = 5;
  bool recoverable_error_throttling = true;
  int recoverable_error_throttling_max = 1800;
  bool recoverable_error_stop_retry_after_throttling_max = true;
  ErrorPolicy apply_error_delete_policy = ErrorPolicy::kIgnoreRecord;
  ErrorPolicy apply_error_insert_policy = ErrorPolicy::kLogError;
  ErrorPolicy apply_error_update_policy = ErrorPolicy::kLogError;
  ErrorPolicy apply_error_escalation_policy = ErrorPolicy::kLogError;
  int64_t apply_error_escalation_count = 0;
  bool apply_error_fail_on_truncation_ddl = false;
  bool fail_on_no_tables_captured = true;
  bool full_load_ignore_conflicts = true;
  // ChangeProcessingTuning
  int batch_apply_timeout_min = 1, batch_apply_timeout_max = 30, batch_apply_memory_limit_mb = 500;
  int batch_split_size = 0, min_transaction_size = 1000, commit_timeout = 1,
      memory_limit_total_mb = 1024;
  int memory_keep_time = 60, statement_cache_size = 50;
  // ChangeProcessingDdlHandlingPolicy
  bool handle_source_table_dropped = true, handle_source_table_truncated = true,
       handle_source_table_altered = true;
  // StreamBufferSettings
  int stream_buffer_count = 3, stream_buffer_size_mb = 8, ctrl_stream_buffer_size_mb = 5;
  // Logging
  bool enable_logging = false;
  // OpendmsSettings (opendms's own group; not in DMS's default document)
  LateObjectPolicy late_change_object_policy = LateObjectPolicy::kApply;
};

// The full default ReplicationTaskSettings document exactly as DMS returns it for a task created
// without settings: every section of the reference's §6.3, including Logging.LogComponents' 19
// components, ControlTablesSettings' duplicate "historyTimeslotInMinutes", ValidationSettings,
// TTSettings, and the null sections (BeforeImageSettings, …). Built once; thread-safe.
const Json& DefaultTaskSettingsDocument();

// Deep-merges the user's (possibly partial) settings over the defaults: objects merge key by key,
// other values replace. Unknown top-level sections and unknown keys are kept (DMS keeps them).
// Two DMS behaviours are reproduced:
//  - Logging.LogComponents merges by "Id": the user's entries override the default severity of
//    their component, components the user left out keep the default, unknown Ids are appended;
//  - ControlTablesSettings' "HistoryTimeslotInMinutes" and its lower-case duplicate are kept
//    equal: the one the user set wins (the upper-case one if the user set both).
// A `user_settings` that is null means "no settings" (the defaults). A non-object is returned as
// given merged into nothing, so ResolveTaskSettings reports it.
Json MergeTaskSettings(const Json& user_settings);

// Validates the merged document and reads the fields the engine uses. Wrong types or enum values
// (e.g. TargetTablePrepMode "DROP") → InvalidArgument naming the path
// ("FullLoadSettings.TargetTablePrepMode must be one of DO_NOTHING, DROP_AND_CREATE,
// TRUNCATE_BEFORE_LOAD"). Policies are accepted only where DMS accepts them (e.g.
// DataErrorEscalationPolicy: SUSPEND_TABLE|STOP_TASK). Numbers and booleans may be JSON strings.
// Settings opendms can't honour are errors rather than silently ignored
// (ValidationSettings.EnableValidation/ValidationOnly); FullLobMode=true is read as limited LOB
// mode with a warning, as DMS does for S3 sources (they have no full LOB mode).
Result<TaskSettings> ResolveTaskSettings(const Json& merged_settings);

// ---------------------------------------------------------------------------------------------
// Task
// ---------------------------------------------------------------------------------------------

struct TaskSpec {
  std::string identifier;  // ReplicationTaskIdentifier (DMS identifier rules)
  MigrationType migration_type = MigrationType::kFullLoad;
  std::string table_mappings_json;  // as given (string form; an object is serialised)
  Json user_settings_document;      // what the user wrote (null when no settings were given)
  Json settings_document;           // merged over defaults: what Describe returns
  TaskSettings settings;            // resolved
  std::optional<std::string> cdc_start_position, cdc_stop_position;
  std::optional<TimePoint> cdc_start_time;  // epoch seconds number or ISO string
  std::string source_endpoint_arn, target_endpoint_arn, replication_instance_arn;  // kept if given
  std::string resource_identifier;  // ResourceIdentifier, kept if given
  std::string task_data;            // TaskData, kept if given
};

// From CreateReplicationTask-shaped JSON. TableMappings / ReplicationTaskSettings given as JSON
// strings (API form) or objects (convenience); TableMappings is parsed here so a bad document
// fails at create time as in DMS. Identifier rules: 1–255 chars, letters/digits/hyphens, first a
// letter, no trailing hyphen, no "--". CdcStartTime and CdcStartPosition together → error; either
// on a full-load task → error. CdcStopPosition must be "server_time:<ISO>" or
// "commit_time:<ISO>". Unknown top-level parameters are rejected as the CLI does.
Result<TaskSpec> ParseTaskSpec(const Json& doc);

// "2018-03-08T12:12:12", with optional fraction, "Z" or a space instead of "T"; UTC.
Result<TimePoint> ParseIsoTimestamp(std::string_view text, std::string_view field);

}  // namespace opendms::engine

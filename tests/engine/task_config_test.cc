#include "engine/task_config.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace opendms::engine {
namespace {

// Reads "Section.Key" (or a bare top-level key) out of a settings document.
const Json* At(const Json& doc, const std::string& path) {
  const Json* cur = &doc;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string key =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object() || !cur->contains(key)) return nullptr;
    cur = &(*cur)[key];
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

// The reference's §6.3, key by key.
TEST(TaskSettingsDefaults, MatchDmsKeyByKey) {
  struct Case {
    const char* path;
    Json expected;
  };
  const std::vector<Case> cases = {
      // TargetMetadata
      {"TargetMetadata.TargetSchema", ""},
      {"TargetMetadata.SupportLobs", true},
      {"TargetMetadata.FullLobMode", false},
      {"TargetMetadata.LobChunkSize", 64},
      {"TargetMetadata.LimitedSizeLobMode", true},
      {"TargetMetadata.LobMaxSize", 32},
      {"TargetMetadata.InlineLobMaxSize", 0},
      {"TargetMetadata.LoadMaxFileSize", 0},
      {"TargetMetadata.ParallelLoadThreads", 0},
      {"TargetMetadata.ParallelLoadBufferSize", 0},
      {"TargetMetadata.ParallelLoadQueuesPerThread", 0},
      {"TargetMetadata.ParallelApplyThreads", 0},
      {"TargetMetadata.ParallelApplyBufferSize", 0},
      {"TargetMetadata.ParallelApplyQueuesPerThread", 0},
      {"TargetMetadata.BatchApplyEnabled", false},
      {"TargetMetadata.TaskRecoveryTableEnabled", false},
      // FullLoadSettings
      {"FullLoadSettings.TargetTablePrepMode", "DROP_AND_CREATE"},
      {"FullLoadSettings.CreatePkAfterFullLoad", false},
      {"FullLoadSettings.StopTaskCachedChangesApplied", false},
      {"FullLoadSettings.StopTaskCachedChangesNotApplied", false},
      {"FullLoadSettings.MaxFullLoadSubTasks", 8},
      {"FullLoadSettings.TransactionConsistencyTimeout", 600},
      {"FullLoadSettings.CommitRate", 10000},
      // Logging
      {"Logging.EnableLogging", false},
      {"Logging.EnableLogContext", false},
      {"Logging.CloudWatchLogGroup", nullptr},
      {"Logging.CloudWatchLogStream", nullptr},
      // ControlTablesSettings
      {"ControlTablesSettings.ControlSchema", ""},
      {"ControlTablesSettings.HistoryTimeslotInMinutes", 5},
      {"ControlTablesSettings.historyTimeslotInMinutes", 5},
      {"ControlTablesSettings.HistoryTableEnabled", false},
      {"ControlTablesSettings.SuspendedTablesTableEnabled", false},
      {"ControlTablesSettings.StatusTableEnabled", false},
      {"ControlTablesSettings.FullLoadExceptionTableEnabled", false},
      {"ControlTablesSettings.CommitPositionTableEnabled", false},
      // StreamBufferSettings
      {"StreamBufferSettings.StreamBufferCount", 3},
      {"StreamBufferSettings.StreamBufferSizeInMB", 8},
      {"StreamBufferSettings.CtrlStreamBufferSizeInMB", 5},
      // ChangeProcessingTuning
      {"ChangeProcessingTuning.BatchApplyPreserveTransaction", true},
      {"ChangeProcessingTuning.BatchApplyTimeoutMin", 1},
      {"ChangeProcessingTuning.BatchApplyTimeoutMax", 30},
      {"ChangeProcessingTuning.BatchApplyMemoryLimit", 500},
      {"ChangeProcessingTuning.BatchSplitSize", 0},
      {"ChangeProcessingTuning.MinTransactionSize", 1000},
      {"ChangeProcessingTuning.CommitTimeout", 1},
      {"ChangeProcessingTuning.MemoryLimitTotal", 1024},
      {"ChangeProcessingTuning.MemoryKeepTime", 60},
      {"ChangeProcessingTuning.StatementCacheSize", 50},
      {"ChangeProcessingTuning.RecoveryTimeout", -1},
      // ChangeProcessingDdlHandlingPolicy
      {"ChangeProcessingDdlHandlingPolicy.HandleSourceTableDropped", true},
      {"ChangeProcessingDdlHandlingPolicy.HandleSourceTableTruncated", true},
      {"ChangeProcessingDdlHandlingPolicy.HandleSourceTableAltered", true},
      // ErrorBehavior
      {"ErrorBehavior.DataErrorPolicy", "LOG_ERROR"},
      {"ErrorBehavior.DataTruncationErrorPolicy", "LOG_ERROR"},
      {"ErrorBehavior.DataErrorEscalationPolicy", "SUSPEND_TABLE"},
      {"ErrorBehavior.DataErrorEscalationCount", 0},
      {"ErrorBehavior.EventErrorPolicy", "IGNORE"},
      {"ErrorBehavior.TableErrorPolicy", "SUSPEND_TABLE"},
      {"ErrorBehavior.TableErrorEscalationPolicy", "STOP_TASK"},
      {"ErrorBehavior.TableErrorEscalationCount", 0},
      {"ErrorBehavior.RecoverableErrorCount", -1},
      {"ErrorBehavior.RecoverableErrorInterval", 5},
      {"ErrorBehavior.RecoverableErrorThrottling", true},
      {"ErrorBehavior.RecoverableErrorThrottlingMax", 1800},
      {"ErrorBehavior.RecoverableErrorStopRetryAfterThrottlingMax", true},
      {"ErrorBehavior.ApplyErrorDeletePolicy", "IGNORE_RECORD"},
      {"ErrorBehavior.ApplyErrorInsertPolicy", "LOG_ERROR"},
      {"ErrorBehavior.ApplyErrorUpdatePolicy", "LOG_ERROR"},
      {"ErrorBehavior.ApplyErrorEscalationPolicy", "LOG_ERROR"},
      {"ErrorBehavior.ApplyErrorEscalationCount", 0},
      {"ErrorBehavior.ApplyErrorFailOnTruncationDdl", false},
      {"ErrorBehavior.FailOnTransactionConsistencyBreached", false},
      {"ErrorBehavior.FailOnNoTablesCaptured", true},
      {"ErrorBehavior.FullLoadIgnoreConflicts", true},
      {"ErrorBehavior.DataMaskingErrorPolicy", "STOP_TASK"},
      // ValidationSettings
      {"ValidationSettings.EnableValidation", false},
      {"ValidationSettings.ValidationMode", "ROW_LEVEL"},
      {"ValidationSettings.ThreadCount", 5},
      {"ValidationSettings.PartitionSize", 10000},
      {"ValidationSettings.FailureMaxCount", 10000},
      {"ValidationSettings.TableFailureMaxCount", 1000},
      {"ValidationSettings.RecordFailureDelayInMinutes", 5},
      {"ValidationSettings.RecordFailureDelayLimitInMinutes", 0},
      {"ValidationSettings.RecordSuspendDelayInMinutes", 30},
      {"ValidationSettings.MaxKeyColumnSize", 8096},
      {"ValidationSettings.ValidationOnly", false},
      {"ValidationSettings.HandleCollationDiff", false},
      {"ValidationSettings.SkipLobColumns", false},
      {"ValidationSettings.ValidationPartialLobSize", 0},
      {"ValidationSettings.ValidationQueryCdcDelaySeconds", 0},
      // Other top-level keys
      {"TTSettings.EnableTT", false},
      {"TTSettings.TTS3Settings", nullptr},
      {"TTSettings.TTRecordSettings", nullptr},
      {"BeforeImageSettings", nullptr},
      {"LoopbackPreventionSettings", nullptr},
      {"CharacterSetSettings", nullptr},
      {"PostProcessingRules", nullptr},
      {"FailTaskWhenCleanTaskResourceFailed", false},
  };
  const Json& doc = DefaultTaskSettingsDocument();
  size_t leaf_count = 0;
  for (const Case& c : cases) {
    const Json* v = At(doc, c.path);
    ASSERT_NE(v, nullptr) << c.path << " is missing";
    EXPECT_EQ(*v, c.expected) << c.path;
  }
  // Nothing else: every leaf of the document is in the table above (LogComponents aside).
  for (const auto& [section, value] : doc.items()) {
    if (!value.is_object()) {
      ++leaf_count;
      continue;
    }
    for (const auto& [key, leaf] : value.items()) {
      if (key != "LogComponents") ++leaf_count;
    }
  }
  EXPECT_EQ(leaf_count, cases.size());
}

TEST(TaskSettingsDefaults, LogComponentsAreTheNineteenAtDefaultSeverity) {
  const Json& components = DefaultTaskSettingsDocument()["Logging"]["LogComponents"];
  const std::vector<std::string> expected = {
      "TRANSFORMATION",   "SOURCE_UNLOAD",  "IO",           "TARGET_LOAD",
      "PERFORMANCE",      "SOURCE_CAPTURE", "SORTER",       "REST_SERVER",
      "VALIDATOR_EXT",    "TARGET_APPLY",   "TASK_MANAGER", "TABLES_MANAGER",
      "METADATA_MANAGER", "FILE_FACTORY",   "COMMON",       "ADDONS",
      "DATA_STRUCTURE",   "COMMUNICATION",  "FILE_TRANSFER"};
  ASSERT_EQ(components.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(components[i]["Id"], expected[i]);
    EXPECT_EQ(components[i]["Severity"], "LOGGER_SEVERITY_DEFAULT");
  }
}

TEST(TaskSettingsDefaults, ResolveToTheStructDefaults) {
  auto s = ResolveTaskSettings(MergeTaskSettings(Json()));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  TaskSettings d;
  EXPECT_EQ(s->target_schema, d.target_schema);
  EXPECT_EQ(s->prep_mode, TargetTablePrepMode::kDropAndCreate);
  EXPECT_EQ(s->max_full_load_subtasks, 8);
  EXPECT_EQ(s->commit_rate, 10000);
  EXPECT_EQ(s->data_error_policy, ErrorPolicy::kLogError);
  EXPECT_EQ(s->data_error_escalation_policy, ErrorPolicy::kSuspendTable);
  EXPECT_EQ(s->event_error_policy, ErrorPolicy::kIgnore);
  EXPECT_EQ(s->table_error_escalation_policy, ErrorPolicy::kStopTask);
  EXPECT_EQ(s->apply_error_delete_policy, ErrorPolicy::kIgnoreRecord);
  EXPECT_EQ(s->recoverable_error_count, -1);
  EXPECT_EQ(s->recoverable_error_throttling_max, 1800);
  EXPECT_TRUE(s->fail_on_no_tables_captured);
  EXPECT_TRUE(s->full_load_ignore_conflicts);
  EXPECT_EQ(s->history_timeslot_minutes, 5);
  EXPECT_EQ(s->lob_max_size_kb, 32);
  EXPECT_EQ(s->memory_limit_total_mb, 1024);
  EXPECT_EQ(s->stream_buffer_count, 3);
  EXPECT_EQ(s->ctrl_stream_buffer_size_mb, 5);
}

TEST(TaskSettingsMerge, PartialSettingsKeepEveryOtherDefault) {
  Json user = Json::parse(R"({
    "FullLoadSettings": {"TargetTablePrepMode": "DO_NOTHING", "MaxFullLoadSubTasks": "4"},
    "ErrorBehavior": {"DataErrorPolicy": "STOP_TASK"},
    "TargetMetadata": {"TargetSchema": "landing", "SomeFutureKey": 7},
    "FutureSection": {"x": 1},
    "BeforeImageSettings": {"EnableBeforeImage": false}
  })");
  Json merged = MergeTaskSettings(user);
  EXPECT_EQ(merged["FullLoadSettings"]["TargetTablePrepMode"], "DO_NOTHING");
  EXPECT_EQ(merged["FullLoadSettings"]["MaxFullLoadSubTasks"], "4");  // kept as written
  EXPECT_EQ(merged["FullLoadSettings"]["CommitRate"], 10000);
  EXPECT_EQ(merged["FullLoadSettings"]["TransactionConsistencyTimeout"], 600);
  EXPECT_EQ(merged["ErrorBehavior"]["DataErrorPolicy"], "STOP_TASK");
  EXPECT_EQ(merged["ErrorBehavior"]["DataTruncationErrorPolicy"], "LOG_ERROR");
  EXPECT_EQ(merged["TargetMetadata"]["SomeFutureKey"], 7);
  EXPECT_EQ(merged["TargetMetadata"]["LobMaxSize"], 32);
  EXPECT_EQ(merged["FutureSection"], Json({{"x", 1}}));
  EXPECT_EQ(merged["BeforeImageSettings"], Json({{"EnableBeforeImage", false}}));
  EXPECT_EQ(merged["Logging"], DefaultTaskSettingsDocument()["Logging"]);

  auto s = ResolveTaskSettings(merged);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->prep_mode, TargetTablePrepMode::kDoNothing);
  EXPECT_EQ(s->max_full_load_subtasks, 4);
  EXPECT_EQ(s->data_error_policy, ErrorPolicy::kStopTask);
  EXPECT_EQ(s->target_schema, "landing");
  EXPECT_EQ(s->commit_rate, 10000);
}

TEST(TaskSettingsMerge, LogComponentsMergeById) {
  Json user = Json::parse(R"({"Logging": {"EnableLogging": true, "LogComponents": [
      {"Id": "TARGET_LOAD", "Severity": "LOGGER_SEVERITY_DEBUG"},
      {"Id": "NEW_COMPONENT", "Severity": "LOGGER_SEVERITY_ERROR"}]}})");
  Json merged = MergeTaskSettings(user);
  const Json& components = merged["Logging"]["LogComponents"];
  ASSERT_EQ(components.size(), 20u);
  EXPECT_EQ(components[3], Json({{"Id", "TARGET_LOAD"}, {"Severity", "LOGGER_SEVERITY_DEBUG"}}));
  EXPECT_EQ(components[0]["Severity"], "LOGGER_SEVERITY_DEFAULT");
  EXPECT_EQ(components[19]["Id"], "NEW_COMPONENT");
  EXPECT_EQ(merged["Logging"]["EnableLogging"], true);
  EXPECT_TRUE(ResolveTaskSettings(merged).ok());
}

TEST(TaskSettingsMerge, HistoryTimeslotDuplicatesStayEqual) {
  Json merged = MergeTaskSettings(
      Json::parse(R"({"ControlTablesSettings": {"HistoryTimeslotInMinutes": 10}})"));
  EXPECT_EQ(merged["ControlTablesSettings"]["HistoryTimeslotInMinutes"], 10);
  EXPECT_EQ(merged["ControlTablesSettings"]["historyTimeslotInMinutes"], 10);
  merged = MergeTaskSettings(
      Json::parse(R"({"ControlTablesSettings": {"historyTimeslotInMinutes": 15}})"));
  EXPECT_EQ(merged["ControlTablesSettings"]["HistoryTimeslotInMinutes"], 15);
  auto s = ResolveTaskSettings(merged);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->history_timeslot_minutes, 15);
}

TEST(TaskSettingsResolve, RejectsWrongValuesNamingThePath) {
  struct Case {
    const char* settings;
    const char* message;
  };
  const Case cases[] = {
      {R"({"FullLoadSettings": {"TargetTablePrepMode": "DROP"}})",
       "FullLoadSettings.TargetTablePrepMode must be one of DO_NOTHING, DROP_AND_CREATE, "
       "TRUNCATE_BEFORE_LOAD, got \"DROP\""},
      {R"({"FullLoadSettings": {"TargetTablePrepMode": "drop_and_create"}})",
       "FullLoadSettings.TargetTablePrepMode must be one of"},
      {R"({"FullLoadSettings": {"MaxFullLoadSubTasks": 50}})",
       "FullLoadSettings.MaxFullLoadSubTasks must be between 1 and 49, got 50"},
      {R"({"FullLoadSettings": {"MaxFullLoadSubTasks": 0}})",
       "FullLoadSettings.MaxFullLoadSubTasks must be between 1 and 49"},
      {R"({"FullLoadSettings": {"CommitRate": 50001}})",
       "FullLoadSettings.CommitRate must be between 1 and 50000"},
      {R"({"FullLoadSettings": {"CommitRate": "many"}})",
       "FullLoadSettings.CommitRate must be an integer"},
      {R"({"FullLoadSettings": {"CreatePkAfterFullLoad": "maybe"}})",
       "FullLoadSettings.CreatePkAfterFullLoad must be a boolean"},
      {R"({"FullLoadSettings": {"StopTaskCachedChangesApplied": true,
                                "StopTaskCachedChangesNotApplied": true}})",
       "cannot both be true"},
      {R"({"FullLoadSettings": 5})", "FullLoadSettings must be an object"},
      {R"({"TargetMetadata": {"TargetSchema": 5}})",
       "TargetMetadata.TargetSchema must be a string"},
      {R"({"ErrorBehavior": {"DataErrorPolicy": "IGNORE"}})",
       "ErrorBehavior.DataErrorPolicy must be one of IGNORE_RECORD, LOG_ERROR, STOP_TASK, "
       "SUSPEND_TABLE, got \"IGNORE\""},
      {R"({"ErrorBehavior": {"DataErrorEscalationPolicy": "LOG_ERROR"}})",
       "ErrorBehavior.DataErrorEscalationPolicy must be one of STOP_TASK, SUSPEND_TABLE"},
      {R"({"ErrorBehavior": {"TableErrorPolicy": "LOG_ERROR"}})",
       "ErrorBehavior.TableErrorPolicy must be one of STOP_TASK, SUSPEND_TABLE"},
      {R"({"ErrorBehavior": {"TableErrorEscalationPolicy": "SUSPEND_TABLE"}})",
       "ErrorBehavior.TableErrorEscalationPolicy must be one of STOP_TASK"},
      {R"({"ErrorBehavior": {"EventErrorPolicy": "LOG_ERROR"}})",
       "ErrorBehavior.EventErrorPolicy must be one of IGNORE, STOP_TASK"},
      {R"({"ErrorBehavior": {"ApplyErrorUpdatePolicy": "INSERT_RECORD"}})",
       "ErrorBehavior.ApplyErrorUpdatePolicy must be one of"},
      {R"({"ErrorBehavior": {"ApplyErrorInsertPolicy": "UPDATE_RECORD"}})",
       "ErrorBehavior.ApplyErrorInsertPolicy must be one of"},
      {R"({"ErrorBehavior": {"ApplyErrorEscalationPolicy": "IGNORE_RECORD"}})",
       "ErrorBehavior.ApplyErrorEscalationPolicy must be one of LOG_ERROR, STOP_TASK, "
       "SUSPEND_TABLE"},
      {R"({"ErrorBehavior": {"RecoverableErrorCount": -2}})",
       "ErrorBehavior.RecoverableErrorCount must be between -1"},
      {R"({"ErrorBehavior": {"DataErrorEscalationCount": -1}})",
       "ErrorBehavior.DataErrorEscalationCount must be between 0"},
      {R"({"StreamBufferSettings": {"CtrlStreamBufferSizeInMB": 9}})",
       "StreamBufferSettings.CtrlStreamBufferSizeInMB must be between 1 and 8"},
      {R"({"ChangeProcessingTuning": {"BatchApplyTimeoutMin": 40}})",
       "BatchApplyTimeoutMin must not exceed BatchApplyTimeoutMax"},
      {R"({"ControlTablesSettings": {"HistoryTimeslotInMinutes": 0}})",
       "ControlTablesSettings.HistoryTimeslotInMinutes must be between 1"},
      {R"({"Logging": {"LogComponents": [{"Id": "IO", "Severity": "LOUD"}]}})",
       "Logging.LogComponents[2].Severity must be one of LOGGER_SEVERITY_ERROR"},
      {R"({"ValidationSettings": {"EnableValidation": true}})", "data validation is not supported"},
  };
  for (const Case& c : cases) {
    auto s = ResolveTaskSettings(MergeTaskSettings(Json::parse(c.settings)));
    ASSERT_FALSE(s.ok()) << c.settings;
    EXPECT_TRUE(s.status().IsInvalidArgument());
    EXPECT_NE(s.status().message().find(c.message), std::string::npos)
        << c.settings << " → " << s.status().message();
  }
}

TEST(TaskSettingsResolve, AcceptsPoliciesWhereDmsDoes) {
  auto s = ResolveTaskSettings(MergeTaskSettings(Json::parse(R"({"ErrorBehavior": {
      "ApplyErrorInsertPolicy": "INSERT_RECORD", "ApplyErrorUpdatePolicy": "UPDATE_RECORD",
      "DataErrorEscalationPolicy": "STOP_TASK", "DataErrorEscalationCount": "3",
      "EventErrorPolicy": "STOP_TASK", "FailOnNoTablesCaptured": "false"}})")));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->apply_error_insert_policy, ErrorPolicy::kInsertRecord);
  EXPECT_EQ(s->apply_error_update_policy, ErrorPolicy::kUpdateRecord);
  EXPECT_EQ(s->data_error_escalation_policy, ErrorPolicy::kStopTask);
  EXPECT_EQ(s->data_error_escalation_count, 3);
  EXPECT_EQ(s->event_error_policy, ErrorPolicy::kStopTask);
  EXPECT_FALSE(s->fail_on_no_tables_captured);
}

TEST(TaskSettingsResolve, FullLobModeFallsBackToLimitedForS3) {
  auto s =
      ResolveTaskSettings(MergeTaskSettings(Json::parse(R"({"TargetMetadata": {"FullLobMode": true,
                                       "LimitedSizeLobMode": false}})")));
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->full_lob_mode);
  EXPECT_TRUE(s->limited_size_lob_mode);
  // Said, for the task log.
  ASSERT_EQ(s->warnings.size(), 1u);
  EXPECT_NE(s->warnings[0].find("FullLobMode=true: S3 sources support only limited LOB mode"),
            std::string::npos)
      << s->warnings[0];
}

// ---------------------------------------------------------------------------------------------
// Task spec
// ---------------------------------------------------------------------------------------------

constexpr const char* kMappings =
    R"({"rules":[{"rule-type":"selection","rule-id":"1","rule-name":"1",)"
    R"("object-locator":{"schema-name":"%","table-name":"%"},"rule-action":"include"}]})";

Json Task() {
  return {{"ReplicationTaskIdentifier", "lab-task-1"},
          {"SourceEndpointArn", "arn:aws:dms:us-east-1:000000000000:endpoint:SRC"},
          {"TargetEndpointArn", "arn:aws:dms:us-east-1:000000000000:endpoint:TGT"},
          {"ReplicationInstanceArn", "arn:aws:dms:us-east-1:000000000000:rep:RI"},
          {"MigrationType", "full-load-and-cdc"},
          {"TableMappings", kMappings},
          {"ReplicationTaskSettings", R"({"FullLoadSettings":{"CommitRate":500}})"}};
}

TEST(TaskSpec, ParsesTheApiShape) {
  auto spec = ParseTaskSpec(Task());
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->identifier, "lab-task-1");
  EXPECT_EQ(spec->migration_type, MigrationType::kFullLoadAndCdc);
  EXPECT_EQ(MigrationTypeName(spec->migration_type), "full-load-and-cdc");
  EXPECT_EQ(spec->table_mappings_json, kMappings);
  EXPECT_EQ(spec->settings.commit_rate, 500);
  EXPECT_EQ(spec->settings_document["FullLoadSettings"]["CommitRate"], 500);
  EXPECT_EQ(spec->settings_document["FullLoadSettings"]["MaxFullLoadSubTasks"], 8);
  EXPECT_EQ(spec->user_settings_document,
            Json::parse(R"({"FullLoadSettings":{"CommitRate":500}})"));
  EXPECT_EQ(spec->source_endpoint_arn, "arn:aws:dms:us-east-1:000000000000:endpoint:SRC");
  EXPECT_EQ(spec->replication_instance_arn, "arn:aws:dms:us-east-1:000000000000:rep:RI");
  EXPECT_FALSE(spec->cdc_start_time);
}

TEST(TaskSpec, AcceptsObjectsForTheJsonStrings) {
  Json task = Task();
  task["TableMappings"] = Json::parse(kMappings);
  task["ReplicationTaskSettings"] = Json::parse(R"({"TargetMetadata":{"TargetSchema":"x"}})");
  auto spec = ParseTaskSpec(task);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(Json::parse(spec->table_mappings_json), Json::parse(kMappings));
  EXPECT_EQ(spec->settings.target_schema, "x");

  task.erase("ReplicationTaskSettings");
  spec = ParseTaskSpec(task);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->settings_document, DefaultTaskSettingsDocument());
  EXPECT_TRUE(spec->user_settings_document.is_null());
}

TEST(TaskSpec, IdentifierRules) {
  struct Case {
    std::string id;
    bool valid;
  };
  const Case cases[] = {
      {"a", true},
      {"Task-1", true},
      {std::string(255, 'a'), true},
      {std::string(256, 'a'), false},
      {"", false},
      {"1task", false},
      {"-task", false},
      {"task-", false},
      {"ta--sk", false},
      {"ta_sk", false},
      {"ta sk", false},
      {"tâsk", false},
  };
  for (const Case& c : cases) {
    Json task = Task();
    task["ReplicationTaskIdentifier"] = c.id;
    auto spec = ParseTaskSpec(task);
    EXPECT_EQ(spec.ok(), c.valid) << "\"" << c.id << "\": " << spec.status().ToString();
    if (!c.valid) {
      EXPECT_NE(spec.status().message().find("ReplicationTaskIdentifier"), std::string::npos);
    }
  }
}

TEST(TaskSpec, CdcPositions) {
  Json task = Task();
  task["CdcStartTime"] = 1590524772.5;
  auto spec = ParseTaskSpec(task);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_DOUBLE_EQ(ToEpochSeconds(*spec->cdc_start_time), 1590524772.5);

  task["CdcStartTime"] = "2020-05-26T20:26:12Z";
  spec = ParseTaskSpec(task);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_DOUBLE_EQ(ToEpochSeconds(*spec->cdc_start_time), 1590524772.0);

  task["CdcStartPosition"] = "checkpoint:V1#1#x";
  spec = ParseTaskSpec(task);
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(
      spec.status().message().find("CdcStartTime and CdcStartPosition are mutually exclusive"),
      std::string::npos);

  task.erase("CdcStartTime");
  task["CdcStopPosition"] = "server_time:2018-02-09T12:12:12";
  spec = ParseTaskSpec(task);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(*spec->cdc_start_position, "checkpoint:V1#1#x");
  EXPECT_EQ(*spec->cdc_stop_position, "server_time:2018-02-09T12:12:12");

  task["CdcStopPosition"] = "2018-02-09T12:12:12";
  spec = ParseTaskSpec(task);
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("CdcStopPosition must be"), std::string::npos);

  task.erase("CdcStopPosition");
  task["MigrationType"] = "full-load";
  spec = ParseTaskSpec(task);
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("apply only to cdc and full-load-and-cdc"),
            std::string::npos);
}

TEST(TaskSpec, RejectsBadDocuments) {
  struct Case {
    const char* key;
    Json value;  // null = erase the key
    const char* message;
  };
  const Case cases[] = {
      {"ReplicationTaskIdentifier", nullptr, "ReplicationTaskIdentifier is required"},
      {"MigrationType", nullptr, "MigrationType is required"},
      {"MigrationType", "full_load",
       "MigrationType must be one of full-load, cdc, "
       "full-load-and-cdc; got \"full_load\""},
      {"TableMappings", nullptr, "TableMappings is required"},
      {"TableMappings", R"({"rules":[{"rule-type":"selection"}]})",
       "TableMappings: rules[0].rule-id is required"},
      {"ReplicationTaskSettings", "{not json", "ReplicationTaskSettings is not valid JSON"},
      {"ReplicationTaskSettings", "[1]", "ReplicationTaskSettings must be a JSON object"},
      {"ReplicationTaskSettings", R"({"FullLoadSettings":{"TargetTablePrepMode":"DROP"}})",
       "FullLoadSettings.TargetTablePrepMode must be one of"},
      {"CdcStartTime", "yesterday", "CdcStartTime \"yesterday\" is not a timestamp"},
      {"ReplicationTaskIdentifer", "typo",
       "Unknown parameter in CreateReplicationTask input: "
       "\"ReplicationTaskIdentifer\""},
  };
  for (const Case& c : cases) {
    Json task = Task();
    if (c.value.is_null()) {
      task.erase(c.key);
    } else {
      task[c.key] = c.value;
    }
    auto spec = ParseTaskSpec(task);
    ASSERT_FALSE(spec.ok()) << c.key;
    EXPECT_NE(spec.status().message().find(c.message), std::string::npos)
        << c.key << " → " << spec.status().message();
  }
}

TEST(IsoTimestamp, Forms) {
  struct Case {
    const char* text;
    double epoch;  // < 0: invalid
  };
  const Case cases[] = {
      {"2018-03-08T12:12:12", 1520511132},
      {"2018-03-08 12:12:12", 1520511132},
      {"2018-03-08T12:12:12Z", 1520511132},
      {"2018-03-08T12:12:12.25Z", 1520511132.25},
      {"2018-03-08T12:12", 1520511120},
      {"2018-03-08", 1520467200},
      {"2018-13-08T12:12:12", -1},
      {"2018-03-08T12:12:12+01:00", -1},
      {"20180308", -1},
      {"", -1},
  };
  for (const Case& c : cases) {
    auto t = ParseIsoTimestamp(c.text, "t");
    if (c.epoch < 0) {
      EXPECT_FALSE(t.ok()) << c.text;
    } else {
      ASSERT_TRUE(t.ok()) << c.text << ": " << t.status().ToString();
      EXPECT_DOUBLE_EQ(ToEpochSeconds(*t), c.epoch) << c.text;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------------

constexpr const char* kTableDefinition =
    R"({"TableCount":"1","Tables":[{"TableName":"t","TablePath":"s/t/","TableOwner":"s",)"
    R"("TableColumns":[{"ColumnName":"id","ColumnType":"INT4"}],"TableColumnsTotal":"1"}]})";

Json Source() {
  return {{"EndpointIdentifier", "s3-source"},
          {"EndpointType", "source"},
          {"EngineName", "s3"},
          {"S3Settings",
           {{"BucketName", "landing"},
            {"BucketFolder", "data"},
            {"CdcPath", "cdc"},
            {"CsvDelimiter", "|"},
            {"CsvRowDelimiter", "\\n"},
            {"IgnoreHeaderRows", 1},
            {"Rfc4180", "false"},
            {"ServiceAccessRoleArn", "arn:aws:iam::000000000000:role/dms"},
            {"ExternalTableDefinition", kTableDefinition}}}};
}

TEST(SourceEndpoint, ParsesS3Settings) {
  auto ep = ParseSourceEndpoint(Source());
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  EXPECT_EQ(ep->identifier, "s3-source");
  EXPECT_EQ(ep->engine_name, "s3");
  EXPECT_EQ(ep->s3.bucket_name, "landing");
  EXPECT_EQ(ep->s3.bucket_folder, "data");
  EXPECT_EQ(ep->s3.cdc_path, "cdc");
  EXPECT_EQ(ep->s3.csv_delimiter, "|");
  EXPECT_EQ(ep->s3.csv_row_delimiter, "\\n");  // as given
  EXPECT_EQ(ep->s3.ignore_header_rows, 1);
  EXPECT_FALSE(ep->s3.rfc4180);
  EXPECT_EQ(ep->s3.external_table_definition, kTableDefinition);
  EXPECT_EQ(ep->s3.service_access_role_arn, "arn:aws:iam::000000000000:role/dms");
}

TEST(SourceEndpoint, TableDefinitionMayBeTopLevelOrAnObject) {
  Json doc = Source();
  doc["S3Settings"].erase("ExternalTableDefinition");
  doc["ExternalTableDefinition"] = Json::parse(kTableDefinition);
  doc["EndpointType"] = "SOURCE";
  auto ep = ParseSourceEndpoint(doc);
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  EXPECT_EQ(Json::parse(ep->s3.external_table_definition), Json::parse(kTableDefinition));
}

TEST(SourceEndpoint, ExtraConnectionAttributesAreOverriddenBySettings) {
  Json doc = Source();
  doc["ExtraConnectionAttributes"] = "bucketFolder=eca;csvDelimiter=\t;cdcPath=changes;";
  doc["S3Settings"].erase("CsvDelimiter");
  auto ep = ParseSourceEndpoint(doc);
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  EXPECT_EQ(ep->s3.csv_delimiter, "\t");    // only in the ECA
  EXPECT_EQ(ep->s3.bucket_folder, "data");  // S3Settings wins
  EXPECT_EQ(ep->s3.cdc_path, "cdc");
}

TEST(SourceEndpoint, AnExtraConnectionAttributeItDoesNotUseIsAWarning) {
  Json doc = Source();
  doc["ExtraConnectionAttributes"] = "cdcPath=changes;maxFileSize=512;";
  auto ep = ParseSourceEndpoint(doc);
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  ASSERT_EQ(ep->warnings.size(), 1u);
  EXPECT_NE(ep->warnings[0].find("ExtraConnectionAttributes \"maxfilesize\" is not used by an S3 "
                                 "source; ignored"),
            std::string::npos)
      << ep->warnings[0];
}

TEST(SourceEndpoint, RejectsBadDocuments) {
  struct Case {
    const char* name;
    Json doc;
    const char* message;
  };
  auto with = [](const char* key, Json value) {
    Json d = Source();
    if (value.is_null()) {
      d.erase(key);
    } else {
      d[key] = value;
    }
    return d;
  };
  auto with_s3 = [](const char* key, Json value) {
    Json d = Source();
    if (value.is_null()) {
      d["S3Settings"].erase(key);
    } else {
      d["S3Settings"][key] = value;
    }
    return d;
  };
  const Case cases[] = {
      {"no bucket", with_s3("BucketName", nullptr), "S3Settings.BucketName is required"},
      {"no definition", with_s3("ExternalTableDefinition", nullptr),
       "ExternalTableDefinition) is required"},
      {"target type", with("EndpointType", "target"),
       "EndpointType is \"target\" but a source endpoint is expected"},
      {"bad type", with("EndpointType", "sink"), "EndpointType must be one of source, target"},
      {"no type", with("EndpointType", nullptr), "EndpointType is required"},
      {"engine", with("EngineName", "mysql"), "EngineName \"mysql\" is not supported"},
      {"identifier", with("EndpointIdentifier", "s3_source"),
       "EndpointIdentifier \"s3_source\" may contain only ASCII letters, digits and hyphens"},
      {"unknown key", with("BucketName", "x"), "Unknown parameter in CreateEndpoint input"},
      {"header rows", with_s3("IgnoreHeaderRows", 2),
       "S3Settings.IgnoreHeaderRows must be between 0 and 1"},
      {"rfc", with_s3("Rfc4180", "sometimes"), "S3Settings.Rfc4180 must be a boolean"},
      {"parquet", with_s3("DataFormat", "parquet"),
       "S3Settings.DataFormat \"parquet\" is not supported yet"},
      {"gzip", with_s3("CompressionType", "GZIP"),
       "S3Settings.CompressionType \"GZIP\" is not supported yet"},
      {"empty delimiter", with_s3("CsvDelimiter", ""), "S3Settings.CsvDelimiter must not be empty"},
      {"eca", with("ExtraConnectionAttributes", "bucketName"), "is not name=value"},
  };
  for (const Case& c : cases) {
    auto ep = ParseSourceEndpoint(c.doc);
    ASSERT_FALSE(ep.ok()) << c.name;
    EXPECT_NE(ep.status().message().find(c.message), std::string::npos)
        << c.name << " → " << ep.status().message();
  }
  EXPECT_TRUE(ParseSourceEndpoint(with_s3("CompressionType", "none")).ok());
  EXPECT_TRUE(ParseSourceEndpoint(with_s3("DataFormat", "CSV")).ok());
}

TEST(SourceEndpoint, WithoutServerNameTheBucketIsLocal) {
  auto ep = ParseSourceEndpoint(Source());
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  EXPECT_FALSE(ep->connection.remote());
  EXPECT_EQ(ep->connection.endpoint_url, "");
}

TEST(SourceEndpoint, ServerNameNamesARemoteS3) {
  struct Case {
    Json fields;
    const char* url;
  };
  const Case cases[] = {
      {{{"ServerName", "minio.internal"}}, "http://minio.internal"},
      {{{"ServerName", "minio.internal"}, {"Port", 9000}}, "http://minio.internal:9000"},
      {{{"ServerName", "minio.internal:9000"}, {"Port", 9000}}, "http://minio.internal:9000"},
      {{{"ServerName", "s3.eu-west-1.amazonaws.com"}, {"SslMode", "require"}},
       "https://s3.eu-west-1.amazonaws.com"},
      {{{"ServerName", "HTTPS://10.0.0.5:8443"}}, "https://10.0.0.5:8443"},
      {{{"ServerName", "http://[::1]:9000"}}, "http://[::1]:9000"},
  };
  for (const Case& c : cases) {
    Json doc = Source();
    for (const auto& [k, v] : c.fields.items()) doc[k] = v;
    doc["Username"] = "AKIDEXAMPLE";
    doc["Password"] = "secret-key";
    auto ep = ParseSourceEndpoint(doc);
    ASSERT_TRUE(ep.ok()) << c.fields.dump() << ": " << ep.status().ToString();
    EXPECT_TRUE(ep->connection.remote());
    EXPECT_EQ(ep->connection.endpoint_url, c.url) << c.fields.dump();
    EXPECT_EQ(ep->connection.username, "AKIDEXAMPLE");
    EXPECT_EQ(ep->connection.password, "secret-key");
    EXPECT_EQ(ep->connection.region, "us-east-1");
    EXPECT_TRUE(ep->connection.path_style);
  }
  Json doc = Source();
  doc["ServerName"] = "http://127.0.0.1:9000";
  doc["ExtraConnectionAttributes"] =
      "secretsManagerSecretId=arn:aws:secretsmanager:us-east-1:000000000000:secret:s3-keys;"
      "region=eu-west-1;addressingStyle=virtual";
  auto ep = ParseSourceEndpoint(doc);
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  EXPECT_EQ(ep->connection.secrets_manager_secret_id,
            "arn:aws:secretsmanager:us-east-1:000000000000:secret:s3-keys");
  EXPECT_EQ(ep->connection.region, "eu-west-1");
  EXPECT_FALSE(ep->connection.path_style);
}

TEST(SourceEndpoint, RejectsHalfGivenRemoteConnections) {
  struct Case {
    Json fields;
    const char* message;
  };
  const Json keys = {{"Username", "AKIDEXAMPLE"}, {"Password", "secret-key"}};
  auto with_keys = [&](Json fields) {
    for (const auto& [k, v] : keys.items()) fields[k] = v;
    return fields;
  };
  const Case cases[] = {
      {keys, "Username is set but ServerName is not"},
      {{{"Port", 9000}}, "Port is set but ServerName is not"},
      {{{"ExtraConnectionAttributes", "secretsManagerSecretId=k"}},
       "secretsManagerSecretId is set but ServerName is not"},
      {{{"ServerName", "minio"}}, "needs credentials: Username (access key id) and Password"},
      {{{"ServerName", "minio"}, {"Username", "AKID"}}, "Password is required with Username"},
      {{{"ServerName", "minio"},
        {"Username", "AKID"},
        {"Password", "x"},
        {"ExtraConnectionAttributes", "secretsManagerSecretId=k"}},
       "not both"},
      {with_keys({{"ServerName", "http://minio/bucket"}}), "no path, query, user or space"},
      {with_keys({{"ServerName", "minio:99999"}}), "port out of range"},
      {with_keys({{"ServerName", "minio:"}}), "empty port"},
      {with_keys({{"ServerName", "minio:9000"}, {"Port", 9001}}),
       "Port 9001 disagrees with the port in ServerName"},
      {with_keys({{"ServerName", "minio"}, {"SslMode", "sometimes"}}),
       "SslMode \"sometimes\" is not one of"},
      {with_keys({{"ServerName", "minio"}, {"ExtraConnectionAttributes", "addressingStyle=dns"}}),
       "addressingstyle must be path or virtual"},
  };
  for (const Case& c : cases) {
    Json doc = Source();
    for (const auto& [k, v] : c.fields.items()) doc[k] = v;
    auto ep = ParseSourceEndpoint(doc);
    ASSERT_FALSE(ep.ok()) << c.fields.dump();
    EXPECT_NE(ep.status().message().find(c.message), std::string::npos)
        << c.fields.dump() << " → " << ep.status().message();
    EXPECT_EQ(ep.status().message().find("secret-key"), std::string::npos);
  }
}

Json Target() {
  return {{"EndpointIdentifier", "aurora-target"},
          {"EndpointType", "target"},
          {"EngineName", "aurora-postgresql"},
          {"ServerName", "top.example"},
          {"Port", 5433},
          {"DatabaseName", "labdb"},
          {"Username", "top_user"},
          {"Password", "s3cr3t-pw"}};
}

TEST(TargetEndpoint, TopLevelFields) {
  auto ep = ParseTargetEndpoint(Target());
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  EXPECT_EQ(ep->engine_name, "aurora-postgresql");
  EXPECT_EQ(ep->server_name, "top.example");
  EXPECT_EQ(ep->port, 5433);
  EXPECT_EQ(ep->password, "s3cr3t-pw");
  EXPECT_EQ(ep->ssl_mode, "none");
  EXPECT_EQ(ep->execute_timeout_seconds, 60);
  EXPECT_EQ(ep->Describe(), "top_user@top.example:5433/labdb");
  EXPECT_EQ(ep->Describe().find("s3cr3t"), std::string::npos);
}

TEST(TargetEndpoint, PostgreSqlSettingsWin) {
  Json doc = Target();
  doc["SslMode"] = "REQUIRE";
  doc["PostgreSQLSettings"] = {{"ServerName", "pg.example"},
                               {"Port", "6543"},
                               {"Username", "pg_user"},
                               {"AfterConnectScript", "SET session_replication_role='replica'"},
                               {"ExecuteTimeout", 120},
                               {"MapBooleanAsBoolean", true}};
  auto ep = ParseTargetEndpoint(doc);
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  EXPECT_EQ(ep->server_name, "pg.example");
  EXPECT_EQ(ep->port, 6543);
  EXPECT_EQ(ep->username, "pg_user");
  EXPECT_EQ(ep->password, "s3cr3t-pw");  // only top-level: kept
  EXPECT_EQ(ep->database_name, "labdb");
  EXPECT_EQ(ep->after_connect_script, "SET session_replication_role='replica'");
  EXPECT_EQ(ep->execute_timeout_seconds, 120);
  EXPECT_TRUE(ep->map_boolean_as_boolean);
  EXPECT_EQ(ep->ssl_mode, "require");
}

TEST(TargetEndpoint, SecretInsteadOfClearText) {
  Json doc = {{"EndpointIdentifier", "t"},
              {"EndpointType", "target"},
              {"EngineName", "postgres"},
              {"DatabaseName", "labdb"},
              {"PostgreSqlSettings",
               {{"SecretsManagerSecretId", "lab/aurora"},
                {"SecretsManagerAccessRoleArn", "arn:aws:iam::000000000000:role/s"}}}};
  auto ep = ParseTargetEndpoint(doc);
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  EXPECT_EQ(ep->secrets_manager_secret_id, "lab/aurora");
  EXPECT_EQ(ep->Describe(), "secret:lab/aurora@?:5432/labdb");

  doc["Password"] = "x";
  ep = ParseTargetEndpoint(doc);
  ASSERT_FALSE(ep.ok());
  EXPECT_NE(
      ep.status().message().find("PostgreSqlSettings.SecretsManagerSecretId cannot be combined"),
      std::string::npos)
      << ep.status().message();
}

TEST(TargetEndpoint, RejectsBadDocuments) {
  struct Case {
    const char* key;
    Json value;
    const char* message;
  };
  const Case cases[] = {
      {"EngineName", "aurora-postgres", "\"aurora-postgres\" is not a DMS engine name"},
      {"EngineName", "s3", "EngineName \"s3\" is not supported for a target endpoint"},
      {"EndpointType", "source", "EndpointType is \"source\" but a target endpoint is expected"},
      {"ServerName", nullptr, "ServerName is required"},
      {"Username", nullptr, "Username is required"},
      {"DatabaseName", nullptr, "DatabaseName is required"},
      {"Port", 70000, "Port must be between 1 and 65535"},
      {"SslMode", "always", "SslMode must be one of none, require, verify-ca, verify-full"},
      {"PostgreSQLSettings", "x", "PostgreSQLSettings must be an object"},
  };
  for (const Case& c : cases) {
    Json doc = Target();
    if (c.value.is_null()) {
      doc.erase(c.key);
    } else {
      doc[c.key] = c.value;
    }
    auto ep = ParseTargetEndpoint(doc);
    ASSERT_FALSE(ep.ok()) << c.key;
    EXPECT_NE(ep.status().message().find(c.message), std::string::npos)
        << c.key << " → " << ep.status().message();
  }
}

TEST(CsvDelimiter, UnescapesBackslashForms) {
  struct Case {
    const char* given;
    const char* expected;  // nullptr: error
  };
  const Case cases[] = {
      {",", ","},     {"\\n", "\n"},  {"\\r\\n", "\r\n"}, {"\\t", "\t"}, {"\n", "\n"},
      {"\\\\", "\\"}, {"\\|", "\\|"}, {"||", "||"},       {"", nullptr},
  };
  for (const Case& c : cases) {
    auto r = UnescapeCsvDelimiter(c.given, "S3Settings.CsvDelimiter");
    if (c.expected == nullptr) {
      EXPECT_FALSE(r.ok()) << c.given;
    } else {
      ASSERT_TRUE(r.ok()) << c.given;
      EXPECT_EQ(*r, c.expected) << c.given;
    }
  }
}

}  // namespace
}  // namespace opendms::engine

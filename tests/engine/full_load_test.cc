// Full load against a real PostgreSQL: what lands, statistics, prep modes, mappings, and every
// bad-input case of the issue with its exact outcome.
#include <gtest/gtest.h>

#include "engine_fixture.h"

namespace opendms::engine {
namespace {

// Two tables: public.a (k INT4 pk, v STRING(20)) and public.b (same columns).
const char* kTwoTables = R"({"TableCount":2,"Tables":[
  {"TableName":"a","TablePath":"public/a/","TableOwner":"public","TableColumns":[
   {"ColumnName":"k","ColumnType":"INT4","ColumnIsPk":true},
   {"ColumnName":"v","ColumnType":"STRING","ColumnLength":20}],"TableColumnsTotal":2},
  {"TableName":"b","TablePath":"public/b/","TableOwner":"public","TableColumns":[
   {"ColumnName":"k","ColumnType":"INT4","ColumnIsPk":true},
   {"ColumnName":"v","ColumnType":"STRING","ColumnLength":20}],"TableColumnsTotal":2}]})";

class FullLoad : public EngineTest {
 protected:
  // After a resume of the 3000 orders of OrderObjects(): the table completed without a reload
  // (the marker row 99999, which a reload would drop, is still there) and holds every order once.
  void ExpectResumedWithoutReload(const TaskSnapshot& s) {
    ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
    EXPECT_EQ(s.tables[0].table_state, "Table completed");
    EXPECT_FALSE(s.tables[0].full_load_reloaded);
    EXPECT_EQ(s.tables[0].full_load_rows, 3000);
    EXPECT_EQ(Scalar("SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || sum(id) FROM "
                     "public.orders WHERE id < 99999"),
              "3000 3000 4501500");
    EXPECT_EQ(Scalar("SELECT count(*) FROM public.orders WHERE id = 99999"), "1");
  }
  std::string Exceptions(const std::string& column) {
    return Scalar("SELECT string_agg(\"" + column +
                  "\"::text, '|' ORDER BY \"LINE\") FROM public.awsdms_full_load_exceptions");
  }
};

TEST_F(FullLoad, LoadsObjectsInKeyOrderAndReportsDmsStatistics) {
  Put("public/orders/LOAD00000002.csv", "3,carol,3.50,2024-03-01\n");
  Put("public/orders/LOAD00000001.csv",
      "1,\"ann, a\",10.25,2024-01-31\n2,\"bo \"\"b\"\"\",-0.5,\n");
  TaskSnapshot s = Run(Source(kOrders), Task(IncludeAll()));
  EXPECT_EQ(s.status, "stopped");
  EXPECT_EQ(s.stop_reason, "Stop Reason FULL_LOAD_ONLY_FINISHED");
  EXPECT_EQ(s.full_load_progress_percent, 100);
  ASSERT_EQ(s.tables.size(), 1u);
  EXPECT_EQ(s.tables[0].table_state, "Table completed");
  EXPECT_EQ(s.tables[0].full_load_rows, 3);
  EXPECT_EQ(s.tables[0].full_load_error_rows, 0);
  EXPECT_TRUE(s.tables[0].full_load_start && s.tables[0].full_load_end);
  EXPECT_EQ(Scalar("SELECT string_agg(id || ':' || name || ':' || amount || ':' || "
                   "coalesce(day::text, 'NULL'), ' ' ORDER BY id) FROM public.orders"),
            "1:ann, a:10.25:2024-01-31 2:bo \"b\":-0.50:NULL 3:carol:3.50:2024-03-01");
  // The table is created as DMS creates it: quoted names, NOT NULL unless nullable, the PK.
  EXPECT_EQ(Scalar("SELECT string_agg(column_name || ' ' || data_type || ' ' || is_nullable, ', ' "
                   "ORDER BY ordinal_position) FROM information_schema.columns "
                   "WHERE table_name = 'orders'"),
            "id integer NO, name character varying NO, amount numeric NO, day date YES");
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND "
                   "conrelid = 'public.orders'::regclass"),
            "1");

  Json task_json = ReplicationTaskJson(definition_, s);
  EXPECT_EQ(task_json["Status"], "stopped");
  EXPECT_EQ(task_json["ReplicationTaskStats"]["TablesLoaded"], 1);
  EXPECT_EQ(task_json["ReplicationTaskStats"]["TablesErrored"], 0);
  Json settings = Json::parse(task_json["ReplicationTaskSettings"].get<std::string>());
  EXPECT_EQ(settings["FullLoadSettings"]["CommitRate"], 10000);  // merged over DMS's defaults
  Json stats = TableStatisticsJson(s);
  EXPECT_EQ(stats[0]["SchemaName"], "public");
  EXPECT_EQ(stats[0]["TableName"], "orders");
  EXPECT_EQ(stats[0]["FullLoadRows"], 3);
  EXPECT_EQ(stats[0]["TableState"], "Table completed");
  // The same statistics, with times as the aws CLI prints them or as the DMS wire carries them.
  ASSERT_TRUE(stats[0]["FullLoadStartTime"].is_string());
  EXPECT_TRUE(stats[0]["FullLoadStartTime"].get<std::string>().ends_with("+00:00"));
  Json wire = TableStatisticsJson(s, TimeFormat::kEpochSeconds);
  EXPECT_TRUE(wire[0]["FullLoadStartTime"].is_number());
  EXPECT_TRUE(wire[0]["FullLoadEndTime"].is_number());
  EXPECT_TRUE(wire[0]["LastUpdateTime"].is_number());
  EXPECT_GE(wire[0]["FullLoadEndTime"].get<double>(), wire[0]["FullLoadStartTime"].get<double>());
  wire[0].erase("FullLoadStartTime");
  wire[0].erase("FullLoadEndTime");
  wire[0].erase("LastUpdateTime");
  stats[0].erase("FullLoadStartTime");
  stats[0].erase("FullLoadEndTime");
  stats[0].erase("LastUpdateTime");
  EXPECT_EQ(wire, stats);
}

TEST_F(FullLoad, DialectSettingsPipeDelimiterCrlfHeaderAndLiteralQuotes) {
  Put("public/orders/LOAD1.csv", "id|name|amount|day\r\n1|say \"hi\"|1|\r\n2|x,y|2|2024-02-29\r\n");
  TaskSnapshot s = Run(Source(kOrders, {{"CsvDelimiter", "|"},
                                        {"CsvRowDelimiter", "\\r\\n"},
                                        {"IgnoreHeaderRows", "1"},
                                        {"Rfc4180", false}}),
                       Task(IncludeAll()));
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(Scalar("SELECT string_agg(name, '/' ORDER BY id) FROM public.orders"),
            "say \"hi\"/x,y");
}

TEST_F(FullLoad, TransformationsRenameLowercaseRemoveAndAddColumns) {
  Put("public/orders/LOAD1.csv", "1,ann,1.00,\n");
  std::string mappings = R"({"rules":[
    {"rule-type":"selection","rule-id":"1","rule-name":"sel","object-locator":{"schema-name":"public","table-name":"ord%"},"rule-action":"include"},
    {"rule-type":"transformation","rule-id":"2","rule-name":"s","rule-target":"schema","object-locator":{"schema-name":"public"},"rule-action":"rename","value":"sales"},
    {"rule-type":"transformation","rule-id":"3","rule-name":"t","rule-target":"table","object-locator":{"schema-name":"public","table-name":"orders"},"rule-action":"add-prefix","value":"stg_"},
    {"rule-type":"transformation","rule-id":"4","rule-name":"c","rule-target":"column","object-locator":{"schema-name":"public","table-name":"orders","column-name":"day"},"rule-action":"remove-column"},
    {"rule-type":"transformation","rule-id":"5","rule-name":"a","rule-target":"column","object-locator":{"schema-name":"public","table-name":"orders"},"rule-action":"add-column","value":"label","expression":"upper($name) || '-' || $id","data-type":{"type":"string","length":20}}]})";
  TaskSnapshot s = Run(Source(kOrders), Task(mappings));
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(Scalar("SELECT id || ' ' || name || ' ' || label FROM sales.stg_orders"),
            "1 ann ANN-1");
  EXPECT_EQ(Scalar("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'sales' "
                   "AND table_name = 'stg_orders' AND column_name = 'day'"),
            "0");
}

TEST_F(FullLoad, SelectionFiltersLeaveRowsOut) {
  Put("public/orders/LOAD1.csv", "1,ann,1.00,\n2,bo,20.00,\n3,cy,30.00,\n");
  std::string mappings = R"({"rules":[{"rule-type":"selection","rule-id":"1","rule-name":"big",
    "object-locator":{"schema-name":"public","table-name":"orders"},"rule-action":"include",
    "filters":[{"filter-type":"source","column-name":"amount","filter-conditions":[
      {"filter-operator":"gte","value":"10"}]}]}]})";
  TaskSnapshot s = Run(Source(kOrders), Task(mappings));
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(Scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM public.orders"), "2,3");
  EXPECT_EQ(s.tables[0].full_load_rows, 2);
}

TEST_F(FullLoad, TruncateBeforeLoadKeepsTheTableAndDoNothingAppends) {
  ASSERT_TRUE(conn()
                  .Execute("CREATE TABLE public.orders (id int PRIMARY KEY, name text, "
                           "amount numeric, day date, extra text DEFAULT 'kept');"
                           "INSERT INTO public.orders VALUES (99, 'old', 0, NULL)")
                  .ok());
  Put("public/orders/LOAD1.csv", "1,ann,1.00,\n");
  Json truncate = {{"FullLoadSettings", {{"TargetTablePrepMode", "TRUNCATE_BEFORE_LOAD"}}}};
  TaskSnapshot s = Run(Source(kOrders), Task(IncludeAll(), truncate));
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(Scalar("SELECT string_agg(id || extra, ',' ORDER BY id) FROM public.orders"), "1kept");

  Put("public/orders/LOAD1.csv", "2,bo,1.00,\n");
  Json nothing = {{"FullLoadSettings", {{"TargetTablePrepMode", "DO_NOTHING"}}}};
  s = Run(Source(kOrders), Task(IncludeAll(), nothing));
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(Scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM public.orders"), "1,2");
}

TEST_F(FullLoad, DoNothingOntoExistingKeysIsATableErrorNamingTheConflict) {
  Put("public/orders/LOAD1.csv", "1,ann,1.00,\n");
  ASSERT_EQ(Run(Source(kOrders), Task(IncludeAll())).status, "stopped");
  Json nothing = {{"FullLoadSettings", {{"TargetTablePrepMode", "DO_NOTHING"}}}};
  TaskSnapshot s = Run(Source(kOrders), Task(IncludeAll(), nothing));
  EXPECT_EQ(s.tables[0].table_state, "Table error");
  EXPECT_NE(s.tables[0].error_message.find("23505"), std::string::npos)
      << s.tables[0].error_message;
  EXPECT_EQ(s.status, "stopped");  // TableErrorPolicy SUSPEND_TABLE: the task goes on
}

TEST_F(FullLoad, CreatePkAfterFullLoadAddsTheKeyAtTheEnd) {
  Put("public/orders/LOAD1.csv", "1,ann,1.00,\n2,bo,2.00,\n");
  Json settings = {{"FullLoadSettings", {{"CreatePkAfterFullLoad", true}}}};
  TaskSnapshot s = Run(Source(kOrders), Task(IncludeAll(), settings));
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND "
                   "conrelid = 'public.orders'::regclass"),
            "1");
}

TEST_F(FullLoad, ManyTablesInParallelWithSmallCommitRate) {
  std::string a, b;
  for (int i = 1; i <= 2500; ++i) {
    a += std::to_string(i) + ",a" + std::to_string(i) + "\n";
    b += std::to_string(i) + ",b" + std::to_string(i) + "\n";
  }
  const size_t cut = a.find('\n', a.size() / 2) + 1;  // two objects of whole rows
  Put("public/a/1.csv", a.substr(0, cut));
  Put("public/a/2.csv", a.substr(cut));
  Put("public/b/1.csv", b);
  Json settings = {{"FullLoadSettings", {{"MaxFullLoadSubTasks", 2}, {"CommitRate", 300}}}};
  TaskSnapshot s = Run(Source(kTwoTables), Task(IncludeAll(), settings));
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(Stats(s, "a")->full_load_rows, 2500);
  EXPECT_EQ(Stats(s, "b")->full_load_rows, 2500);
  EXPECT_EQ(Scalar("SELECT count(*) FROM public.a"), "2500");
  EXPECT_EQ(Scalar("SELECT count(DISTINCT k) FROM public.b"), "2500");
  EXPECT_EQ(Scalar("SELECT table_state FROM public.opendms_full_load_checkpoints WHERE "
                   "table_name = 'a'"),
            "completed");
}

// ---- Bad input: structural errors fail the task ------------------------------------------

TEST_F(FullLoad, RowWithAFieldNotInTheDefinitionFailsTheTask) {
  Put("public/orders/LOAD1.csv", "1,ann,1.00,\n2,bo,2.00,2024-01-01,surprise\n");
  TaskSnapshot s = Run(Source(kOrders), Task(IncludeAll()));
  EXPECT_EQ(s.status, "failed");
  EXPECT_EQ(s.stop_reason, "Stop Reason FATAL_ERROR");
  EXPECT_NE(s.last_failure_message.find("s3://landing/public/orders/LOAD1.csv line 2, column 5"),
            std::string::npos)
      << s.last_failure_message;
  EXPECT_NE(s.last_failure_message.find("row has 5 fields"), std::string::npos);
  EXPECT_NE(s.last_failure_message.find("has 4 columns"), std::string::npos);
  EXPECT_EQ(s.tables[0].table_state, "Table error");
  // The batch holding the bad row is rolled back: nothing of it is applied.
  EXPECT_EQ(Scalar("SELECT count(*) FROM public.orders"), "0");
}

TEST_F(FullLoad, RowWithTooFewFieldsFailsTheTaskNamingTheMissingColumn) {
  Put("public/orders/LOAD1.csv", "1,ann,1.00,\n2,bo\n");
  TaskSnapshot s = Run(Source(kOrders), Task(IncludeAll()));
  EXPECT_EQ(s.status, "failed");
  EXPECT_NE(s.last_failure_message.find("LOAD1.csv line 2, column 3"), std::string::npos)
      << s.last_failure_message;
  EXPECT_NE(s.last_failure_message.find("amount is missing"), std::string::npos);
}

TEST_F(FullLoad, UnterminatedQuoteFailsTheTaskWithLineAndColumn) {
  Put("public/orders/LOAD1.csv", "1,ann,1.00,\n2,\"bo,2.00,\n3,x,1,\n");
  TaskSnapshot s = Run(Source(kOrders), Task(IncludeAll()));
  EXPECT_EQ(s.status, "failed");
  EXPECT_NE(s.last_failure_message.find("s3://landing/public/orders/LOAD1.csv line 2, column 2"),
            std::string::npos)
      << s.last_failure_message;
  EXPECT_NE(s.last_failure_message.find("UnterminatedQuote"), std::string::npos)
      << s.last_failure_message;
}

// ---- Bad input: data errors follow ErrorBehavior -------------------------------------------

struct DataErrorCase {
  const char* name;
  const char* bad_row;
  int column;
  const char* kind;
};

class FullLoadDataError : public FullLoad, public ::testing::WithParamInterface<DataErrorCase> {};

TEST_P(FullLoadDataError, LogErrorRejectsTheRowKeepsItAndLoadsTheRest) {
  const DataErrorCase& c = GetParam();
  Put("public/orders/LOAD1.csv", std::string("1,ann,1.00,\n") + c.bad_row + "\n3,cy,3.00,\n");
  TaskSnapshot s = Run(Source(kOrders), Task(IncludeAll()));
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(s.tables[0].table_state, "Table completed");
  EXPECT_EQ(s.tables[0].full_load_rows, 2);
  EXPECT_EQ(s.tables[0].full_load_error_rows, 1);
  EXPECT_EQ(Scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM public.orders"), "1,3");
  // The rejected row is kept with its bytes and where it came from.
  std::string hex;
  for (unsigned char ch : std::string(c.bad_row)) {
    hex += "0123456789abcdef"[ch >> 4];
    hex += "0123456789abcdef"[ch & 15];
  }
  EXPECT_EQ(Scalar("SELECT encode(\"RAW_ROW\", 'hex') FROM public.awsdms_full_load_exceptions"),
            hex);
  EXPECT_EQ(Exceptions("BUCKET") + " " + Exceptions("OBJECT_KEY") + " " + Exceptions("LINE") + " " +
                Exceptions("COLUMN_NUMBER") + " " + Exceptions("ERROR_KIND") + " " +
                Exceptions("POLICY"),
            std::string("landing public/orders/LOAD1.csv 2 ") + std::to_string(c.column) + " " +
                c.kind + " LOG_ERROR");
  EXPECT_NE(Exceptions("ERROR").find("s3://landing/public/orders/LOAD1.csv line 2, column " +
                                     std::to_string(c.column)),
            std::string::npos)
      << Exceptions("ERROR");
}

INSTANTIATE_TEST_SUITE_P(
    Cases, FullLoadDataError,
    ::testing::Values(DataErrorCase{"NotAnInteger", "abc,bo,2.00,", 1, "INVALID_VALUE"},
                      DataErrorCase{"ImpossibleDate", "2,bo,2.00,2024-13-45", 4, "INVALID_VALUE"},
                      DataErrorCase{"TooManyDigits", "2,bo,1234567.00,", 3, "OUT_OF_RANGE"},
                      DataErrorCase{"IntegerOverflow", "99999999999,bo,2.00,", 1, "OUT_OF_RANGE"},
                      DataErrorCase{"NullInNotNull", "2,,2.00,", 2, "NULL_NOT_ALLOWED"},
                      DataErrorCase{"InvalidUtf8", "2,b\xff\xfe,2.00,", 2, "INVALID_UTF8"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(FullLoad, TruncationUnderLogErrorLoadsTheCutValueAndKeepsTheOriginal) {
  Put("public/orders/LOAD1.csv", "1,abcdefghijKLM,1.00,\n");
  TaskSnapshot s = Run(Source(kOrders), Task(IncludeAll()));
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(Scalar("SELECT name FROM public.orders"), "abcdefghij");
  EXPECT_EQ(s.tables[0].full_load_rows, 1);
  EXPECT_EQ(s.tables[0].full_load_error_rows, 0);
  EXPECT_EQ(Exceptions("ERROR_KIND") + " " + Exceptions("LOADED"), "TRUNCATION true");
}

TEST_F(FullLoad, TruncationUnderIgnoreRecordSkipsTheRow) {
  Put("public/orders/LOAD1.csv", "1,abcdefghijKLM,1.00,\n2,ok,1.00,\n");
  Json settings = {{"ErrorBehavior", {{"DataTruncationErrorPolicy", "IGNORE_RECORD"}}}};
  TaskSnapshot s = Run(Source(kOrders), Task(IncludeAll(), settings));
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(Scalar("SELECT string_agg(id::text, ',') FROM public.orders"), "2");
  EXPECT_EQ(s.tables[0].full_load_error_rows, 1);
  EXPECT_EQ(Exceptions("POLICY") + " " + Exceptions("LOADED"), "IGNORE_RECORD false");
}

TEST_F(FullLoad, SuspendTablePolicyLeavesTheTableInErrorAndOtherTablesLoad) {
  Put("public/a/1.csv", "1,x\nbad,y\n3,z\n");
  Put("public/b/1.csv", "1,x\n2,y\n");
  Json settings = {{"ErrorBehavior", {{"DataErrorPolicy", "SUSPEND_TABLE"}}},
                   {"FullLoadSettings", {{"MaxFullLoadSubTasks", 1}}}};
  TaskSnapshot s = Run(Source(kTwoTables), Task(IncludeAll(), settings));
  EXPECT_EQ(s.status, "stopped");
  EXPECT_EQ(Stats(s, "a")->table_state, "Table error");
  EXPECT_NE(Stats(s, "a")->error_message.find("s3://landing/public/a/1.csv line 2, column 1"),
            std::string::npos)
      << Stats(s, "a")->error_message;
  EXPECT_EQ(Stats(s, "b")->table_state, "Table completed");
  EXPECT_EQ(Stats(s, "b")->full_load_rows, 2);
  EXPECT_EQ(s.TablesIn(kTableError), 1);
}

TEST_F(FullLoad, StopTaskPolicyFailsTheTask) {
  Put("public/orders/LOAD1.csv", "1,ann,1.00,\n2,bo,x,\n");
  Json settings = {{"ErrorBehavior", {{"DataErrorPolicy", "STOP_TASK"}}}};
  TaskSnapshot s = Run(Source(kOrders), Task(IncludeAll(), settings));
  EXPECT_EQ(s.status, "failed");
  EXPECT_EQ(s.stop_reason, "Stop Reason FATAL_ERROR");
  EXPECT_NE(s.last_failure_message.find("LOAD1.csv line 2, column 3"), std::string::npos)
      << s.last_failure_message;
}

TEST_F(FullLoad, DataErrorEscalationCountSuspendsTheTable) {
  Put("public/orders/LOAD1.csv", "1,ann,1.00,\nx,bo,2.00,\ny,cy,3.00,\n4,di,4.00,\n");
  Json settings = {{"ErrorBehavior", {{"DataErrorEscalationCount", 2}}}};
  TaskSnapshot s = Run(Source(kOrders), Task(IncludeAll(), settings));
  EXPECT_EQ(s.tables[0].table_state, "Table error");
  EXPECT_NE(s.tables[0].error_message.find("DataErrorEscalationCount (2) reached"),
            std::string::npos)
      << s.tables[0].error_message;
  // Both rejected rows are kept, whatever happened to the table.
  EXPECT_EQ(Scalar("SELECT count(*) FROM public.awsdms_full_load_exceptions"), "2");
}

TEST_F(FullLoad, EmptyObjectAndEmptyFolderLoadZeroRows) {
  Put("public/a/1.csv", "");
  TaskSnapshot s = Run(Source(kTwoTables), Task(IncludeAll()));
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(Stats(s, "a")->table_state, "Table completed");
  EXPECT_EQ(Stats(s, "a")->full_load_rows, 0);
  EXPECT_EQ(Stats(s, "b")->table_state, "Table completed");  // no objects at all
  EXPECT_EQ(Scalar("SELECT count(*) FROM public.b"), "0");
  EXPECT_EQ(s.full_load_progress_percent, 100);
}

TEST_F(FullLoad, TheTaskLogSinkGetsTheEngineLinesWithTheirComponents) {
  Put("public/a/1.csv", "1,x\nbad,y\n");  // public/b has no objects
  TaskLogRecorder log;
  log_sink_ = log.Sink();
  TaskSnapshot s = Run(Source(kTwoTables), Task(IncludeAll()));
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_TRUE(log.Has("TASK_MANAGER I", "start-replication full load of 2 tables"));
  EXPECT_TRUE(
      log.Has("SOURCE_UNLOAD W", "table public.b has no objects under s3://landing/public/b/"));
  EXPECT_TRUE(log.Has("TARGET_LOAD W", "s3://landing/public/a/1.csv line 2, column 1"));
  EXPECT_TRUE(log.Has("TARGET_LOAD W",
                      "LOG_ERROR; row rejected kept in public.awsdms_full_load_exceptions"));
  EXPECT_TRUE(log.Has("TARGET_LOAD I", "completed: 1 rows loaded, 1 rejected"));
  // The sink gets the message alone: the server adds time, component and severity.
  for (const std::string& line : log.lines()) {
    EXPECT_EQ(line.find("test-task"), std::string::npos) << line;
  }
}

TEST_F(FullLoad, MalformedDefinitionsAreRejectedBeforeAnythingRuns) {
  auto bad_json = Define(Source("{\"TableCount\": 1, \"Tables\": ["), Task(IncludeAll()));
  ASSERT_FALSE(bad_json.ok());
  EXPECT_NE(bad_json.status().message().find("ExternalTableDefinition"), std::string::npos);

  std::string wrong_total = kOrders;
  wrong_total.replace(wrong_total.find("\"TableColumnsTotal\":\"4\""), 23,
                      "\"TableColumnsTotal\":\"5\"");
  auto bad_total = Define(Source(wrong_total), Task(IncludeAll()));
  ASSERT_FALSE(bad_total.ok());
  EXPECT_NE(bad_total.status().message().find("TableColumnsTotal"), std::string::npos)
      << bad_total.status().message();

  auto bad_mappings = Define(Source(kOrders), Task("{\"rules\": [{\"rule-type\": \"selection\"}"));
  ASSERT_FALSE(bad_mappings.ok());
  EXPECT_NE(bad_mappings.status().message().find("TableMappings"), std::string::npos);

  auto bad_prep =
      Define(Source(kOrders),
             Task(IncludeAll(), {{"FullLoadSettings", {{"TargetTablePrepMode", "DROP"}}}}));
  ASSERT_FALSE(bad_prep.ok());
  EXPECT_NE(bad_prep.status().message().find("TargetTablePrepMode"), std::string::npos);
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "0");
}

// ---- Resume ----------------------------------------------------------------------------------

TEST_F(FullLoad, ResumeProcessingOfATaskThatNeverRanIsRefused) {
  Put("public/orders/LOAD1.csv", "1,ann,1.00,\n");
  auto def = Define(Source(kOrders), Task(IncludeAll()));
  ASSERT_TRUE(def.ok());
  RunOptions options;
  options.start_type = StartType::kResumeProcessing;
  ReplicationTask task(*def, *store_, options);
  auto r = task.Run();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalidState());
  EXPECT_NE(r.status().message().find("start-replication"), std::string::npos);
}

// Reads of objects whose key contains `key_part` fail after `after_bytes` bytes.
void ArmReadFailure(objectstore::FaultInjectingStore& faulty, const std::string& key_part,
                    uint64_t after_bytes) {
  objectstore::FaultSpec fault;
  fault.kind = objectstore::FaultSpec::Kind::kFailRead;
  fault.key_substring = key_part;
  fault.after_bytes = after_bytes;
  faulty.Arm(fault);
}

// 3000 orders (ids 1..3000) in `parts` objects of whole rows, LOAD1.csv, LOAD2.csv, …
std::vector<std::string> OrderObjects(int parts) {
  std::string data;
  for (int i = 1; i <= 3000; ++i) data += std::to_string(i) + ",n" + std::to_string(i) + ",1.00,\n";
  std::vector<std::string> out;
  size_t from = 0;
  for (int p = 1; p <= parts; ++p) {
    size_t to = p == parts ? data.size() : data.find('\n', data.size() * p / parts) + 1;
    out.push_back(data.substr(from, to - from));
    from = to;
  }
  return out;
}

TEST_F(FullLoad, ResumeAfterAReadFailureContinuesAtTheNextRowExactlyOnce) {
  std::vector<std::string> parts = OrderObjects(2);
  Put("public/orders/LOAD1.csv", parts[0]);
  Put("public/orders/LOAD2.csv", parts[1]);
  objectstore::FaultInjectingStore faulty(*store_);
  ArmReadFailure(faulty, "LOAD2",
                 20000);  // past the first commit of LOAD2's rows (4 KiB reads below)
  Json settings = {{"FullLoadSettings", {{"CommitRate", 500}}}};
  read_buffer_bytes_ = 4096;  // so that rows of LOAD2 are committed before the fault
  TaskSnapshot s =
      Run(Source(kOrders), Task(IncludeAll(), settings), StartType::kStartReplication, &faulty);
  ASSERT_EQ(s.tables[0].table_state, "Table error") << s.last_failure_message;
  EXPECT_NE(s.tables[0].error_message.find("LOAD2.csv failed after 20000 bytes"), std::string::npos)
      << s.tables[0].error_message;
  const int64_t loaded_before = s.tables[0].full_load_rows;
  EXPECT_GT(loaded_before, 1500);  // LOAD1 and part of LOAD2 were committed
  EXPECT_LT(loaded_before, 3000);
  EXPECT_EQ(Scalar("SELECT count(*) FROM public.orders"), std::to_string(loaded_before));
  // A row only a reload (DROP_AND_CREATE) would remove: the resume must keep it.
  ASSERT_TRUE(conn().Execute("INSERT INTO public.orders VALUES (99999, 'marker', 0)").ok());

  faulty.Clear();
  s = Run(Source(kOrders), Task(IncludeAll(), settings), StartType::kResumeProcessing, &faulty);
  ExpectResumedWithoutReload(s);
}

TEST_F(FullLoad, SlicesOfOneTableLoadInParallelAndCompleteItOnce) {
  std::vector<std::string> parts = OrderObjects(6);
  for (size_t i = 0; i < parts.size(); ++i)
    Put("public/orders/LOAD" + std::to_string(i + 1) + ".csv", parts[i]);
  min_slice_bytes_ = 1;  // one slice per object
  Json settings = {
      {"FullLoadSettings",
       {{"MaxFullLoadSubTasks", 3}, {"CommitRate", 200}, {"CreatePkAfterFullLoad", true}}}};
  TaskSnapshot s = Run(Source(kOrders), Task(IncludeAll(), settings));
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(s.stop_reason, "Stop Reason FULL_LOAD_ONLY_FINISHED");
  EXPECT_EQ(s.tables[0].table_state, "Table completed");
  EXPECT_EQ(s.tables[0].full_load_rows, 3000);
  EXPECT_EQ(s.tables[0].objects_done, 6);
  EXPECT_EQ(s.full_load_progress_percent, 100);
  EXPECT_EQ(
      Scalar("SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || sum(id) FROM public.orders"),
      "3000 3000 4501500");
  EXPECT_EQ(Scalar("SELECT count(*) || ' ' || sum(rows_loaded) || ' ' || string_agg(DISTINCT "
                   "table_state, ',') FROM public.opendms_full_load_checkpoints"),
            "6 3000 completed");
  // The last slice to complete added the primary key, once.
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND "
                   "conrelid = 'public.orders'::regclass"),
            "1");
}

TEST_F(FullLoad, ResumeOfASlicedTableContinuesEverySliceExactlyOnce) {
  std::vector<std::string> parts = OrderObjects(4);
  for (size_t i = 0; i < parts.size(); ++i)
    Put("public/orders/LOAD" + std::to_string(i + 1) + ".csv", parts[i]);
  objectstore::FaultInjectingStore faulty(*store_);
  ArmReadFailure(faulty, "LOAD3", 9000);
  min_slice_bytes_ = 1;
  read_buffer_bytes_ = 4096;
  Json settings = {{"FullLoadSettings", {{"MaxFullLoadSubTasks", 2}, {"CommitRate", 100}}}};
  TaskSnapshot s =
      Run(Source(kOrders), Task(IncludeAll(), settings), StartType::kStartReplication, &faulty);
  ASSERT_EQ(s.tables[0].table_state, "Table error") << s.last_failure_message;
  EXPECT_NE(s.tables[0].error_message.find("LOAD3.csv failed after 9000 bytes"), std::string::npos)
      << s.tables[0].error_message;
  EXPECT_LT(s.tables[0].full_load_rows, 3000);
  EXPECT_EQ(Scalar("SELECT count(*) FROM public.orders"),
            std::to_string(s.tables[0].full_load_rows));
  ASSERT_TRUE(conn().Execute("INSERT INTO public.orders VALUES (99999, 'marker', 0)").ok());

  faulty.Clear();
  s = Run(Source(kOrders), Task(IncludeAll(), settings), StartType::kResumeProcessing, &faulty);
  ExpectResumedWithoutReload(s);
  EXPECT_EQ(s.tables[0].objects_done, 4);
}

TEST_F(FullLoad, ResumeReloadsATableWhoseObjectsChangedSinceItsLoadWasPlanned) {
  std::vector<std::string> parts = OrderObjects(2);
  Put("public/orders/LOAD1.csv", parts[0]);
  Put("public/orders/LOAD2.csv", parts[1]);
  objectstore::FaultInjectingStore faulty(*store_);
  ArmReadFailure(faulty, "LOAD2", 9000);
  read_buffer_bytes_ = 4096;
  Json settings = {{"FullLoadSettings", {{"CommitRate", 100}}}};
  TaskSnapshot s =
      Run(Source(kOrders), Task(IncludeAll(), settings), StartType::kStartReplication, &faulty);
  ASSERT_EQ(s.tables[0].table_state, "Table error");
  ASSERT_TRUE(conn().Execute("INSERT INTO public.orders VALUES (99999, 'marker', 0)").ok());
  // LOAD1 is rewritten with one row fewer (a new ETag): the loaded rows no longer match it.
  Put("public/orders/LOAD1.csv", parts[0].substr(parts[0].find('\n') + 1));

  faulty.Clear();
  s = Run(Source(kOrders), Task(IncludeAll(), settings), StartType::kResumeProcessing, &faulty);
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(s.tables[0].table_state, "Table completed");
  EXPECT_TRUE(s.tables[0].full_load_reloaded);
  EXPECT_EQ(s.tables[0].full_load_rows, 2999);
  EXPECT_EQ(Scalar("SELECT count(*) || ' ' || min(id) || ' ' || max(id) FROM public.orders"),
            "2999 2 3000");  // dropped and loaded again: the marker is gone
}

TEST_F(FullLoad, ResumeKeepsCompletedTablesAndReloadStartsOver) {
  Put("public/a/1.csv", "1,x\n");
  Put("public/b/1.csv", "1,x\n");
  ASSERT_EQ(Run(Source(kTwoTables), Task(IncludeAll())).status, "stopped");
  ASSERT_TRUE(conn().Execute("INSERT INTO public.a VALUES (100, 'added by hand')").ok());
  TaskSnapshot s = Run(Source(kTwoTables), Task(IncludeAll()), StartType::kResumeProcessing);
  EXPECT_EQ(s.status, "stopped");
  EXPECT_EQ(Stats(s, "a")->table_state, "Table completed");
  EXPECT_EQ(Scalar("SELECT count(*) FROM public.a"), "2");  // untouched
  s = Run(Source(kTwoTables), Task(IncludeAll()), StartType::kReloadTarget);
  EXPECT_EQ(s.status, "stopped");
  EXPECT_EQ(Scalar("SELECT count(*) FROM public.a"), "1");  // dropped and loaded again
}

}  // namespace
}  // namespace opendms::engine

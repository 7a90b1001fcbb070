// Change processing against a real PostgreSQL: apply semantics (batch and transactional), the
// ledger and position, late and overwritten objects, apply error policies, structural errors
// and the two recovery paths of the reference lab.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "engine_fixture.h"

namespace opendms::engine {
namespace {

class Cdc : public EngineTest, public ::testing::WithParamInterface<bool> {
 protected:
  Json CdcSource(const char* definition = kOrders) const {
    return Source(definition, {{"CdcPath", "changes"}});
  }
  Json CdcTask(Json settings = Json::object(), const std::string& id = "cdc-task",
               const std::string& type = "cdc") const {
    settings["TargetMetadata"]["BatchApplyEnabled"] = GetParam();
    if (!settings.contains("FullLoadSettings")) {
      settings["FullLoadSettings"]["TargetTablePrepMode"] = "DROP_AND_CREATE";
    }
    return Task(IncludeAll(), settings, id, type);
  }
  std::string Orders() {
    return Scalar(
        "SELECT coalesce(string_agg(id || ':' || name || ':' || amount || ':' || "
        "coalesce(day::text, '-'), ' ' ORDER BY id), '') FROM public.orders");
  }
};

TEST_P(Cdc, AppliesInsertsUpdatesAndDeletesInKeyOrder) {
  Put("changes/CDC0001.csv",
      "I,orders,public,1,ann,1.00,\nI,orders,public,2,bo,2.00,2024-01-02\n"
      "INSERT,orders,public,3,cy,3.00,\n");
  Put("changes/CDC0002.csv",
      "u,orders,public,2,bob,20.50,2024-02-02\ndelete,orders,public,3,cy,3.00,\n"
      "I,orders,public,4,di,4.00,\n");
  // Within one object (and one batch): insert, update, delete of the same key nets to nothing;
  // update-then-update keeps the last image.
  Put("changes/CDC0003.csv",
      "I,orders,public,5,ed,5.00,\nU,orders,public,5,ed2,5.00,\n"
      "D,orders,public,5,ed2,5.00,\nU,orders,public,1,ann2,1.50,\n"
      "U,orders,public,1,ann3,1.75,\n");
  TaskSnapshot s = Run(CdcSource(), CdcTask());
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(s.stop_reason, "Stop Reason NORMAL");
  EXPECT_EQ(Orders(), "1:ann3:1.75:- 2:bob:20.50:2024-02-02 4:di:4.00:-");
  EXPECT_EQ(s.tables[0].inserts, 5);
  EXPECT_EQ(s.tables[0].updates, 4);
  EXPECT_EQ(s.tables[0].deletes, 2);
  EXPECT_EQ(s.cdc.objects_applied, 3);
  EXPECT_EQ(s.cdc.changes_applied, 11);
  EXPECT_EQ(s.recovery_checkpoint.rfind("checkpoint:V1#S3#changes/CDC0003.csv#", 0), 0u)
      << s.recovery_checkpoint;
  EXPECT_EQ(Scalar("SELECT string_agg(object_key || ':' || rows || ':' || outcome, ' ' ORDER BY "
                   "object_key) FROM public.opendms_cdc_ledger"),
            "changes/CDC0001.csv:3:applied changes/CDC0002.csv:3:applied "
            "changes/CDC0003.csv:5:applied");
}

TEST_P(Cdc, ResumeAppliesOnlyWhatIsNewExactlyOnce) {
  Put("changes/CDC0001.csv", "I,orders,public,1,ann,1.00,\nI,orders,public,2,bo,2.00,\n");
  ASSERT_EQ(Run(CdcSource(), CdcTask()).status, "stopped");
  Put("changes/CDC0002.csv", "I,orders,public,3,cy,3.00,\nU,orders,public,1,ann2,1.00,\n");
  TaskSnapshot s = Run(CdcSource(), CdcTask(), StartType::kResumeProcessing);
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(Orders(), "1:ann2:1.00:- 2:bo:2.00:- 3:cy:3.00:-");
  EXPECT_EQ(s.cdc.objects_applied, 1);  // CDC0001 was not read again
  EXPECT_EQ(Scalar("SELECT count(*) FROM public.awsdms_apply_exceptions"), "0");
}

TEST_P(Cdc, FullLoadAndCdcLoadsTablesThenAppliesChangeObjects) {
  Put("public/orders/LOAD1.csv", "1,ann,1.00,\n2,bo,2.00,\n");
  Put("changes/CDC0001.csv", "U,orders,public,2,bob,2.50,\nI,orders,public,3,cy,3.00,\n");
  TaskSnapshot s = Run(CdcSource(), CdcTask({}, "flc", "full-load-and-cdc"));
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(s.stop_reason, "Stop Reason NORMAL");
  EXPECT_EQ(s.tables[0].table_state, "Table completed");
  EXPECT_EQ(s.tables[0].full_load_rows, 2);
  EXPECT_TRUE(s.full_load_finish_date.has_value());
  EXPECT_EQ(Orders(), "1:ann:1.00:- 2:bob:2.50:- 3:cy:3.00:-");
}

TEST_P(Cdc, ARowWithAnUndefinedFieldFailsTheTaskAndNothingOfItsObjectIsApplied) {
  Put("changes/CDC0001.csv", "I,orders,public,1,ann,1.00,\n");
  Put("changes/CDC0002.csv", "I,orders,public,2,bo,2.00,\nI,orders,public,3,cy,3.00,,surprise\n");
  Put("changes/CDC0003.csv", "I,orders,public,4,di,4.00,\n");
  TaskSnapshot s = Run(CdcSource(), CdcTask());
  ASSERT_EQ(s.status, "failed");
  EXPECT_EQ(s.stop_reason, "Stop Reason FATAL_ERROR");
  for (const char* part : {"s3://landing/changes/CDC0002.csv", "line 2", "has 8 fields",
                           "expected 7", "field 8 is not defined"}) {
    EXPECT_NE(s.last_failure_message.find(part), std::string::npos)
        << part << " in: " << s.last_failure_message;
  }
  EXPECT_EQ(Orders(), "1:ann:1.00:-");  // CDC0001 only: nothing of CDC0002, nothing after it
  EXPECT_EQ(s.recovery_checkpoint.rfind("checkpoint:V1#S3#changes/CDC0001.csv#", 0), 0u);

  // Recovery A: the bad object is deleted, more good objects land, the task resumes.
  ASSERT_TRUE(store_->Delete("landing", "changes/CDC0002.csv").ok());
  Put("changes/CDC0004.csv", "U,orders,public,1,ann2,1.00,\n");
  s = Run(CdcSource(), CdcTask(), StartType::kResumeProcessing);
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(Orders(), "1:ann2:1.00:- 4:di:4.00:-");
  EXPECT_EQ(s.tables[0].inserts, 1);
  EXPECT_EQ(s.tables[0].updates, 1);
}

TEST_P(Cdc, ANewTaskStartsAtTheFailedTasksRecoveryCheckpoint) {
  Put("changes/CDC0001.csv", "I,orders,public,1,ann,1.00,\n");
  Put("changes/CDC0002.csv", "X,orders,public,2,bo,2.00,\n");  // unknown operation
  TaskSnapshot failed = Run(CdcSource(), CdcTask());
  ASSERT_EQ(failed.status, "failed");
  EXPECT_NE(failed.last_failure_message.find("unknown operation 'X'"), std::string::npos)
      << failed.last_failure_message;
  ASSERT_FALSE(failed.recovery_checkpoint.empty());

  ASSERT_TRUE(store_->Delete("landing", "changes/CDC0002.csv").ok());
  Put("changes/CDC0003.csv", "I,orders,public,3,cy,3.00,\n");
  Json settings = {{"FullLoadSettings", {{"TargetTablePrepMode", "DO_NOTHING"}}}};
  Json task = CdcTask(settings, "replacement");
  task["CdcStartPosition"] = failed.recovery_checkpoint;
  TaskSnapshot s = Run(CdcSource(), task);
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(Orders(), "1:ann:1.00:- 3:cy:3.00:-");
  EXPECT_EQ(s.cdc.objects_applied, 1);
  EXPECT_EQ(s.cdc.late_objects, 0);  // CDC0001 is before the start, not late
}

TEST_P(Cdc, ALateObjectIsAppliedAndReportedByDefault) {
  Put("changes/CDC0001.csv", "I,orders,public,1,ann,1.00,\n");
  Put("changes/CDC0003.csv", "I,orders,public,3,cy,3.00,\n");
  ASSERT_EQ(Run(CdcSource(), CdcTask()).status, "stopped");
  Put("changes/CDC0002.csv", "I,orders,public,2,bo,2.00,\n");  // sorts before CDC0003
  TaskSnapshot s = Run(CdcSource(), CdcTask(), StartType::kResumeProcessing);
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(s.cdc.late_objects, 1);
  EXPECT_EQ(Orders(), "1:ann:1.00:- 2:bo:2.00:- 3:cy:3.00:-");
  EXPECT_EQ(Scalar("SELECT outcome FROM public.opendms_cdc_ledger WHERE object_key = "
                   "'changes/CDC0002.csv'"),
            "applied-late");
  // The position did not move back.
  EXPECT_EQ(s.recovery_checkpoint.rfind("checkpoint:V1#S3#changes/CDC0003.csv#", 0), 0u);
}

TEST_P(Cdc, LateAndOverwrittenObjectsUnderSkipAndStopTask) {
  Put("changes/CDC0001.csv", "I,orders,public,1,ann,1.00,\n");
  Put("changes/CDC0003.csv", "I,orders,public,3,cy,3.00,\n");
  ASSERT_EQ(Run(CdcSource(), CdcTask()).status, "stopped");
  Put("changes/CDC0002.csv", "I,orders,public,2,bo,2.00,\n");
  Put("changes/CDC0001.csv", "I,orders,public,9,new,9.00,\n");  // overwritten after apply
  Json skip = {{"OpendmsSettings", {{"LateChangeObjectPolicy", "SKIP"}}}};
  TaskLogRecorder log;
  log_sink_ = log.Sink();
  TaskSnapshot s = Run(CdcSource(), CdcTask(skip), StartType::kResumeProcessing);
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_TRUE(log.Has("SOURCE_CAPTURE I", "change processing from s3://landing/changes/"));
  EXPECT_TRUE(log.Has("SOURCE_CAPTURE W", "s3://landing/changes/CDC0002.csv landed late"));
  EXPECT_TRUE(log.Has("SOURCE_CAPTURE W", "skipped (OpendmsSettings.LateChangeObjectPolicy SKIP)"));
  EXPECT_EQ(s.cdc.late_objects, 1);
  EXPECT_EQ(s.cdc.overwritten_objects, 1);
  EXPECT_EQ(s.cdc.skipped_objects, 2);
  EXPECT_EQ(Orders(), "1:ann:1.00:- 3:cy:3.00:-");
  EXPECT_EQ(Scalar("SELECT string_agg(outcome, ',' ORDER BY outcome) FROM "
                   "public.opendms_cdc_ledger WHERE outcome LIKE 'skipped%'"),
            "skipped-late,skipped-overwritten");

  Put("changes/CDC0000.csv", "I,orders,public,7,late,7.00,\n");
  Json stop = {{"OpendmsSettings", {{"LateChangeObjectPolicy", "STOP_TASK"}}}};
  s = Run(CdcSource(), CdcTask(stop), StartType::kResumeProcessing);
  ASSERT_EQ(s.status, "failed");
  EXPECT_NE(s.last_failure_message.find("s3://landing/changes/CDC0000.csv landed late"),
            std::string::npos)
      << s.last_failure_message;
}

TEST_P(Cdc, ApplyErrorPoliciesDecideAndRecordInApplyExceptions) {
  Put("public/orders/LOAD1.csv", "1,ann,1.00,\n");
  // Insert of an existing key; update and delete of a missing one.
  Put("changes/CDC0001.csv",
      "I,orders,public,1,dup,9.00,\nU,orders,public,5,ghost,5.00,\n"
      "D,orders,public,6,gone,6.00,\nI,orders,public,2,bo,2.00,\n");
  TaskSnapshot s = Run(CdcSource(), CdcTask({}, "pol", "full-load-and-cdc"));
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  // Defaults: insert LOG_ERROR, update LOG_ERROR, delete IGNORE_RECORD.
  EXPECT_EQ(Orders(), "1:ann:1.00:- 2:bo:2.00:-");
  EXPECT_EQ(s.tables[0].apply_errors, 3);
  EXPECT_EQ(Scalar("SELECT string_agg(\"STATEMENT\", ' | ' ORDER BY \"STATEMENT\") FROM "
                   "public.awsdms_apply_exceptions"),
            "INSERT INTO \"public\".\"orders\" (\"id\", \"name\", \"amount\", \"day\") VALUES "
            "('1', 'dup', '9.00', NULL) | UPDATE \"public\".\"orders\" SET \"id\" = '5', "
            "\"name\" = 'ghost', \"amount\" = '5.00', \"day\" = NULL WHERE \"id\" = '5'");

  // INSERT_RECORD and UPDATE_RECORD turn them into upserts.
  Json upsert = {
      {"ErrorBehavior",
       {{"ApplyErrorInsertPolicy", "INSERT_RECORD"}, {"ApplyErrorUpdatePolicy", "UPDATE_RECORD"}}}};
  s = Run(CdcSource(), CdcTask(upsert, "pol2", "full-load-and-cdc"));
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(Orders(), "1:dup:9.00:- 2:bo:2.00:- 5:ghost:5.00:-");

  // STOP_TASK fails the task and applies nothing of the batch.
  Json stop = {{"ErrorBehavior", {{"ApplyErrorInsertPolicy", "STOP_TASK"}}}};
  s = Run(CdcSource(), CdcTask(stop, "pol3", "full-load-and-cdc"));
  ASSERT_EQ(s.status, "failed");
  EXPECT_NE(s.last_failure_message.find("ApplyErrorInsertPolicy STOP_TASK"), std::string::npos)
      << s.last_failure_message;
  EXPECT_EQ(Orders(), "1:ann:1.00:-");
}

TEST_P(Cdc, TablesWithoutAPrimaryKeyApplyChangeByChange) {
  Put("changes/CDC0001.csv",
      "I,notes,public,1,a\nI,notes,public,1,a\nI,notes,public,2,b\nD,notes,public,1,a\n"
      "I,orders,public,1,ann,1.00,\n");
  TaskSnapshot s = Run(CdcSource(kOrdersAndNotes), CdcTask());
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(Scalar("SELECT string_agg(n || text, ' ' ORDER BY n) FROM public.notes"), "1a 2b");
  EXPECT_EQ(Orders(), "1:ann:1.00:-");
}

TEST_P(Cdc, ValueErrorsFollowDataErrorPolicyAndRowsForOtherTablesAreCounted) {
  Put("changes/CDC0001.csv",
      "I,orders,public,1,ann,abc,\nI,orders,public,2,bo,2.00,\n"
      "I,unknown,public,1,x\n");
  TaskSnapshot s = Run(CdcSource(), CdcTask());
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(Orders(), "2:bo:2.00:-");
  EXPECT_EQ(s.cdc.rows_for_other_tables, 1);
  EXPECT_NE(Scalar("SELECT \"ERROR\" FROM public.awsdms_apply_exceptions")
                .find("s3://landing/changes/CDC0001.csv line 1, column 6 (amount)"),
            std::string::npos);
}

TEST_P(Cdc, ObjectsLandingWhileTheTaskRunsArePickedUp) {
  auto def = Define(CdcSource(), CdcTask());
  ASSERT_TRUE(def.ok());
  RunOptions options;
  options.cdc_poll_interval_ms = 10;
  ReplicationTask task(*def, *store_, options);
  TaskSnapshot result;
  std::thread runner([&] { result = *task.Run(); });
  for (int i = 1; i <= 30; ++i) {
    char key[64];
    std::snprintf(key, sizeof key, "changes/CDC%04d.csv", i);
    Put(key, "I," + std::string("orders,public,") + std::to_string(i) + ",n,1.00,\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (int i = 0; i < 500 && task.Snapshot().cdc.objects_applied < 30; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  task.RequestStop();
  runner.join();
  ASSERT_EQ(result.status, "stopped") << result.last_failure_message;
  EXPECT_EQ(Scalar("SELECT count(*) || ' ' || sum(id) FROM public.orders"), "30 465");
  EXPECT_EQ(result.cdc.latency_ms.size(), 30u);
}

TEST_P(Cdc, AWakeSignalMakesTheIdleLoopListAtOnce) {
  auto def = Define(CdcSource(), CdcTask());
  ASSERT_TRUE(def.ok());
  RunOptions options;
  options.cdc_poll_interval_ms = 30000;  // without a wake, nothing new is seen for 30 s
  options.wake = std::make_shared<WakeSignal>();
  ReplicationTask task(*def, *store_, options);
  TaskSnapshot result;
  std::thread runner([&] { result = *task.Run(); });
  auto applied = [&](int64_t n, int ms) {
    for (int i = 0; i < ms / 10; ++i) {
      if (task.Snapshot().cdc.objects_applied >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  };
  // Let the loop go idle (first listing done), then land an object without a wake: unseen.
  for (int i = 0; i < 300 && !task.Snapshot().cdc.active; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Put("changes/CDC0001.csv", "I,orders,public,1,ann,1.00,\n");
  EXPECT_FALSE(applied(1, 1000));
  options.wake->Notify();
  EXPECT_TRUE(applied(1, 2000));
  Put("changes/CDC0002.csv", "I,orders,public,2,bo,2.00,\n");
  options.wake->Notify();
  EXPECT_TRUE(applied(2, 2000));
  const auto stop_asked = std::chrono::steady_clock::now();
  task.RequestStop();  // wakes the loop too: no 30 s wait
  runner.join();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_asked, std::chrono::seconds(5));
  ASSERT_EQ(result.status, "stopped") << result.last_failure_message;
  EXPECT_EQ(Orders(), "1:ann:1.00:- 2:bo:2.00:-");
}

TEST_P(Cdc, DmsOptionalControlTablesWhenEnabled) {
  Put("changes/CDC0001.csv", "I,orders,public,1,ann,1.00,\nI,orders,public,2,bo,2.00,\n");
  Put("changes/CDC0002.csv", "U,orders,public,7,ghost,1.00,\n");  // no such row
  Json settings = {{"TargetMetadata", {{"TaskRecoveryTableEnabled", true}}},
                   {"ControlTablesSettings",
                    {{"StatusTableEnabled", true},
                     {"SuspendedTablesTableEnabled", true},
                     {"HistoryTableEnabled", true}}},
                   {"ErrorBehavior", {{"ApplyErrorUpdatePolicy", "SUSPEND_TABLE"}}}};
  TaskSnapshot s = Run(CdcSource(), CdcTask(settings));
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(s.tables[0].table_state, "Table error");
  EXPECT_EQ(Scalar("SELECT \"CHECKPOINT\" FROM public.awsdms_txn_state WHERE \"TASK_NAME\" = "
                   "'cdc-task'"),
            s.recovery_checkpoint);
  EXPECT_EQ(Scalar("SELECT task_status || ' ' || source_current_position FROM "
                   "public.awsdms_status WHERE task_name = 'cdc-task'"),
            "CHANGE PROCESSING changes/CDC0002.csv");
  EXPECT_EQ(Scalar("SELECT timeslot_type || ' ' || sum(timeslot_records) FROM "
                   "public.awsdms_history GROUP BY timeslot_type"),
            "CHANGE PROCESSING 2");
  EXPECT_EQ(Scalar("SELECT table_owner || '.' || table_name || ' ' || suspend_reason FROM "
                   "public.awsdms_suspended_tables"),
            "public.orders APPLY_ERROR");
  EXPECT_EQ(Orders(), "1:ann:1.00:- 2:bo:2.00:-");
}

TEST_P(Cdc, CdcStartTimeAndCommitTimeStopChooseObjectsByLastModified) {
  Put("changes/CDC0001.csv", "I,orders,public,1,ann,1.00,\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const std::string between = FormatIso8601(Clock::Now());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  Put("changes/CDC0002.csv", "I,orders,public,2,bo,2.00,\n");

  Json from = CdcTask();
  from["CdcStartTime"] = between;
  TaskSnapshot s = Run(CdcSource(), from);
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(Orders(), "2:bo:2.00:-");  // CDC0001 was modified before the start time

  Json until = CdcTask({}, "until");
  until["CdcStopPosition"] = "commit_time:" + between;
  s = Run(CdcSource(), until);
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(s.stop_reason, "Stop Reason STOPPED_AT_COMMIT_TIME");
  EXPECT_EQ(Orders(), "1:ann:1.00:-");  // DROP_AND_CREATE, then CDC0001 only
}

TEST_P(Cdc, ServerTimeStopPositionStopsTheTaskAtThatTime) {
  Put("changes/CDC0001.csv", "I,orders,public,1,ann,1.00,\n");
  until_idle_seconds_ = 0;  // only the stop position ends it
  Json task = CdcTask();
  task["CdcStopPosition"] =
      "server_time:" + FormatIso8601(Clock::Now() + std::chrono::milliseconds(600));
  TaskSnapshot s = Run(CdcSource(), task);
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(s.stop_reason, "Stop Reason STOPPED_AT_SERVER_TIME");
  EXPECT_EQ(Orders(), "1:ann:1.00:-");
}

TEST_P(Cdc, ApplyErrorEscalationCountEscalatesToItsPolicy) {
  Put("public/orders/LOAD1.csv", "1,ann,1.00,\n2,bo,2.00,\n");
  Put("changes/CDC0001.csv", "I,orders,public,1,dup,9.00,\n");
  Put("changes/CDC0002.csv", "I,orders,public,2,dup,9.00,\nI,orders,public,3,cy,3.00,\n");
  Json settings = {{"ErrorBehavior",
                    {{"ApplyErrorEscalationCount", 2}, {"ApplyErrorEscalationPolicy", "STOP_TASK"}}},
                   {"ChangeProcessingTuning", {{"BatchSplitSize", 1}, {"MinTransactionSize", 1}}}};
  TaskSnapshot s = Run(CdcSource(), CdcTask(settings, "esc", "full-load-and-cdc"));
  ASSERT_EQ(s.status, "failed");
  EXPECT_NE(s.last_failure_message.find("ApplyErrorEscalationCount (2) reached"), std::string::npos)
      << s.last_failure_message;
  // The first conflict was logged and its object committed; the second object's batch was not.
  EXPECT_EQ(Orders(), "1:ann:1.00:- 2:bo:2.00:-");
  EXPECT_EQ(Scalar("SELECT count(*) FROM public.awsdms_apply_exceptions"), "1");
  EXPECT_EQ(s.recovery_checkpoint.rfind("checkpoint:V1#S3#changes/CDC0001.csv#", 0), 0u);
}

INSTANTIATE_TEST_SUITE_P(Apply, Cdc, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Batch" : "Transactional";
                         });

}  // namespace
}  // namespace opendms::engine

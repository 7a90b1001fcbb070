// ReloadTables against a real PostgreSQL: a table reloaded during change processing ends equal to
// its full-load objects plus every change applied so far, the other tables untouched, and change
// processing goes on; a reload interrupted after the table was emptied is finished by
// resume-processing.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include "engine_fixture.h"

namespace opendms::engine {
namespace {

// The parameter: BatchApplyEnabled (set-based apply) or not (change by change).
class Reload : public EngineTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    Put("public/orders/LOAD1.csv", "1,ann,1.00,\n2,bo,2.00,\n3,cy,3.00,\n");
    Put("public/notes/LOAD1.csv", "1,one\n2,two\n");
    // Changes to both tables, in two objects.
    Put("changes/CDC0001.csv",
        "U,orders,public,2,bob,2.50,\nI,orders,public,4,di,4.00,2024-01-04\n"
        "I,notes,public,3,three\nD,orders,public,3,cy,3.00,\n");
    Put("changes/CDC0002.csv", "U,orders,public,1,ann2,1.50,\nD,notes,public,1,one\n");
  }

  Json FlcSource() const { return Source(kOrdersAndNotes, {{"CdcPath", "changes"}}); }
  Json FlcTask() const {
    Json settings;
    settings["TargetMetadata"]["BatchApplyEnabled"] = GetParam();
    settings["FullLoadSettings"]["TargetTablePrepMode"] = prep_mode_;
    settings["FullLoadSettings"]["CommitRate"] = 500;
    return Task(IncludeAll(), settings, "reload-task", type_);
  }

  // Starts the task on a thread of its own (it runs until stopped).
  void Start(objectstore::ObjectStore& store, StartType start = StartType::kStartReplication) {
    auto def = Define(FlcSource(), FlcTask());
    ASSERT_TRUE(def.ok()) << def.status().ToString();
    definition_ = std::move(def).value();
    RunOptions options;
    options.start_type = start;
    options.read_buffer_bytes = read_buffer_bytes_;
    options.cdc_poll_interval_ms = 10;
    options.cdc_audit_interval_ms = 50;
    options.wake = std::make_shared<WakeSignal>();
    options.log_sink = [this](LogComponent c, LogSeverity sev, std::string_view message) {
      std::lock_guard lock(log_mu_);
      log_ += std::string(LogComponentName(c)) + " " + LogSeverityLetter(sev) + ": " +
              std::string(message) + "\n";
    };
    task_ = std::make_unique<ReplicationTask>(definition_, store, options);
    runner_ = std::thread([this] {
      auto r = task_->Run();
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      result_ = *r;
    });
  }

  TaskSnapshot Stop() {
    task_->RequestStop();
    runner_.join();
    return result_;
  }

  // Waits (up to 20 s) until `done` holds for the task's snapshot, or its run ended.
  bool WaitFor(const std::function<bool(const TaskSnapshot&)>& done) {
    for (int i = 0; i < 2000; ++i) {
      TaskSnapshot s = task_->Snapshot();
      if (done(s)) return true;
      if (s.status == "failed" || s.status == "stopped") return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  std::string Orders() {
    return Scalar(
        "SELECT coalesce(string_agg(id || ':' || name || ':' || amount || ':' || "
        "coalesce(day::text, '-'), ' ' ORDER BY id), '') FROM public.orders");
  }
  std::string Notes() {
    return Scalar("SELECT string_agg(n || ':' || text, ' ' ORDER BY n) FROM public.notes");
  }
  std::string Reloads() { return Scalar("SELECT count(*) FROM public.opendms_table_reloads"); }

  std::string Log() {
    std::lock_guard lock(log_mu_);
    return log_;
  }

  std::string type_ = "full-load-and-cdc";
  std::string prep_mode_ = "DROP_AND_CREATE";
  std::mutex log_mu_;
  std::string log_;  // guarded by log_mu_
  std::unique_ptr<ReplicationTask> task_;
  std::thread runner_;
  TaskSnapshot result_;
};

TEST_P(Reload, DuringCdcTheTableEndsAsFullLoadPlusEveryChangeAndCdcGoesOn) {
  Start(*store_);
  ASSERT_TRUE(WaitFor([](const TaskSnapshot& s) { return s.cdc.objects_applied == 2; }));
  ASSERT_EQ(Orders(), "1:ann2:1.50:- 2:bob:2.50:- 4:di:4.00:2024-01-04");
  ASSERT_EQ(Notes(), "2:two 3:three");
  // The target drifts from the source (someone edited it), and the table folder gains an
  // object: the reload brings the table back to the source's current state.
  ASSERT_TRUE(conn()
                  .Execute("DELETE FROM public.orders WHERE id = 4; "
                           "INSERT INTO public.orders VALUES (99, 'junk', 0)")
                  .ok());
  ASSERT_TRUE(conn().Execute("INSERT INTO public.notes VALUES (77, 'kept')").ok());
  Put("public/orders/LOAD2.csv", "5,ed,5.00,\n");

  // Source names; an unknown table is refused, naming it and the task's tables.
  Status unknown = task_->ReloadTables({{"public", "orders"}, {"sales", "nope"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(unknown.IsInvalidArgument());
  EXPECT_NE(unknown.message().find("sales.nope"), std::string::npos) << unknown.message();
  EXPECT_NE(unknown.message().find("public.notes"), std::string::npos) << unknown.message();

  ASSERT_TRUE(task_->ReloadTables({{"public", "orders"}}).ok());
  // A change object landing after the request is applied after the reload, on top of it.
  Put("changes/CDC0003.csv", "I,orders,public,6,fay,6.00,\nU,orders,public,5,ed2,5.50,\n");
  // Done: the third object applied, the table's load includes LOAD2, and the reload is over.
  ASSERT_TRUE(WaitFor([this](const TaskSnapshot& s) {
    return s.cdc.objects_applied == 3 && Stats(s, "orders")->full_load_rows == 4 &&
           Reloads() == "0";
  })) << task_->Snapshot().last_failure_message;
  EXPECT_EQ(Orders(), "1:ann2:1.50:- 2:bob:2.50:- 4:di:4.00:2024-01-04 5:ed2:5.50:- 6:fay:6.00:-");
  EXPECT_EQ(Notes(), "2:two 3:three 77:kept");  // not reloaded
  EXPECT_EQ(Reloads(), "0");

  TaskSnapshot s = Stop();
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  const TableStatistics* orders = Stats(s, "orders");
  const TableStatistics* notes = Stats(s, "notes");
  ASSERT_TRUE(orders && notes);
  EXPECT_TRUE(orders->full_load_reloaded);
  EXPECT_FALSE(notes->full_load_reloaded);
  EXPECT_EQ(orders->table_state, "Table completed");
  EXPECT_EQ(orders->full_load_rows, 4);  // LOAD1 and LOAD2
  EXPECT_EQ(notes->full_load_rows, 2);
  // The changes count once each: replaying them for the reload does not count them again.
  EXPECT_EQ(orders->inserts, 2);
  EXPECT_EQ(orders->updates, 3);
  EXPECT_EQ(orders->deletes, 1);
  EXPECT_EQ(notes->inserts, 1);
  EXPECT_EQ(s.cdc.objects_applied, 3);
  EXPECT_EQ(
      Scalar("SELECT table_state || ':' || rows_loaded FROM public.opendms_full_load_checkpoints"
             " WHERE table_name = 'orders'"),
      "completed:4");

  // Not running: refused.
  Status stopped = task_->ReloadTables({{"public", "orders"}});
  EXPECT_TRUE(stopped.IsInvalidState()) << stopped.ToString();
}

TEST_P(Reload, AFailureAfterTheTableWasEmptiedIsFinishedByResume) {
  objectstore::FaultInjectingStore faulty(*store_);
  Start(faulty);
  ASSERT_TRUE(WaitFor([](const TaskSnapshot& s) { return s.cdc.objects_applied == 2; }));
  // The reload's replay cannot read the first change object: the task fails after the table
  // was emptied and loaded again, before any change was applied to it again.
  objectstore::FaultSpec fault;
  fault.kind = objectstore::FaultSpec::Kind::kFailOpen;
  fault.key_substring = "CDC0001";
  faulty.Arm(fault);
  ASSERT_TRUE(task_->ReloadTables({{"public", "orders"}}).ok());
  runner_.join();
  ASSERT_EQ(result_.status, "failed");
  EXPECT_NE(result_.last_failure_message.find("reloading public.orders"), std::string::npos)
      << result_.last_failure_message;
  EXPECT_EQ(faulty.fired(), 1);
  EXPECT_EQ(Reloads(), "1");                                    // recorded with the TRUNCATE
  EXPECT_EQ(Orders(), "1:ann:1.00:- 2:bo:2.00:- 3:cy:3.00:-");  // loaded; changes rolled back
  EXPECT_EQ(Notes(), "2:two 3:three");

  // Resume: the reload is finished before anything else, nothing lost, nothing twice.
  faulty.Clear();
  Put("changes/CDC0003.csv", "I,orders,public,6,fay,6.00,\n");
  Start(faulty, StartType::kResumeProcessing);
  ASSERT_TRUE(WaitFor([](const TaskSnapshot& s) { return s.cdc.objects_applied == 1; }))
      << task_->Snapshot().last_failure_message;
  TaskSnapshot s = Stop();
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_EQ(Orders(), "1:ann2:1.50:- 2:bob:2.50:- 4:di:4.00:2024-01-04 6:fay:6.00:-");
  EXPECT_EQ(Notes(), "2:two 3:three");
  EXPECT_EQ(Reloads(), "0");
  EXPECT_TRUE(Stats(s, "orders")->full_load_reloaded);
  EXPECT_EQ(Stats(s, "orders")->full_load_rows, 3);
  EXPECT_EQ(Stats(s, "orders")->table_state, "Table completed");
}

TEST_P(Reload, AnInterruptedLoadContinuesFromItsCheckpointOnResume) {
  std::string rows;
  for (int i = 1; i <= 3000; ++i) rows += std::to_string(i) + ",n" + std::to_string(i) + ",1.00,\n";
  Put("public/orders/LOAD1.csv", rows);
  objectstore::FaultInjectingStore faulty(*store_);
  read_buffer_bytes_ = 4096;
  Start(faulty);
  ASSERT_TRUE(WaitFor([](const TaskSnapshot& s) { return s.cdc.objects_applied == 2; }));
  // The reload's load stops reading part way (after two commits of 500 rows) and the table is
  // left in error, its reload recorded.
  objectstore::FaultSpec fault;
  fault.kind = objectstore::FaultSpec::Kind::kFailRead;
  fault.key_substring = "orders/LOAD1";
  fault.after_bytes = 20000;
  faulty.Arm(fault);
  ASSERT_TRUE(task_->ReloadTables({{"public", "orders"}}).ok());
  ASSERT_TRUE(WaitFor(
      [](const TaskSnapshot& s) { return Stats(s, "orders")->table_state == kTableError; }));
  // Meanwhile the other table still gets its changes.
  Put("changes/CDC0003.csv", "I,notes,public,4,four\nU,orders,public,5,x,0.00,\n");
  ASSERT_TRUE(WaitFor([](const TaskSnapshot& s) { return s.cdc.objects_applied == 3; }));
  TaskSnapshot s = Stop();
  EXPECT_EQ(Reloads(), "1");
  EXPECT_NE(Stats(s, "orders")->error_message.find("LOAD1.csv"), std::string::npos)
      << Stats(s, "orders")->error_message;
  EXPECT_EQ(Notes(), "2:two 3:three 4:four");

  faulty.Clear();
  Start(faulty, StartType::kResumeProcessing);
  ASSERT_TRUE(WaitFor([this](const TaskSnapshot& s) {
    return Stats(s, "orders")->table_state == kTableCompleted && Reloads() == "0";
  })) << task_->Snapshot().last_failure_message;
  s = Stop();
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  // Full load (3000 rows) + CDC0001, CDC0002, CDC0003 for orders.
  EXPECT_EQ(Scalar("SELECT count(*) || ' ' || sum(id) FROM public.orders"), "2999 4501497");
  EXPECT_EQ(Scalar("SELECT string_agg(name || ':' || amount, ' ' ORDER BY id) FROM public.orders "
                   "WHERE id IN (1, 2, 4, 5)"),
            "ann2:1.50 bob:2.50 n4:1.00 x:0.00");
  EXPECT_EQ(Stats(s, "orders")->full_load_rows, 3000);
}

TEST_P(Reload, ACdcTaskAndMoreThanTenTablesAreRefusedAsDmsRefusesThem) {
  type_ = "cdc";  // no full load to repeat
  Start(*store_);
  ASSERT_TRUE(WaitFor([](const TaskSnapshot& s) { return s.cdc.objects_applied == 2; }));
  Status cdc = task_->ReloadTables({{"public", "orders"}});
  EXPECT_TRUE(cdc.IsInvalidState()) << cdc.ToString();
  EXPECT_NE(cdc.message().find("cdc task"), std::string::npos) << cdc.message();
  std::vector<TableToReload> eleven(11, TableToReload{"public", "orders"});
  Status many = task_->ReloadTables(eleven);
  EXPECT_TRUE(many.IsInvalidArgument()) << many.ToString();
  EXPECT_NE(many.message().find("at most 10"), std::string::npos) << many.message();
  TaskSnapshot s = Stop();
  ASSERT_EQ(s.status, "stopped") << s.last_failure_message;
  EXPECT_FALSE(Stats(s, "orders")->full_load_reloaded);
  EXPECT_EQ(Reloads(), "0");
}

// DMS applies the TargetTablePrepMode before a reload: with DO_NOTHING the table keeps its rows
// ("you must manually truncate the table first"), and the task log says so.
TEST_P(Reload, WithDoNothingTheTableKeepsItsRowsAndTheLogSaysSo) {
  prep_mode_ = "DO_NOTHING";
  Start(*store_);
  ASSERT_TRUE(WaitFor([](const TaskSnapshot& s) { return s.cdc.objects_applied == 2; }));
  ASSERT_EQ(Orders(), "1:ann2:1.50:- 2:bob:2.50:- 4:di:4.00:2024-01-04");
  // Truncated by hand, as the guide says, then a row of someone else's: the reload keeps it.
  ASSERT_TRUE(conn()
                  .Execute("TRUNCATE public.orders; "
                           "INSERT INTO public.orders VALUES (99, 'kept', 0)")
                  .ok());
  ASSERT_TRUE(task_->ReloadTables({{"public", "orders"}}).ok());
  ASSERT_TRUE(WaitFor([this](const TaskSnapshot& s) {
    return Stats(s, "orders")->full_load_reloaded &&
           Stats(s, "orders")->table_state == "Table completed" && Reloads() == "0";
  })) << task_->Snapshot().last_failure_message;
  EXPECT_EQ(Orders(), "1:ann2:1.50:- 2:bob:2.50:- 4:di:4.00:2024-01-04 99:kept:0.00:-");
  EXPECT_NE(Log().find("TARGET_LOAD W: table public.orders keeps its rows for its reload "
                       "(TargetTablePrepMode DO_NOTHING"),
            std::string::npos)
      << Log();
  EXPECT_NE(Log().find("prepared for its reload (DO_NOTHING)"), std::string::npos) << Log();

  // Not truncated: the rows loaded again meet the rows still there.
  ASSERT_TRUE(task_->ReloadTables({{"public", "orders"}}).ok());
  ASSERT_TRUE(WaitFor([this](const TaskSnapshot& s) {
    return Stats(s, "orders")->table_state == "Table error";
  })) << task_->Snapshot().last_failure_message;
  TaskSnapshot s = Stop();
  EXPECT_NE(Stats(s, "orders")->error_message.find("duplicate key"), std::string::npos)
      << Stats(s, "orders")->error_message;
  EXPECT_EQ(Stats(s, "notes")->table_state, "Table completed");  // the other table goes on
}

TEST_P(Reload, AFullLoadTaskReloadsOnceItsFullLoadIsOver) {
  type_ = "full-load";
  std::string rows;
  for (int i = 1; i <= 3000; ++i) rows += std::to_string(i) + ",n" + std::to_string(i) + ",1.00,\n";
  Put("public/orders/LOAD1.csv", rows);
  objectstore::FaultInjectingStore faulty(*store_);
  objectstore::FaultSpec slow;  // the load takes a while: the request comes while it runs
  slow.kind = objectstore::FaultSpec::Kind::kSlowRead;
  slow.key_substring = "orders/LOAD1";
  slow.delay = std::chrono::milliseconds(40);
  slow.times = -1;
  faulty.Arm(slow);
  read_buffer_bytes_ = 4096;
  Start(faulty);
  ASSERT_TRUE(WaitFor([](const TaskSnapshot& s) { return s.status == "running"; }));
  // Listed after the full load listed the folder: only the reload sees it.
  Put("public/orders/LOAD2.csv", "5000,late,1.00,\n");
  ASSERT_TRUE(task_->ReloadTables({{"public", "orders"}}).ok());
  // Once the full load is over, the table shows its reload until it is done.
  EXPECT_TRUE(WaitFor([this](const TaskSnapshot& s) {
    return Stats(s, "orders")->table_state == "Table is being reloaded" && Reloads() == "1";
  })) << task_->Snapshot().last_failure_message;
  runner_.join();
  ASSERT_EQ(result_.status, "stopped") << result_.last_failure_message;
  EXPECT_EQ(result_.stop_reason, "Stop Reason FULL_LOAD_ONLY_FINISHED");
  EXPECT_EQ(Scalar("SELECT count(*) FROM public.orders"), "3001");
  EXPECT_TRUE(Stats(result_, "orders")->full_load_reloaded);
  EXPECT_EQ(Stats(result_, "orders")->full_load_rows, 3001);
  EXPECT_FALSE(Stats(result_, "notes")->full_load_reloaded);
  EXPECT_EQ(Reloads(), "0");
  EXPECT_TRUE(task_->ReloadTables({{"public", "orders"}}).IsInvalidState());
}

INSTANTIATE_TEST_SUITE_P(Apply, Reload, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Batch" : "Transactional"; });

}  // namespace
}  // namespace opendms::engine

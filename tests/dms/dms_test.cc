// The DMS control plane against a real PostgreSQL (catalog in url mode on the test server, the
// target in the same database under schema "sales") and a DiskStore holding a copy of
// examples/full-load: resources with AWS's shapes (checked against botocore's model), the task
// lifecycle on the engine, waking, failures, and restarts of the service.
#include "dms/dms.h"

#include <gtest/gtest.h>

#include "api/api.h"

#include <filesystem>
#include <deque>
#include <fstream>
#include <map>
#include <regex>
#include <thread>

#include "support/pg_test_server.h"

namespace opendms::dms {
namespace {

namespace fs = std::filesystem;
using ::opendms::testing::PgTest;
using ::opendms::testing::ScratchDir;

Json ReadJson(const std::string& path) {
  auto text = ReadSmallFile(path);
  EXPECT_TRUE(text.ok()) << path;
  auto j = ParseJson(*text, path);
  EXPECT_TRUE(j.ok()) << path;
  return *j;
}

class DmsTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    auto dir = ScratchDir::Create("opendms-dms");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(dir).value());
    fs::copy(std::string(OPENDMS_SOURCE_DIR) + "/examples/full-load/bucket", dir_->path() + "/store",
             fs::copy_options::recursive);
    // The example's change objects are left out: each test lands its own.
    fs::remove_all(dir_->path() + "/store/landing/sales/changes");
    fs::create_directories(dir_->path() + "/store/landing/sales/changes");
    auto store = objectstore::OpenDiskStore(dir_->path() + "/store");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    catalog::Options copts;
    copts.url = params_.ToConnInfo();
    copts.pool_size = 4;
    auto cat = catalog::Catalog::Open(copts);
    ASSERT_TRUE(cat.ok()) << cat.status().ToString();
    catalog_ = std::move(cat).value();
    options_.transition_millis = 300;
    options_.publish_interval_millis = 100;
    options_.cdc_poll_interval_millis = 30000;  // only a wake makes CDC look before 30 s
    options_.cdc_audit_interval_millis = 30000;
    key_ = std::make_unique<secrets::MasterKey>(*secrets::MasterKey::FromBytes(std::string(32, 'k')));
    options_.master_key = key_.get();
    NewService();
  }

  void TearDown() override {
    service_.reset();
    catalog_.reset();
    PgTest::TearDown();
  }

  void NewService() {
    service_.reset();
    auto service = DmsService::Create(
        *catalog_, *store_,
        [this](std::string_view id, const CallContext&) -> Result<std::string> {
          if (id != "Acme/Orders/dev/DbSecret") return Status::NotFound("no secret " + std::string(id));
          std::lock_guard lock(secret_mu_);
          ++secret_reads_;
          // Each read takes the next value queued, keeping the last: a rotation between reads.
          std::string value = secret_values_.front();
          if (secret_values_.size() > 1) secret_values_.pop_front();
          return value;
        },
        options_);
    ASSERT_TRUE(service.ok()) << service.status().ToString();
    service_ = std::move(service).value();
  }

  Result<Json> Call(std::string_view op, const Json& in) {
    auto r = service_->Call(op, in, ctx_);
    if (r.ok()) calls_.push_back({{"operation", op}, {"output", *r}});
    return r;
  }
  Json MustCall(std::string_view op, const Json& in) {
    auto r = Call(op, in);
    EXPECT_TRUE(r.ok()) << op << ": " << r.status().ToString() << " aws " << r.status().aws_code();
    return r.ok() ? *r : Json::object();
  }
  std::string ErrorOf(std::string_view op, const Json& in) {
    auto r = service_->Call(op, in, ctx_);
    return r.ok() ? "ok" : r.status().aws_code();
  }

  // Polls Describe until `status` (fails the test after `seconds`).
  Json WaitTask(const std::string& arn, const std::string& status, double seconds = 30) {
    Json task;
    for (auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
         std::chrono::steady_clock::now() < end;) {
      Json r = MustCall("DescribeReplicationTasks",
                        {{"Filters", {{{"Name", "replication-task-arn"}, {"Values", {arn}}}}}});
      if (r.contains("ReplicationTasks") && !r["ReplicationTasks"].empty()) {
        task = r["ReplicationTasks"][0];
        if (task["Status"] == status) return task;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "task never reached " << status << ": " << task.dump(2);
    return task;
  }

  std::string CreateInstance(const std::string& id = "rep-1",
                             const std::string& klass = "dms.t3.medium") {
    Json r = MustCall("CreateReplicationInstance",
                      {{"ReplicationInstanceIdentifier", id}, {"ReplicationInstanceClass", klass}});
    return r["ReplicationInstance"].value("ReplicationInstanceArn", "");
  }
  // A dms.t2.micro instance (one task at a time) with two ready tasks: a CDC task "sales-cdc"
  // into sales and a full load "second-load" into sales_b. Returns their ARNs.
  std::pair<std::string, std::string> TwoTasksOnAMicroInstance() {
    instance_ = CreateInstance("rep-small", "dms.t2.micro");
    source_ = CreateSource();
    target_ = CreateTarget();
    WaitInstanceAvailable(instance_);
    std::string cdc = CreateTask("task-cdc.json", "sales-cdc");
    std::string second = CreateTask("task.json", "second-load", nullptr, "sales_b");
    WaitTask(cdc, "ready", 10);
    WaitTask(second, "ready", 10);
    return {cdc, second};
  }
  void WaitInstanceAvailable(const std::string& arn) {
    for (int i = 0; i < 100; ++i) {
      Json r = MustCall("DescribeReplicationInstances",
                        {{"Filters", {{{"Name", "replication-instance-arn"}, {"Values", {arn}}}}}});
      if (r["ReplicationInstances"][0]["ReplicationInstanceStatus"] == "available") return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "instance never available";
  }
  std::string CreateSource() {
    Json in = ReadJson(std::string(OPENDMS_SOURCE_DIR) + "/examples/full-load/source-endpoint.json");
    return MustCall("CreateEndpoint", in)["Endpoint"].value("EndpointArn", "");
  }
  Json TargetInput(const std::string& id = "orders-target") const {
    return {{"EndpointIdentifier", id},   {"EndpointType", "target"},
            {"EngineName", "aurora-postgresql"}, {"ServerName", params_.host},
            {"Port", params_.port},       {"DatabaseName", params_.dbname},
            {"Username", params_.user},   {"Password", params_.password}};
  }
  std::string CreateTarget() {
    return MustCall("CreateEndpoint", TargetInput())["Endpoint"].value("EndpointArn", "");
  }
  // `target_schema`: where the example's rename rule puts the tables (the examples say "sales").
  std::string CreateTask(const std::string& example, const std::string& id,
                         Json settings_patch = nullptr, const std::string& target_schema = "sales") {
    Json in = ReadJson(std::string(OPENDMS_SOURCE_DIR) + "/examples/full-load/" + example);
    if (target_schema != "sales") {
      std::string mappings = in["TableMappings"].get<std::string>();
      const std::string rename = R"("value": "sales")";
      mappings.replace(mappings.find(rename), rename.size(), R"("value": ")" + target_schema + "\"");
      in["TableMappings"] = mappings;
    }
    in["ReplicationTaskIdentifier"] = id;
    in["SourceEndpointArn"] = source_;
    in["TargetEndpointArn"] = target_;
    in["ReplicationInstanceArn"] = instance_;
    if (!settings_patch.is_null()) {
      Json s = *ParseJson(in["ReplicationTaskSettings"].get<std::string>(), "settings");
      s.merge_patch(settings_patch);
      in["ReplicationTaskSettings"] = s.dump();
    }
    Json r = MustCall("CreateReplicationTask", in);
    return r["ReplicationTask"].value("ReplicationTaskArn", "");
  }
  void CreateAll() {
    instance_ = CreateInstance();
    source_ = CreateSource();
    target_ = CreateTarget();
    WaitInstanceAvailable(instance_);
  }
  // Starts the ready task `arn` (identifier `id`), waits until it stopped, returns its log.
  std::vector<std::string> RunToStopAndReadLog(const std::string& arn, const std::string& id) {
    WaitTask(arn, "ready", 10);
    Start(arn, "start-replication");
    WaitTask(arn, "stopped");
    auto lines = service_->TaskLogLines(id);
    EXPECT_TRUE(lines.ok()) << lines.status().ToString();
    return lines.ok() ? *lines : std::vector<std::string>{};
  }
  static std::string Joined(const std::vector<std::string>& lines) {
    std::string all;
    for (const auto& l : lines) all += l + "\n";
    return all;
  }
  // The example's customers table loses its objects: its load logs a SOURCE_UNLOAD warning.
  void DeleteCustomerObjects() {
    for (const char* key :
         {"sales/public/customers/LOAD00000001.csv", "sales/public/customers/LOAD00000002.csv"}) {
      ASSERT_TRUE(store_->Delete("landing", key).ok()) << key;
    }
  }
  void Start(const std::string& arn, const std::string& type) {
    Json r = MustCall("StartReplicationTask",
                      {{"ReplicationTaskArn", arn}, {"StartReplicationTaskType", type}});
    EXPECT_EQ(r["ReplicationTask"].value("Status", ""), "starting");
  }
  void PutChange(const std::string& name, const std::string& rows) {
    auto r = store_->Put("landing", "sales/changes/" + name, "operation,table,schema,values\n" + rows);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    service_->NotifyObjectWritten("landing", "sales/changes/" + name);
  }
  // Waits until `sql` returns `want`.
  bool WaitScalar(const std::string& sql, const std::string& want, double seconds) {
    for (auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
         std::chrono::steady_clock::now() < end;) {
      auto r = conn().Query(sql);
      if (r.ok() && r->rows() > 0 && r->Get(0, 0) == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  // Every output so far, checked against botocore's model.
  void CheckShapes() {
    const std::string file = dir_->path() + "/calls.json";
    std::ofstream(file) << Json(calls_).dump();
    const std::string cmd = "python3 " + std::string(OPENDMS_SOURCE_DIR) +
                            "/tests/dms/check_shapes.py " + file + " > " + dir_->path() +
                            "/shapes.txt 2>&1";
    int rc = std::system(cmd.c_str());
    auto out = ReadSmallFile(dir_->path() + "/shapes.txt");
    EXPECT_EQ(rc, 0) << (out.ok() ? *out : "");
  }

  std::optional<ScratchDir> dir_;
  std::unique_ptr<objectstore::ObjectStore> store_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<secrets::MasterKey> key_;
  Options options_;
  std::unique_ptr<DmsService> service_;
  CallContext ctx_;
  std::vector<Json> calls_;
  std::string instance_, source_, target_;
  std::mutex secret_mu_;
  std::deque<std::string> secret_values_ = {"{}"};  // guarded by secret_mu_
  std::atomic<int> secret_reads_{0};
};

TEST_F(DmsTest, ResourcesHaveAwsShapesRulesAndFaults) {
  instance_ = CreateInstance("Rep-Instance-1");
  const std::regex arn_re("arn:aws:dms:us-east-1:000000000000:(rep|endpoint|task):[A-Z2-7]{26}");
  EXPECT_TRUE(std::regex_match(instance_, arn_re)) << instance_;
  Json described = MustCall("DescribeReplicationInstances", Json::object());
  ASSERT_EQ(described["ReplicationInstances"].size(), 1u);
  EXPECT_EQ(described["ReplicationInstances"][0]["ReplicationInstanceIdentifier"], "rep-instance-1");
  EXPECT_EQ(described["ReplicationInstances"][0]["ReplicationInstanceStatus"], "creating");
  EXPECT_TRUE(described["ReplicationInstances"][0]["InstanceCreateTime"].is_number());
  // Without AllocatedStorage, the storage the class includes: 50 GB below 4 vCPUs, else 100.
  EXPECT_EQ(described["ReplicationInstances"][0]["AllocatedStorage"], 50);  // dms.t3.medium
  Json orderable = MustCall("DescribeOrderableReplicationInstances", Json::object());
  for (const Json& o : orderable["OrderableReplicationInstances"]) {
    if (o["ReplicationInstanceClass"] == "dms.c4.xlarge") {
      EXPECT_EQ(o["DefaultAllocatedStorage"], 100);
    }
  }
  WaitInstanceAvailable(instance_);

  EXPECT_EQ(ErrorOf("CreateReplicationInstance", {{"ReplicationInstanceIdentifier", "rep-instance-1"},
                                                  {"ReplicationInstanceClass", "dms.t3.micro"}}),
            "ResourceAlreadyExistsFault");
  for (const char* bad : {"1rep", "rep--1", "rep-", "rep_1"}) {
    EXPECT_EQ(ErrorOf("CreateReplicationInstance", {{"ReplicationInstanceIdentifier", bad},
                                                    {"ReplicationInstanceClass", "dms.t3.micro"}}),
              "InvalidParameterValueException")
        << bad;
  }
  EXPECT_EQ(ErrorOf("CreateReplicationInstance", {{"ReplicationInstanceIdentifier", "x"},
                                                  {"ReplicationInstanceClass", "dms.t9.huge"}}),
            "InvalidParameterValueException");

  source_ = CreateSource();
  target_ = CreateTarget();
  EXPECT_TRUE(std::regex_match(source_, arn_re));
  EXPECT_EQ(ErrorOf("CreateEndpoint", TargetInput()), "ResourceAlreadyExistsFault");
  Json endpoints = MustCall("DescribeEndpoints", Json::object());
  ASSERT_EQ(endpoints["Endpoints"].size(), 2u);
  EXPECT_EQ(endpoints.dump().find(params_.password), std::string::npos) << "password echoed";
  Json targets = MustCall("DescribeEndpoints",
                          {{"Filters", {{{"Name", "endpoint-type"}, {"Values", {"target"}}}}}});
  ASSERT_EQ(targets["Endpoints"].size(), 1u);
  EXPECT_EQ(targets["Endpoints"][0]["EndpointArn"], target_);
  EXPECT_EQ(targets["Endpoints"][0]["Status"], "active");
  EXPECT_EQ(ErrorOf("DescribeEndpoints", {{"Filters", {{{"Name", "color"}, {"Values", {"x"}}}}}}),
            "InvalidParameterValueException");
  EXPECT_EQ(ErrorOf("DescribeEndpoints", {{"MaxRecords", 5}}), "InvalidParameterValueException");

  const std::string task = CreateTask("task.json", "sales-full-load");
  Json created = WaitTask(task, "ready", 10);
  // Settings come back whole: DMS's defaults with the user's values merged in.
  Json settings = *ParseJson(created["ReplicationTaskSettings"].get<std::string>(), "settings");
  EXPECT_EQ(settings["FullLoadSettings"]["MaxFullLoadSubTasks"], 2);
  EXPECT_TRUE(settings.contains("Logging"));
  EXPECT_TRUE(settings.contains("ChangeProcessingTuning"));
  EXPECT_FALSE(created.contains("ReplicationTaskStats"));  // never started
  EXPECT_TRUE(created["ReplicationTaskCreationDate"].is_number());
  Json without = MustCall("DescribeReplicationTasks", {{"WithoutSettings", true}});
  EXPECT_FALSE(without["ReplicationTasks"][0].contains("ReplicationTaskSettings"));

  // Bad mappings fail at create time, with the engine's message.
  Json bad = ReadJson(std::string(OPENDMS_SOURCE_DIR) + "/examples/full-load/task.json");
  bad["ReplicationTaskIdentifier"] = "bad-task";
  bad["SourceEndpointArn"] = source_;
  bad["TargetEndpointArn"] = target_;
  bad["ReplicationInstanceArn"] = instance_;
  bad["TableMappings"] = R"({"rules": [{"rule-type": "selection"}]})";
  EXPECT_EQ(ErrorOf("CreateReplicationTask", bad), "InvalidParameterValueException");
  bad["TableMappings"] = ReadJson(std::string(OPENDMS_SOURCE_DIR) +
                                  "/examples/full-load/task.json")["TableMappings"];
  bad["SourceEndpointArn"] = source_ + "X";
  EXPECT_EQ(ErrorOf("CreateReplicationTask", bad), "ResourceNotFoundFault");

  EXPECT_EQ(ErrorOf("DeleteReplicationInstance", {{"ReplicationInstanceArn", instance_}}),
            "InvalidResourceStateFault");
  EXPECT_EQ(ErrorOf("DeleteEndpoint", {{"EndpointArn", target_}}), "InvalidResourceStateFault");
  EXPECT_EQ(ErrorOf("DescribeTableStatistics", {{"ReplicationTaskArn", task + "X"}}),
            "ResourceNotFoundFault");

  // Paging: 23 endpoints, 20 per page, then the remaining 3 with the marker.
  for (int i = 0; i < 21; ++i) {
    MustCall("CreateEndpoint", TargetInput("target-" + std::to_string(i)));
  }
  Json page1 = MustCall("DescribeEndpoints", {{"MaxRecords", 20}});
  ASSERT_EQ(page1["Endpoints"].size(), 20u);
  ASSERT_TRUE(page1.contains("Marker"));
  Json page2 = MustCall("DescribeEndpoints", {{"MaxRecords", 20}, {"Marker", page1["Marker"]}});
  EXPECT_EQ(page2["Endpoints"].size(), 3u);
  EXPECT_FALSE(page2.contains("Marker"));

  MustCall("DescribeOrderableReplicationInstances", Json::object());
  MustCall("ModifyReplicationInstance", {{"ReplicationInstanceArn", instance_},
                                         {"ReplicationInstanceClass", "dms.c5.xlarge"},
                                         {"ApplyImmediately", true}});
  // Delete order: task, then endpoints and instance; each gone after its transition.
  Json deleting = MustCall("DeleteReplicationTask", {{"ReplicationTaskArn", task}});
  EXPECT_EQ(deleting["ReplicationTask"]["Status"], "deleting");
  std::this_thread::sleep_for(std::chrono::milliseconds(options_.transition_millis + 100));
  EXPECT_EQ(ErrorOf("DescribeReplicationTasks",
                    {{"Filters", {{{"Name", "replication-task-arn"}, {"Values", {task}}}}}}),
            "ResourceNotFoundFault");
  MustCall("DeleteEndpoint", {{"EndpointArn", target_}});
  EXPECT_EQ(ErrorOf("DeleteEndpoint", {{"EndpointArn", target_}}), "ResourceNotFoundFault");
  WaitInstanceAvailable(instance_);
  MustCall("DeleteReplicationInstance", {{"ReplicationInstanceArn", instance_}});
  std::this_thread::sleep_for(std::chrono::milliseconds(options_.transition_millis + 100));
  EXPECT_EQ(ErrorOf("DescribeReplicationInstances",
                    {{"Filters", {{{"Name", "replication-instance-arn"}, {"Values", {instance_}}}}}}),
            "ResourceNotFoundFault");
  Json big = MustCall("CreateReplicationInstance", {{"ReplicationInstanceIdentifier", "rep-big"},
                                                    {"ReplicationInstanceClass", "dms.c4.xlarge"}});
  EXPECT_EQ(big["ReplicationInstance"]["AllocatedStorage"], 100);
  CheckShapes();
}

TEST_F(DmsTest, FullLoadRunsToFullLoadOnlyFinishedWithStatisticsAndLogs) {
  CreateAll();
  const std::string task = CreateTask("task.json", "sales-full-load");
  WaitTask(task, "ready", 10);
  Start(task, "start-replication");
  Json done = WaitTask(task, "stopped");
  EXPECT_EQ(done.value("StopReason", ""), "Stop Reason FULL_LOAD_ONLY_FINISHED");
  EXPECT_EQ(done["ReplicationTaskStats"]["FullLoadProgressPercent"], 100);
  EXPECT_EQ(done["ReplicationTaskStats"]["TablesLoaded"], 2);
  EXPECT_TRUE(done["ReplicationTaskStats"]["StopDate"].is_number());
  EXPECT_EQ(RowCount("sales", "customers"), 6);
  EXPECT_EQ(RowCount("sales", "products"), 3);

  Json stats = MustCall("DescribeTableStatistics",
                        {{"ReplicationTaskArn", task},
                         {"Filters", {{{"Name", "table-name"}, {"Values", {"customers"}}}}}});
  ASSERT_EQ(stats["TableStatistics"].size(), 1u);
  EXPECT_EQ(stats["TableStatistics"][0]["FullLoadRows"], 6);
  EXPECT_EQ(stats["TableStatistics"][0]["TableState"], "Table completed");

  // Wrong-state and wrong-type calls.
  EXPECT_EQ(ErrorOf("StopReplicationTask", {{"ReplicationTaskArn", task}}),
            "InvalidResourceStateFault");
  EXPECT_EQ(ErrorOf("StartReplicationTask", {{"ReplicationTaskArn", task},
                                             {"StartReplicationTaskType", "start-replication"}}),
            "InvalidParameterCombinationException");
  // reload-target loads everything again (DROP_AND_CREATE): same rows, not twice as many.
  Start(task, "reload-target");
  WaitTask(task, "stopped");
  EXPECT_EQ(RowCount("sales", "customers"), 6);

  auto lines = service_->TaskLogLines("sales-full-load");
  ASSERT_TRUE(lines.ok());
  const std::regex line_re(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d \[[A-Z_ ]{15}\][IWE]:  .+)");
  std::string all;
  for (const auto& l : *lines) {
    EXPECT_TRUE(std::regex_match(l, line_re)) << l;
    all += l + "\n";
  }
  EXPECT_NE(all.find("[TASK_MANAGER   ]I:  Task 'sales-full-load' stopped: Stop Reason "
                     "FULL_LOAD_ONLY_FINISHED"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("Load finished for table 'public.customers' (6 rows)"), std::string::npos);
  Json logs = MustCall("DescribeReplicationInstanceTaskLogs", {{"ReplicationInstanceArn", instance_}});
  ASSERT_EQ(logs["ReplicationInstanceTaskLogs"].size(), 1u);
  EXPECT_EQ(logs["ReplicationInstanceTaskLogs"][0]["ReplicationInstanceTaskLogSize"],
            static_cast<int64_t>(all.size()));
  CheckShapes();
}

// The engine's own lines (not only the runner's status lines) reach the task's log with their
// DMS component and severity.
TEST_F(DmsTest, TheEnginesWarningsAreInTheTaskLogWithTheirComponents) {
  CreateAll();
  DeleteCustomerObjects();
  auto put = store_->Put("landing", "sales/public/products/LOAD00000002.csv",
                         "sku,name,price,weight_kg,stocked_at\n"
                         "P-901,Bad,not-a-price,1.0,2024-01-01 00:00:00\n");
  ASSERT_TRUE(put.ok());
  // DataErrorPolicy LOG_ERROR; FullLobMode, which an S3 source cannot honour.
  const std::string task =
      CreateTask("task.json", "sales-warnings", {{"TargetMetadata", {{"FullLobMode", true}}}});
  const std::vector<std::string> lines = RunToStopAndReadLog(task, "sales-warnings");
  const std::string all = Joined(lines);
  auto has = [&](const std::string& head, const std::string& part) {
    for (const auto& l : lines) {
      if (l.find(head) == 19 && l.find(part) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(has(" [TASK_MANAGER   ]I:  ", "start-replication full load of 2 tables")) << all;
  // The definition's warnings, at the start of the run.
  EXPECT_TRUE(has(" [TASK_MANAGER   ]W:  ", "TargetMetadata.FullLobMode=true: S3 sources support "
                                          "only limited LOB mode"))
      << all;
  EXPECT_TRUE(has(" [SOURCE_UNLOAD  ]W:  ",
                  "table sales.customers has no objects under "
                  "s3://landing/sales/public/customers/: loaded 0 rows"))
      << all;
  EXPECT_TRUE(has(" [TARGET_LOAD    ]W:  ",
                  "s3://landing/sales/public/products/LOAD00000002.csv line 2, column 3"))
      << all;
  EXPECT_TRUE(has(" [TARGET_LOAD    ]I:  ", "completed: 3 rows loaded, 1 rejected")) << all;
  // The runner's lines keep their place around the engine's: running first, stopped last.
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines.back().find("Task 'sales-warnings' stopped"), std::string::npos) << all;
}

// Logging.LogComponents decide which lines a task keeps: TASK_MANAGER at ERROR keeps none of its
// info lines, SOURCE_UNLOAD at WARNING its warnings only; the components left at their default
// keep their info lines.
TEST_F(DmsTest, LogComponentSeveritiesFilterTheTaskLog) {
  CreateAll();
  DeleteCustomerObjects();
  const std::string task = CreateTask(
      "task.json", "sales-quiet", {{"Logging", {{"LogComponents", {
          {{"Id", "TASK_MANAGER"}, {"Severity", "LOGGER_SEVERITY_ERROR"}},
          {{"Id", "SOURCE_UNLOAD"}, {"Severity", "LOGGER_SEVERITY_WARNING"}}}}}}});
  const std::string all = Joined(RunToStopAndReadLog(task, "sales-quiet"));
  EXPECT_EQ(all.find("[TASK_MANAGER   ]I:"), std::string::npos) << all;
  EXPECT_EQ(all.find("[SOURCE_UNLOAD  ]I:"), std::string::npos) << all;
  EXPECT_NE(all.find("[SOURCE_UNLOAD  ]W:  table sales.customers has no objects"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("[TARGET_LOAD    ]I:  Load finished for table 'public.products'"),
            std::string::npos)
      << all;
}

// A task logging faster than its lines are published loses the excess, and says how many.
TEST_F(DmsTest, EngineLogLinesBeyondThePendingBoundAreDroppedAndCounted) {
  options_.max_pending_log_lines = 2;
  options_.publish_interval_millis = 60000;  // everything arrives at the final publish
  NewService();
  CreateAll();
  const std::string task = CreateTask("task.json", "sales-chatty");
  const std::string all = Joined(RunToStopAndReadLog(task, "sales-chatty"));
  // Kept: the first two (the full load's start, then a table's completion); dropped: the other
  // table's completion.
  EXPECT_NE(all.find("]I:  start-replication full load of 2 tables"), std::string::npos) << all;
  EXPECT_NE(all.find("[TASK_MANAGER   ]W:  1 log lines of the task were dropped: it logged more "
                     "than 2 lines"),
            std::string::npos)
      << all;
}

TEST_F(DmsTest, CdcIsWokenByNewObjectsStopsAndResumes) {
  CreateAll();
  const std::string task = CreateTask("task-cdc.json", "sales-cdc");
  WaitTask(task, "ready", 10);
  Start(task, "start-replication");
  WaitTask(task, "running");
  ASSERT_TRUE(WaitScalar("SELECT count(*) FROM sales.customers", "6", 20));
  EXPECT_EQ(ErrorOf("ModifyReplicationTask", {{"ReplicationTaskArn", task}, {"TaskData", "x"}}),
            "InvalidResourceStateFault");
  EXPECT_EQ(ErrorOf("DeleteReplicationTask", {{"ReplicationTaskArn", task}}),
            "InvalidResourceStateFault");
  EXPECT_EQ(ErrorOf("StartReplicationTask", {{"ReplicationTaskArn", task},
                                             {"StartReplicationTaskType", "resume-processing"}}),
            "InvalidResourceStateFault");

  // CDC polls every 30 s here: only the wake makes this quick.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the loop is idle
  const auto landed = std::chrono::steady_clock::now();
  PutChange("CDC0001.csv", "I,customers,public,100,New Person,new@example.com,Oslo,true,2024-07-01\n");
  ASSERT_TRUE(WaitScalar("SELECT count(*) FROM sales.customers", "7", 5));
  EXPECT_LT(std::chrono::steady_clock::now() - landed, std::chrono::seconds(5));

  MustCall("StopReplicationTask", {{"ReplicationTaskArn", task}});
  Json stopped = WaitTask(task, "stopped");
  EXPECT_EQ(stopped.value("StopReason", ""), "Stop Reason NORMAL");
  EXPECT_FALSE(stopped.value("RecoveryCheckpoint", "").empty());
  // While stopped, a change lands; resume-processing picks it up, nothing twice.
  PutChange("CDC0002.csv", "U,customers,public,100,Renamed Person,new@example.com,Oslo,true,2024-07-01\n"
                           "I,customers,public,101,Another,a@example.com,Rome,false,2024-07-02\n");
  Start(task, "resume-processing");
  WaitTask(task, "running");
  ASSERT_TRUE(WaitScalar("SELECT count(*) || ' ' || max(name) FILTER (WHERE customer_id = 100) "
                         "FROM sales.customers",
                         "8 Renamed Person", 10));
  Json stats = MustCall("DescribeTableStatistics", {{"ReplicationTaskArn", task}});
  bool found = false;
  for (const Json& t : stats["TableStatistics"]) {
    if (t["TableName"] == "customers") {
      found = true;
      EXPECT_EQ(t["Inserts"], 1);  // this run: one insert, one update
      EXPECT_EQ(t["Updates"], 1);
    }
  }
  EXPECT_TRUE(found);
  MustCall("StopReplicationTask", {{"ReplicationTaskArn", task}});
  WaitTask(task, "stopped");
  CheckShapes();
}

TEST_F(DmsTest, ABadCsvFailsTheTaskWithTheEnginesMessage) {
  CreateAll();
  auto r = store_->Put("landing", "sales/public/products/LOAD00000002.csv",
                       "sku,name,price,weight_kg,stocked_at\nP-900,Bad,1.00,1.0,2024-01-01,extra\n");
  ASSERT_TRUE(r.ok());
  const std::string task = CreateTask("task.json", "sales-bad", Json{{"ErrorBehavior", {{"TableErrorPolicy", "STOP_TASK"}}}});
  WaitTask(task, "ready", 10);
  Start(task, "start-replication");
  Json failed = WaitTask(task, "failed");
  EXPECT_EQ(failed.value("StopReason", ""), "Stop Reason FATAL_ERROR");
  EXPECT_NE(failed.value("LastFailureMessage", "").find("LOAD00000002.csv"), std::string::npos)
      << failed.dump(2);
  // A failed task can be modified and started again.
  MustCall("ModifyReplicationTask", {{"ReplicationTaskArn", task}, {"TaskData", "note"}});
  CheckShapes();
}

TEST_F(DmsTest, ACrashedServiceResumesItsCdcTaskWithNothingLostOrTwice) {
  CreateAll();
  const std::string task = CreateTask("task-cdc.json", "sales-cdc");
  WaitTask(task, "ready", 10);
  Start(task, "start-replication");
  WaitTask(task, "running");
  ASSERT_TRUE(WaitScalar("SELECT count(*) FROM sales.customers", "6", 20));
  PutChange("CDC0001.csv", "I,customers,public,100,A,a@example.com,Oslo,true,2024-07-01\n");
  ASSERT_TRUE(WaitScalar("SELECT count(*) FROM sales.customers", "7", 5));

  service_.reset();  // a crash: nothing recorded
  auto r = store_->Put("landing", "sales/changes/CDC0002.csv",
                       "operation,table,schema,values\n"
                       "I,customers,public,101,B,b@example.com,Rome,true,2024-07-02\n");
  ASSERT_TRUE(r.ok());
  NewService();
  Json before = WaitTask(task, "running", 1);  // the catalog still says running
  ASSERT_TRUE(service_->Start().ok());
  ASSERT_TRUE(WaitScalar("SELECT count(*) || ' ' || count(DISTINCT customer_id) FROM sales.customers",
                         "8 8", 10));
  WaitTask(task, "running");
  PutChange("CDC0003.csv", "D,customers,public,100,A,a@example.com,Oslo,true,2024-07-01\n");
  ASSERT_TRUE(WaitScalar("SELECT count(*) FROM sales.customers", "7", 5));
  auto lines = service_->TaskLogLines(task);
  ASSERT_TRUE(lines.ok());
  std::string all;
  for (const auto& l : *lines) all += l + "\n";
  EXPECT_NE(all.find("resumed (resume-processing) at server start"), std::string::npos) << all;

  // A clean shutdown records "stopped" but the task runs again at the next start.
  service_->Shutdown();
  EXPECT_EQ(WaitTask(task, "stopped", 1).value("StopReason", ""), "Stop Reason NORMAL");
  NewService();
  ASSERT_TRUE(service_->Start().ok());
  WaitTask(task, "running");
  PutChange("CDC0004.csv", "I,customers,public,102,C,c@example.com,Lima,true,2024-07-03\n");
  ASSERT_TRUE(WaitScalar("SELECT count(*) FROM sales.customers", "8", 5));
  MustCall("StopReplicationTask", {{"ReplicationTaskArn", task}});
  WaitTask(task, "stopped");
}

TEST_F(DmsTest, SecretCredentialsAreReadAtStartAndReadAgainWhenTheLoginIsRefused) {
  instance_ = CreateInstance();
  source_ = CreateSource();
  Json target = {{"EndpointIdentifier", "secret-target"},
                 {"EndpointType", "target"},
                 {"EngineName", "aurora-postgresql"},
                 {"DatabaseName", params_.dbname},
                 {"PostgreSQLSettings",
                  {{"SecretsManagerSecretId", "Acme/Orders/dev/DbSecret"},
                   {"SecretsManagerAccessRoleArn", "arn:aws:iam::000000000000:role/dms-secrets"}}}};
  target_ = MustCall("CreateEndpoint", target)["Endpoint"].value("EndpointArn", "");
  WaitInstanceAvailable(instance_);
  // Queues the secret's next values, one per read.
  auto secret = [&](std::vector<std::string> passwords) {
    std::lock_guard lock(secret_mu_);
    secret_values_.clear();
    for (const std::string& password : passwords) {
      secret_values_.push_back(Json{{"username", params_.user}, {"password", password},
                                    {"host", params_.host}, {"port", std::to_string(params_.port)},
                                    {"dbname", params_.dbname}}
                                   .dump());
    }
  };
  secret({"wrong-password"});
  MustCall("TestConnection", {{"ReplicationInstanceArn", instance_}, {"EndpointArn", target_}});
  auto connection_status = [&] {
    for (int i = 0; i < 200; ++i) {
      Json c = MustCall("DescribeConnections",
                        {{"Filters", {{{"Name", "endpoint-arn"}, {"Values", {target_}}}}}});
      std::string s = c["Connections"][0]["Status"];
      if (s != "testing") return c["Connections"][0];
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return Json();
  };
  Json failed = connection_status();
  EXPECT_EQ(failed["Status"], "failed");
  EXPECT_EQ(failed.dump().find("wrong-password"), std::string::npos);
  secret({params_.password});
  MustCall("TestConnection", {{"ReplicationInstanceArn", instance_}, {"EndpointArn", target_}});
  EXPECT_EQ(connection_status()["Status"], "successful");

  const std::string task = CreateTask("task.json", "secret-load");
  WaitTask(task, "ready", 10);
  // The first read gives a stale password (the secret was rotated since); the refused login
  // makes the runner read it once more and get the new one.
  secret({"stale-password", params_.password});
  const int reads_before = secret_reads_;
  Start(task, "start-replication");
  Json done = WaitTask(task, "stopped");
  EXPECT_EQ(done.value("StopReason", ""), "Stop Reason FULL_LOAD_ONLY_FINISHED") << done.dump(2);
  EXPECT_EQ(secret_reads_, reads_before + 2);
  EXPECT_EQ(RowCount("sales", "customers"), 6);
  CheckShapes();
}

TEST_F(DmsTest, ReloadTablesWithTheAwsCliReloadsATableOfARunningTask) {
  api::ServerOptions server_options;
  server_options.port = 0;
  server_options.root = {"AKIAOPENDMSTEST00002", "reload-test-secret-key"};
  server_options.shutdown_grace = std::chrono::milliseconds(500);
  api::Server server(server_options);
  server.RegisterJsonService(*service_);
  ASSERT_TRUE(server.Start().ok());
  // Runs `aws dms <args>` against the server; its exit code, stdout and stderr in `out`.
  auto aws = [&](const std::string& args, std::string* out) {
    const std::string file = dir_->path() + "/aws.txt";
    const std::string cmd = "AWS_ACCESS_KEY_ID=" + server_options.root.access_key_id +
                            " AWS_SECRET_ACCESS_KEY=" + server_options.root.secret_access_key +
                            " AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null"
                            " AWS_SHARED_CREDENTIALS_FILE=/dev/null aws --endpoint-url " +
                            server.endpoint() + " dms " + args + " > " + file + " 2>&1";
    const int rc = std::system(cmd.c_str());
    auto text = ReadSmallFile(file);
    *out = text.ok() ? *text : "";
    return rc;
  };

  CreateAll();
  const std::string task = CreateTask("task-cdc.json", "sales-reload");
  WaitTask(task, "ready", 10);
  std::string out;
  const std::string reload = "reload-tables --replication-task-arn " + task +
                             " --tables-to-reload SchemaName=public,TableName=customers";
  const Json customers = {
      {"ReplicationTaskArn", task},
      {"TablesToReload", {{{"SchemaName", "public"}, {"TableName", "customers"}}}}};
  EXPECT_EQ(ErrorOf("ReloadTables", customers), "InvalidResourceStateFault");  // ready

  Start(task, "start-replication");
  WaitTask(task, "running");
  ASSERT_TRUE(WaitScalar("SELECT count(*) FROM sales.customers", "6", 20));
  PutChange("CDC0001.csv",
            "I,customers,public,100,New Person,new@example.com,Oslo,true,2024-07-01\n"
            "U,customers,public,100,Renamed,new@example.com,Oslo,true,2024-07-01\n");
  ASSERT_TRUE(WaitScalar("SELECT count(*) FROM sales.customers", "7", 10));
  // The target drifts: the reload brings the table back to full load + every change.
  ASSERT_TRUE(conn().Execute("DELETE FROM sales.customers WHERE customer_id = 100").ok());
  ASSERT_TRUE(conn()
                  .Execute("DELETE FROM sales.products WHERE ctid = (SELECT min(ctid) FROM "
                           "sales.products)")
                  .ok());
  const std::string products = Scalar("SELECT count(*) FROM sales.products");

  Json validate = customers;
  validate["ReloadOption"] = "validate-only";
  auto refused = service_->Call("ReloadTables", validate, ctx_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().aws_code(), "InvalidParameterValueException");
  EXPECT_NE(refused.status().message().find("ReloadOption"), std::string::npos);
  // SchemaName/TableName are the source's: the target's names are not the table's.
  refused =
      service_->Call("ReloadTables",
                     {{"ReplicationTaskArn", task},
                      {"TablesToReload", {{{"SchemaName", "sales"}, {"TableName", "customers"}}}}},
                     ctx_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().aws_code(), "InvalidParameterValueException");
  EXPECT_NE(refused.status().message().find("sales.customers"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(
      ErrorOf("ReloadTables", {{"ReplicationTaskArn", task}, {"TablesToReload", Json::array()}}),
      "InvalidParameterValueException");

  ASSERT_EQ(aws(reload + " --reload-option data-reload", &out), 0) << out;
  auto response = ParseJson(out, "reload-tables output");
  ASSERT_TRUE(response.ok()) << out;
  EXPECT_EQ(*response, Json({{"ReplicationTaskArn", task}}));
  ASSERT_TRUE(
      WaitScalar("SELECT count(*) || ' ' || max(name) FILTER (WHERE customer_id = 100) "
                 "FROM sales.customers",
                 "7 Renamed", 20));
  ASSERT_TRUE(WaitScalar("SELECT count(*) FROM public.opendms_table_reloads", "0", 10));
  EXPECT_EQ(Scalar("SELECT count(*) FROM sales.products"), products);  // not reloaded

  // CDC goes on after the reload.
  PutChange("CDC0002.csv", "I,customers,public,101,Another,a@example.com,Rome,false,2024-07-02\n");
  ASSERT_TRUE(WaitScalar("SELECT count(*) FROM sales.customers", "8", 10));
  Json stats = MustCall("DescribeTableStatistics", {{"ReplicationTaskArn", task}});
  int seen = 0;
  for (const Json& t : stats["TableStatistics"]) {
    if (t["TableName"] == "customers") {
      ++seen;
      EXPECT_EQ(t["FullLoadReloaded"], true);
      EXPECT_EQ(t["FullLoadRows"], 6);
      EXPECT_EQ(t["Inserts"], 2);  // the replayed changes do not count again
      EXPECT_EQ(t["Updates"], 1);
      EXPECT_EQ(t["TableState"], "Table completed");
    } else if (t["TableName"] == "products") {
      ++seen;
      EXPECT_EQ(t["FullLoadReloaded"], false);
    }
  }
  EXPECT_EQ(seen, 2);

  MustCall("StopReplicationTask", {{"ReplicationTaskArn", task}});
  WaitTask(task, "stopped");
  EXPECT_NE(aws(reload, &out), 0);
  EXPECT_NE(out.find("InvalidResourceStateFault"), std::string::npos) << out;
  server.Stop();
}

TEST_F(DmsTest, Boto3WaitersWorkAgainstTheRealEndpoint) {
  api::ServerOptions server_options;
  server_options.port = 0;
  server_options.root = {"AKIAOPENDMSTEST00001", "waiter-test-secret-key"};
  server_options.shutdown_grace = std::chrono::milliseconds(500);
  api::Server server(server_options);
  server.RegisterJsonService(*service_);
  ASSERT_TRUE(server.Start().ok());
  const std::string dir = dir_->path();
  Json target = TargetInput();
  std::ofstream(dir + "/target.json") << target.dump();
  fs::copy(std::string(OPENDMS_SOURCE_DIR) + "/examples/full-load/source-endpoint.json",
           dir + "/source.json");
  Json task = ReadJson(std::string(OPENDMS_SOURCE_DIR) + "/examples/full-load/task-cdc.json");
  std::ofstream(dir + "/task.json") << task.dump();
  const std::string cmd = "python3 " + std::string(OPENDMS_SOURCE_DIR) + "/tests/dms/waiters.py " +
                          server.endpoint() + " " + server_options.root.access_key_id + " " +
                          server_options.root.secret_access_key + " " + dir + "/target.json " +
                          dir + "/source.json " + dir + "/task.json > " + dir + "/waiters.txt 2>&1";
  const int rc = std::system(cmd.c_str());
  auto out = ReadSmallFile(dir + "/waiters.txt");
  EXPECT_EQ(rc, 0) << (out.ok() ? *out : "");
  EXPECT_EQ(out.ok() ? *out : "",
            "subnet_group\nreplication_instance_available\ntest_connection_succeeds\n"
            "replication_task_ready\n"
            "replication_task_running\ntags\nrebooted\nreplication_task_stopped\n"
            "InvalidResourceStateFault\n"
            "replication_task_deleted\nendpoint_deleted\nreplication_instance_deleted\n"
            "subnet_group_deleted\n");
  server.Stop();
}

// The part of the test server's password that needs no escaping in JSON or SQL text.
std::string PasswordMark(const std::string& password) { return password.substr(password.size() - 12); }

TEST_F(DmsTest, EndpointPasswordsAreSealedAtRestAndAWrongMasterKeyIsNamed) {
  CreateAll();
  const std::string mark = PasswordMark(params_.password);
  auto holding_password = [&] {
    auto r = conn().Query("SELECT count(*) FROM dms.endpoints WHERE (input::text || doc::text || "
                          "sealed_passwords::text) LIKE '%' || $1 || '%'",
                          {mark});
    return r.ok() ? std::string(r->Get(0, 0)) : r.status().ToString();
  };
  EXPECT_EQ(holding_password(), "0");
  auto sealed = conn().Query("SELECT sealed_passwords->>'KeyId', sealed_passwords->'Fields' ? "
                             "'Password' FROM dms.endpoints WHERE arn = $1",
                             {target_});
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->Get(0, 0), key_->key_id());
  EXPECT_EQ(sealed->Get(0, 1), "t");
  // The task still logs in with it.
  const std::string task = CreateTask("task.json", "sales-sealed");
  WaitTask(task, "ready", 10);
  Start(task, "start-replication");
  EXPECT_EQ(WaitTask(task, "stopped").value("StopReason", ""), "Stop Reason FULL_LOAD_ONLY_FINISHED");
  EXPECT_EQ(RowCount("sales", "customers"), 6);

  // A row from before sealing (clear text in its input) keeps working and is sealed by the next
  // service's migration.
  Json legacy = TargetInput();
  ASSERT_TRUE(conn().Query("UPDATE dms.endpoints SET input = $2, sealed_passwords = '{}' WHERE "
                           "arn = $1",
                           {target_, legacy.dump()})
                  .ok());
  EXPECT_EQ(holding_password(), "1");
  NewService();
  EXPECT_EQ(holding_password(), "0");
  Start(task, "reload-target");
  EXPECT_EQ(WaitTask(task, "stopped").value("StopReason", ""), "Stop Reason FULL_LOAD_ONLY_FINISHED");

  // Another master key: the task fails, naming the endpoint and the key, never the password.
  auto other = secrets::MasterKey::FromBytes(std::string(32, 'o'));
  ASSERT_TRUE(other.ok());
  options_.master_key = &*other;
  NewService();
  Start(task, "reload-target");
  Json failed = WaitTask(task, "failed");
  const std::string message = failed.value("LastFailureMessage", "");
  EXPECT_NE(message.find("endpoint orders-target: its Password cannot be decrypted with this "
                         "server's master key " + other->key_id()),
            std::string::npos)
      << message;
  EXPECT_EQ(message.find(mark), std::string::npos);
  // Giving the endpoint its password again under the new key repairs it.
  MustCall("ModifyEndpoint", {{"EndpointArn", target_}, {"Password", params_.password}});
  EXPECT_EQ(holding_password(), "0");
  Start(task, "reload-target");
  EXPECT_EQ(WaitTask(task, "stopped").value("StopReason", ""), "Stop Reason FULL_LOAD_ONLY_FINISHED");
  // ModifyEndpoint without a password keeps the sealed one.
  MustCall("ModifyEndpoint", {{"EndpointArn", target_}, {"DatabaseName", params_.dbname}});
  Start(task, "reload-target");
  EXPECT_EQ(WaitTask(task, "stopped").value("StopReason", ""), "Stop Reason FULL_LOAD_ONLY_FINISHED");
  options_.master_key = key_.get();
  service_.reset();
}

TEST_F(DmsTest, TagsAreStoredListedRemovedAndGoWithTheirResource) {
  const Json tags = Json::array({{{"Key", "project"}, {"Value", "acme"}}, {{"Key", "env"}, {"Value", "dev"}}});
  Json instance_in = {{"ReplicationInstanceIdentifier", "rep-tags"},
                      {"ReplicationInstanceClass", "dms.t3.medium"},
                      {"Tags", tags}};
  instance_ = MustCall("CreateReplicationInstance", instance_in)["ReplicationInstance"]
                  .value("ReplicationInstanceArn", "");
  source_ = CreateSource();
  Json target_in = TargetInput();
  target_in["Tags"] = Json::array({{{"Key", "tier"}, {"Value", "db"}}});
  target_ = MustCall("CreateEndpoint", target_in)["Endpoint"].value("EndpointArn", "");
  WaitInstanceAvailable(instance_);
  Json task_in = ReadJson(std::string(OPENDMS_SOURCE_DIR) + "/examples/full-load/task.json");
  task_in["SourceEndpointArn"] = source_;
  task_in["TargetEndpointArn"] = target_;
  task_in["ReplicationInstanceArn"] = instance_;
  task_in["Tags"] = Json::array({{{"Key", "owner"}}});
  const std::string task =
      MustCall("CreateReplicationTask", task_in)["ReplicationTask"].value("ReplicationTaskArn", "");

  Json listed = MustCall("ListTagsForResource", {{"ResourceArn", instance_}});
  EXPECT_EQ(listed["TagList"],
            Json::array({{{"Key", "project"}, {"Value", "acme"}, {"ResourceArn", instance_}},
                         {{"Key", "env"}, {"Value", "dev"}, {"ResourceArn", instance_}}}));
  listed = MustCall("ListTagsForResource", {{"ResourceArnList", {target_, task, source_}}});
  EXPECT_EQ(listed["TagList"],
            Json::array({{{"Key", "tier"}, {"Value", "db"}, {"ResourceArn", target_}},
                         {{"Key", "owner"}, {"Value", ""}, {"ResourceArn", task}}}));

  // Add replaces a key's value; Remove drops keys (unknown keys are no error).
  MustCall("AddTagsToResource", {{"ResourceArn", instance_},
                                 {"Tags", {{{"Key", "env"}, {"Value", "prod"}},
                                           {{"Key", "team"}, {"Value", "data"}}}}});
  MustCall("RemoveTagsFromResource", {{"ResourceArn", instance_}, {"TagKeys", {"project", "nope"}}});
  listed = MustCall("ListTagsForResource", {{"ResourceArn", instance_}});
  EXPECT_EQ(listed["TagList"],
            Json::array({{{"Key", "env"}, {"Value", "prod"}, {"ResourceArn", instance_}},
                         {{"Key", "team"}, {"Value", "data"}, {"ResourceArn", instance_}}}));

  const std::string unknown = "arn:aws:dms:us-east-1:000000000000:endpoint:AAAAAAAAAAAAAAAAAAAAAAAAAA";
  EXPECT_EQ(ErrorOf("ListTagsForResource", {{"ResourceArn", unknown}}), "ResourceNotFoundFault");
  EXPECT_EQ(ErrorOf("AddTagsToResource", {{"ResourceArn", unknown}, {"Tags", tags}}),
            "ResourceNotFoundFault");
  EXPECT_EQ(ErrorOf("RemoveTagsFromResource", {{"ResourceArn", unknown}, {"TagKeys", {"x"}}}),
            "ResourceNotFoundFault");
  EXPECT_EQ(ErrorOf("ListTagsForResource", {{"ResourceArnList", {instance_, unknown}}}),
            "ResourceNotFoundFault");
  EXPECT_EQ(ErrorOf("ListTagsForResource", Json::object()), "InvalidParameterValueException");
  EXPECT_EQ(ErrorOf("AddTagsToResource", {{"ResourceArn", instance_},
                                          {"Tags", {{{"Key", "aws:reserved"}, {"Value", "x"}}}}}),
            "InvalidParameterValueException");
  EXPECT_EQ(ErrorOf("AddTagsToResource", {{"ResourceArn", instance_}}),
            "InvalidParameterValueException");

  auto tag_rows = [&](const std::string& arn) {
    auto r = conn().Query("SELECT count(*) FROM dms.tags WHERE resource_arn = $1", {arn});
    return r.ok() ? std::string(r->Get(0, 0)) : r.status().ToString();
  };
  WaitTask(task, "ready", 10);
  MustCall("DeleteReplicationTask", {{"ReplicationTaskArn", task}});
  std::this_thread::sleep_for(std::chrono::milliseconds(options_.transition_millis + 100));
  MustCall("DescribeEndpoints", Json::object());  // settles the deletion
  EXPECT_EQ(tag_rows(task), "0");
  MustCall("DeleteEndpoint", {{"EndpointArn", target_}});
  EXPECT_EQ(tag_rows(target_), "0");
  MustCall("DeleteReplicationInstance", {{"ReplicationInstanceArn", instance_}});
  EXPECT_EQ(tag_rows(instance_), "2");  // deleting: still there
  std::this_thread::sleep_for(std::chrono::milliseconds(options_.transition_millis + 100));
  MustCall("DescribeEndpoints", Json::object());
  EXPECT_EQ(tag_rows(instance_), "0");
  CheckShapes();
}

TEST_F(DmsTest, EndpointTypesAreTheEnginesOpendmsRuns) {
  Json all = MustCall("DescribeEndpointTypes", Json::object());
  std::vector<std::string> listed;
  for (const Json& t : all["SupportedEndpointTypes"]) {
    listed.push_back(t["EngineName"].get<std::string>() + "/" + t["EndpointType"].get<std::string>());
    // Each one listed is one CreateEndpoint accepts.
    Json in = {{"EndpointIdentifier", "probe"},
               {"EndpointType", t["EndpointType"]},
               {"EngineName", t["EngineName"]}};
    if (t["EngineName"] == "s3") {
      in["S3Settings"] = {{"BucketName", "landing"},
                          {"ExternalTableDefinition", R"({"TableCount":"1","Tables":[{"TableName":"t","TablePath":"p/t/","TableOwner":"p","TableColumns":[{"ColumnName":"id","ColumnType":"INT4"}],"TableColumnsTotal":"1"}]})"}};
    } else {
      in.update({{"ServerName", "127.0.0.1"}, {"Port", 5432}, {"DatabaseName", "d"},
                 {"Username", "u"}, {"Password", "p"}});
    }
    Json made = MustCall("CreateEndpoint", in);
    MustCall("DeleteEndpoint", {{"EndpointArn", made["Endpoint"]["EndpointArn"]}});
  }
  EXPECT_EQ(listed, (std::vector<std::string>{"s3/source", "postgres/target",
                                              "aurora-postgresql/target",
                                              "aurora-postgresql-serverless/target"}));
  Json targets = MustCall("DescribeEndpointTypes",
                          {{"Filters", {{{"Name", "endpoint-type"}, {"Values", {"TARGET"}}},
                                        {{"Name", "engine-name"}, {"Values", {"postgres"}}}}}});
  ASSERT_EQ(targets["SupportedEndpointTypes"].size(), 1u) << targets.dump();
  EXPECT_EQ(targets["SupportedEndpointTypes"][0]["EngineDisplayName"], "PostgreSQL");
  EXPECT_EQ(ErrorOf("DescribeEndpointTypes", {{"Filters", {{{"Name", "engine"}, {"Values", {"x"}}}}}}),
            "InvalidParameterValueException");
  CheckShapes();
}

TEST_F(DmsTest, SubnetGroupsAreCheckedKeptTaggedAndShownOnTheirInstances) {
  // The catalog (jsonb) keeps members in its own order; clients see members, not their order.
  auto Unordered = [](const Json& j) { return nlohmann::json::parse(j.dump()); };
  const Json two = {"subnet-0a1b2c3d", "subnet-0123456789abcdef0"};
  auto create = [&](const std::string& id, const Json& subnets) {
    return ErrorOf("CreateReplicationSubnetGroup", {{"ReplicationSubnetGroupIdentifier", id},
                                                    {"ReplicationSubnetGroupDescription", "d"},
                                                    {"SubnetIds", subnets}});
  };
  // AWS's rules: two zones at least, EC2-shaped subnet ids, a name that is not "default".
  EXPECT_EQ(create("one-zone", {"subnet-0a1b2c3d"}), "ReplicationSubnetGroupDoesNotCoverEnoughAZs");
  EXPECT_EQ(create("one-zone", {"subnet-0a1b2c3d", "subnet-0a1b2c3d"}),
            "ReplicationSubnetGroupDoesNotCoverEnoughAZs");
  EXPECT_EQ(create("bad-id", {"subnet-0a1b2c3d", "sn-12"}), "InvalidSubnet");
  EXPECT_EQ(create("Default", two), "InvalidParameterValueException");
  EXPECT_EQ(create("no/slash", two), "InvalidParameterValueException");
  EXPECT_EQ(ErrorOf("CreateReplicationSubnetGroup",
                    {{"ReplicationSubnetGroupIdentifier", "x"}, {"SubnetIds", two}}),
            "InvalidParameterValueException");  // the description is required

  Json made = MustCall("CreateReplicationSubnetGroup",
                       {{"ReplicationSubnetGroupIdentifier", "Lab-Private"},
                        {"ReplicationSubnetGroupDescription", "lab subnets"},
                        {"SubnetIds", two},
                        {"Tags", {{{"Key", "env"}, {"Value", "dev"}}}}});
  const Json& group = made["ReplicationSubnetGroup"];
  EXPECT_EQ(group["ReplicationSubnetGroupIdentifier"], "lab-private");  // stored lowercase
  EXPECT_EQ(group["SubnetGroupStatus"], "Complete");
  ASSERT_EQ(group["Subnets"].size(), 2u);
  EXPECT_EQ(group["Subnets"][0]["SubnetAvailabilityZone"]["Name"], "us-east-1a");
  EXPECT_EQ(group["Subnets"][1]["SubnetAvailabilityZone"]["Name"], "us-east-1b");
  EXPECT_EQ(create("LAB-PRIVATE", two), "ResourceAlreadyExistsFault");
  Json tags = MustCall("ListTagsForResource",
                       {{"ResourceArn", "arn:aws:dms:us-east-1:000000000000:subgrp:lab-private"}});
  ASSERT_EQ(tags["TagList"].size(), 1u) << tags.dump();
  EXPECT_EQ(tags["TagList"][0]["Value"], "dev");

  Json listed = MustCall("DescribeReplicationSubnetGroups",
                         {{"Filters", {{{"Name", "replication-subnet-group-id"},
                                        {"Values", {"lab-private"}}}}}});
  ASSERT_EQ(listed["ReplicationSubnetGroups"].size(), 1u);
  EXPECT_EQ(Unordered(listed["ReplicationSubnetGroups"][0]), Unordered(group));
  EXPECT_EQ(ErrorOf("DescribeReplicationSubnetGroups",
                    {{"Filters", {{{"Name", "replication-subnet-group-id"}, {"Values", {"nope"}}}}}}),
            "ResourceNotFoundFault");

  // An instance in the group shows it, and the group as modified later.
  EXPECT_EQ(ErrorOf("CreateReplicationInstance", {{"ReplicationInstanceIdentifier", "rep-x"},
                                                  {"ReplicationInstanceClass", "dms.t3.micro"},
                                                  {"ReplicationSubnetGroupIdentifier", "missing"}}),
            "ResourceNotFoundFault");
  Json instance = MustCall("CreateReplicationInstance",
                           {{"ReplicationInstanceIdentifier", "rep-in-group"},
                            {"ReplicationInstanceClass", "dms.t3.micro"},
                            {"ReplicationSubnetGroupIdentifier", "lab-private"}});
  instance_ = instance["ReplicationInstance"]["ReplicationInstanceArn"];
  EXPECT_EQ(Unordered(instance["ReplicationInstance"]["ReplicationSubnetGroup"]), Unordered(group));
  const Json three = {"subnet-0a1b2c3d", "subnet-0123456789abcdef0", "subnet-ffff0000"};
  Json modified = MustCall("ModifyReplicationSubnetGroup",
                           {{"ReplicationSubnetGroupIdentifier", "lab-private"}, {"SubnetIds", three}});
  EXPECT_EQ(modified["ReplicationSubnetGroup"]["Subnets"].size(), 3u);
  EXPECT_EQ(modified["ReplicationSubnetGroup"]["ReplicationSubnetGroupDescription"], "lab subnets");
  Json described = MustCall("DescribeReplicationInstances",
                            {{"Filters", {{{"Name", "replication-instance-arn"}, {"Values", {instance_}}}}}});
  EXPECT_EQ(Unordered(described["ReplicationInstances"][0]["ReplicationSubnetGroup"]),
            Unordered(modified["ReplicationSubnetGroup"]));

  // In use: not deleted. Once the instance is gone, it is, with its tags.
  EXPECT_EQ(ErrorOf("DeleteReplicationSubnetGroup", {{"ReplicationSubnetGroupIdentifier", "lab-private"}}),
            "InvalidResourceStateFault");
  MustCall("DeleteReplicationInstance", {{"ReplicationInstanceArn", instance_}});
  std::this_thread::sleep_for(std::chrono::milliseconds(options_.transition_millis + 100));
  MustCall("DescribeReplicationSubnetGroups", Json::object());  // settles the deletion
  MustCall("DeleteReplicationSubnetGroup", {{"ReplicationSubnetGroupIdentifier", "LAB-private"}});
  EXPECT_EQ(ErrorOf("DeleteReplicationSubnetGroup", {{"ReplicationSubnetGroupIdentifier", "lab-private"}}),
            "ResourceNotFoundFault");
  EXPECT_EQ(ErrorOf("ListTagsForResource",
                    {{"ResourceArn", "arn:aws:dms:us-east-1:000000000000:subgrp:lab-private"}}),
            "ResourceNotFoundFault");
  EXPECT_EQ(MustCall("DescribeReplicationSubnetGroups", Json::object())["ReplicationSubnetGroups"],
            Json::array());
  CheckShapes();
}

TEST_F(DmsTest, AccountQuotasCountTheResourcesAndRefuseOnePastTheirMaximum) {
  options_.quotas = {.replication_instances = 2, .allocated_storage_gb = 120,
                     .replication_subnet_groups = 1, .subnets_per_replication_subnet_group = 2,
                     .endpoints = 3, .replication_tasks = 2, .endpoints_per_instance = 2};
  NewService();
  auto quotas = [&] {
    Json r = MustCall("DescribeAccountAttributes", Json::object());
    std::map<std::string, std::pair<int64_t, int64_t>> q;  // name -> (used, max)
    for (const Json& a : r["AccountQuotas"]) {
      q[a["AccountQuotaName"]] = {a["Used"].get<int64_t>(), a["Max"].get<int64_t>()};
    }
    return std::pair{q, r.value("UniqueAccountIdentifier", "")};
  };
  using Quotas = std::map<std::string, std::pair<int64_t, int64_t>>;
  const auto [fresh, account] = quotas();
  EXPECT_EQ(fresh, (Quotas{{"ReplicationInstances", {0, 2}},
                           {"AllocatedStorage", {0, 120}},
                           {"ReplicationSubnetGroups", {0, 1}},
                           {"SubnetsPerReplicationSubnetGroup", {0, 2}},
                           {"Endpoints", {0, 3}},
                           {"ReplicationTasks", {0, 2}},
                           {"EndpointsPerInstance", {0, 2}}}));
  EXPECT_TRUE(std::regex_match(account, std::regex("c[0-9]{11}"))) << account;

  // Instances and their storage (50 GB when not given).
  instance_ = CreateInstance("rep-1");
  auto instance = [&](const std::string& id, int storage) {
    return ErrorOf("CreateReplicationInstance", {{"ReplicationInstanceIdentifier", id},
                                                 {"ReplicationInstanceClass", "dms.t3.micro"},
                                                 {"AllocatedStorage", storage}});
  };
  EXPECT_EQ(instance("rep-2", 100), "StorageQuotaExceededFault");  // 50 + 100 > 120
  EXPECT_EQ(instance("rep-2", 60), "ok");
  EXPECT_EQ(instance("rep-3", 5), "ResourceQuotaExceededFault");
  Json listed = MustCall("DescribeReplicationInstances",
                         {{"Filters", {{{"Name", "replication-instance-id"}, {"Values", {"rep-2"}}}}}});
  const std::string rep2 = listed["ReplicationInstances"][0]["ReplicationInstanceArn"];
  WaitInstanceAvailable(instance_);
  WaitInstanceAvailable(rep2);
  EXPECT_EQ(ErrorOf("ModifyReplicationInstance", {{"ReplicationInstanceArn", rep2},
                                                  {"AllocatedStorage", 80},
                                                  {"ApplyImmediately", true}}),
            "StorageQuotaExceededFault");
  EXPECT_EQ(ErrorOf("ModifyReplicationInstance", {{"ReplicationInstanceArn", rep2},
                                                  {"AllocatedStorage", 70},
                                                  {"ApplyImmediately", true}}),
            "ok");

  // Subnet groups and their subnets.
  auto group = [&](const char* op, const std::string& id, const Json& subnets) {
    Json in = {{"ReplicationSubnetGroupIdentifier", id}, {"SubnetIds", subnets}};
    if (std::string_view(op) == "CreateReplicationSubnetGroup") {
      in["ReplicationSubnetGroupDescription"] = "d";
    }
    return ErrorOf(op, in);
  };
  const Json two = {"subnet-0a1b2c3d", "subnet-0b1b2c3d"};
  const Json three = {"subnet-0a1b2c3d", "subnet-0b1b2c3d", "subnet-0c1b2c3d"};
  EXPECT_EQ(group("CreateReplicationSubnetGroup", "g1", three), "ResourceQuotaExceededFault");
  EXPECT_EQ(group("CreateReplicationSubnetGroup", "g1", two), "ok");
  EXPECT_EQ(group("CreateReplicationSubnetGroup", "g2", two), "ResourceQuotaExceededFault");
  EXPECT_EQ(group("ModifyReplicationSubnetGroup", "g1", three), "ResourceQuotaExceededFault");

  // Endpoints, tasks, and the endpoints one instance's tasks use.
  source_ = CreateSource();
  target_ = CreateTarget();
  const std::string other_target =
      MustCall("CreateEndpoint", TargetInput("other-target"))["Endpoint"]["EndpointArn"];
  EXPECT_EQ(ErrorOf("CreateEndpoint", TargetInput("fourth")), "ResourceQuotaExceededFault");
  const std::string first = CreateTask("task.json", "first");
  target_ = other_target;
  Json in = ReadJson(std::string(OPENDMS_SOURCE_DIR) + "/examples/full-load/task.json");
  in["ReplicationTaskIdentifier"] = "second";
  in["SourceEndpointArn"] = source_;
  in["TargetEndpointArn"] = other_target;
  in["ReplicationInstanceArn"] = instance_;  // would make rep-1's tasks use 3 endpoints
  EXPECT_EQ(ErrorOf("CreateReplicationTask", in), "ResourceQuotaExceededFault");
  const std::string rep1 = instance_;
  instance_ = rep2;
  const std::string second = CreateTask("task.json", "second", nullptr, "sales_b");
  in["ReplicationTaskIdentifier"] = "third";
  EXPECT_EQ(ErrorOf("CreateReplicationTask", in), "ResourceQuotaExceededFault");
  WaitTask(second, "ready", 10);
  // Moved to rep-1, it would make rep-1's tasks use 3 endpoints.
  EXPECT_EQ(ErrorOf("MoveReplicationTask",
                    {{"ReplicationTaskArn", second}, {"TargetReplicationInstanceArn", rep1}}),
            "ResourceQuotaExceededFault");
  WaitTask(first, "ready", 10);

  const auto [used, same_account] = quotas();
  EXPECT_EQ(used, (Quotas{{"ReplicationInstances", {2, 2}},
                          {"AllocatedStorage", {120, 120}},
                          {"ReplicationSubnetGroups", {1, 1}},
                          {"SubnetsPerReplicationSubnetGroup", {2, 2}},
                          {"Endpoints", {3, 3}},
                          {"ReplicationTasks", {2, 2}},
                          {"EndpointsPerInstance", {2, 2}}}));
  EXPECT_EQ(same_account, account);
  CheckShapes();
}

// dms.t2.micro runs one task at a time: a second task waits in "starting" for the slot.
TEST_F(DmsTest, RebootResumesRunningTasksAndAppliesDeferredModifications) {
  const auto [cdc, second] = TwoTasksOnAMicroInstance();
  EXPECT_EQ(ErrorOf("RebootReplicationInstance",
                    {{"ReplicationInstanceArn", instance_}, {"ForceFailover", true}}),
            "InvalidParameterCombinationException");  // single-AZ, as on AWS
  Start(cdc, "start-replication");
  WaitTask(cdc, "running");
  ASSERT_TRUE(WaitScalar("SELECT count(*) FROM sales.customers", "6", 20));
  Start(second, "start-replication");

  // Deferred: recorded as pending, not applied; the second task still waits for the one slot.
  Json modified = MustCall("ModifyReplicationInstance", {{"ReplicationInstanceArn", instance_},
                                                         {"ReplicationInstanceClass", "dms.t3.medium"},
                                                         {"ApplyImmediately", false}});
  EXPECT_EQ(modified["ReplicationInstance"]["ReplicationInstanceClass"], "dms.t2.micro");
  EXPECT_EQ(modified["ReplicationInstance"]["PendingModifiedValues"],
            Json({{"ReplicationInstanceClass", "dms.t3.medium"}}));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_EQ(WaitTask(second, "starting", 1)["Status"], "starting");

  // The reboot: the CDC task stops at a checkpoint, a change lands meanwhile, and once the
  // instance is available the task resumes and applies it, nothing lost or twice.
  Json rebooting = MustCall("RebootReplicationInstance", {{"ReplicationInstanceArn", instance_}});
  EXPECT_EQ(rebooting["ReplicationInstance"]["ReplicationInstanceStatus"], "rebooting");
  EXPECT_EQ(ErrorOf("StartReplicationTask", {{"ReplicationTaskArn", second},
                                             {"StartReplicationTaskType", "resume-processing"}}),
            "InvalidResourceStateFault");
  auto r = store_->Put("landing", "sales/changes/CDC0001.csv",
                       "operation,table,schema,values\n"
                       "I,customers,public,100,A,a@example.com,Oslo,true,2024-07-01\n");
  ASSERT_TRUE(r.ok());
  WaitInstanceAvailable(instance_);
  Json instance = MustCall("DescribeReplicationInstances",
                           {{"Filters", {{{"Name", "replication-instance-arn"}, {"Values", {instance_}}}}}});
  EXPECT_EQ(instance["ReplicationInstances"][0]["ReplicationInstanceClass"], "dms.t3.medium");
  EXPECT_EQ(instance["ReplicationInstances"][0]["PendingModifiedValues"], Json::object());
  WaitTask(cdc, "running");
  ASSERT_TRUE(WaitScalar("SELECT count(*) || ' ' || count(DISTINCT customer_id) FROM sales.customers",
                         "7 7", 15));
  PutChange("CDC0002.csv", "I,customers,public,101,B,b@example.com,Rome,true,2024-07-02\n");
  ASSERT_TRUE(WaitScalar("SELECT count(*) FROM sales.customers", "8", 5));
  // The bigger class has two slots: the second task ran too.
  EXPECT_EQ(WaitTask(second, "stopped").value("StopReason", ""), "Stop Reason FULL_LOAD_ONLY_FINISHED");
  EXPECT_EQ(RowCount("sales_b", "customers"), 6);

  auto lines = service_->TaskLogLines(cdc);
  ASSERT_TRUE(lines.ok());
  std::string all;
  for (const auto& l : *lines) all += l + "\n";
  EXPECT_NE(all.find("stopped for the reboot of its replication instance; it resumes when the "
                     "instance is available"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("resumed (resume-processing) after the reboot"), std::string::npos) << all;
  MustCall("StopReplicationTask", {{"ReplicationTaskArn", cdc}});
  WaitTask(cdc, "stopped");
  CheckShapes();
}

// A class applied immediately replaces the instance, as on AWS: its tasks stop at a checkpoint and
// resume once it is available, in the bigger pool and with the new class's budgets.
TEST_F(DmsTest, AClassAppliedImmediatelyRestartsTheInstancesTasksInTheBiggerPool) {
  const auto [cdc, second] = TwoTasksOnAMicroInstance();
  Start(cdc, "start-replication");
  WaitTask(cdc, "running");
  ASSERT_TRUE(WaitScalar("SELECT count(*) FROM sales.customers", "6", 20));
  Start(second, "start-replication");
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_EQ(WaitTask(second, "starting", 1)["Status"], "starting");  // one slot on a t2.micro
  Json modified = MustCall("ModifyReplicationInstance", {{"ReplicationInstanceArn", instance_},
                                                         {"ReplicationInstanceClass", "dms.t3.medium"},
                                                         {"ApplyImmediately", true}});
  EXPECT_EQ(modified["ReplicationInstance"]["ReplicationInstanceClass"], "dms.t3.medium");
  EXPECT_EQ(modified["ReplicationInstance"]["ReplicationInstanceStatus"], "modifying");
  WaitInstanceAvailable(instance_);
  WaitTask(cdc, "running");
  // Resumed, not reloaded: the full load's rows are there once, and CDC goes on.
  EXPECT_EQ(RowCount("sales", "customers"), 6);
  PutChange("CDC0001.csv", "I,customers,public,77,Late,late@example.com,Oslo,true,2024-07-01\n");
  EXPECT_TRUE(WaitScalar("SELECT count(*) FROM sales.customers", "7", 20));
  // The bigger class has two slots: the second task ran too.
  EXPECT_EQ(WaitTask(second, "stopped").value("StopReason", ""), "Stop Reason FULL_LOAD_ONLY_FINISHED");
  EXPECT_EQ(RowCount("sales_b", "customers"), 6);
  const std::string all = Joined(*service_->TaskLogLines("sales-cdc"));
  EXPECT_NE(all.find("stopped for the class change of its replication instance (dms.t2.micro to "
                     "dms.t3.medium); it resumes when the instance is available"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("resumed (resume-processing) after the class change"), std::string::npos)
      << all;
  MustCall("StopReplicationTask", {{"ReplicationTaskArn", cdc}});
  WaitTask(cdc, "stopped");
  CheckShapes();
}

}  // namespace
}  // namespace opendms::dms

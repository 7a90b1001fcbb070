// Test fixture for engine tests: a fresh PostgreSQL database (PgTest), an in-memory bucket store
// with a "landing" bucket, and builders for the three DMS documents a task is made of.
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "objectstore/objectstore.h"
#include "support/pg_test_server.h"

namespace opendms::engine {

// public.orders: id INT4 pk, name STRING(10), amount NUMERIC(8,2), day DATE nullable.
inline const char* kOrders =
    R"({"TableCount":"1","Tables":[{"TableName":"orders","TablePath":"public/orders/",
  "TableOwner":"public","TableColumns":[
   {"ColumnName":"id","ColumnType":"INT4","ColumnIsPk":"true"},
   {"ColumnName":"name","ColumnType":"STRING","ColumnLength":"10"},
   {"ColumnName":"amount","ColumnType":"NUMERIC","ColumnPrecision":"8","ColumnScale":"2"},
   {"ColumnName":"day","ColumnType":"DATE","ColumnNullable":"true"}],"TableColumnsTotal":"4"}]})";

// kOrders, and public.notes with no primary key: n INT4, text STRING(20).
inline const char* kOrdersAndNotes =
    R"({"TableCount":"2","Tables":[{"TableName":"orders","TablePath":"public/orders/",
  "TableOwner":"public","TableColumns":[
   {"ColumnName":"id","ColumnType":"INT4","ColumnIsPk":"true"},
   {"ColumnName":"name","ColumnType":"STRING","ColumnLength":"10"},
   {"ColumnName":"amount","ColumnType":"NUMERIC","ColumnPrecision":"8","ColumnScale":"2"},
   {"ColumnName":"day","ColumnType":"DATE","ColumnNullable":"true"}],"TableColumnsTotal":"4"},
  {"TableName":"notes","TablePath":"public/notes/","TableOwner":"public","TableColumns":[
   {"ColumnName":"n","ColumnType":"INT4"},
   {"ColumnName":"text","ColumnType":"STRING","ColumnLength":"20"}],"TableColumnsTotal":"2"}]})";

// Collects what a task's log sink receives, as "COMPONENT S: message" lines.
class TaskLogRecorder {
 public:
  LogSink Sink() {
    return [this](LogComponent component, LogSeverity severity, std::string_view message) {
      std::lock_guard lock(mu_);
      lines_.push_back(std::string(LogComponentName(component)) + " " +
                       LogSeverityLetter(severity) + ": " + std::string(message));
    };
  }
  // Succeeds when a line starts with `head` ("SOURCE_UNLOAD W") and contains `part`.
  ::testing::AssertionResult Has(std::string_view head, std::string_view part) {
    std::lock_guard lock(mu_);
    std::string all;
    for (const std::string& l : lines_) {
      if (l.rfind(std::string(head) + ": ", 0) == 0 && l.find(part) != std::string::npos) {
        return ::testing::AssertionSuccess();
      }
      all += "\n  " + l;
    }
    return ::testing::AssertionFailure()
           << "no \"" << head << "\" line with \"" << part << "\" among:" << all;
  }
  std::vector<std::string> lines() {
    std::lock_guard lock(mu_);
    return lines_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;  // guarded by mu_
};

class EngineTest : public testing::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    store_ = objectstore::NewMemoryStore();
    ASSERT_TRUE(store_->CreateBucket("landing").ok());
  }

  void Put(const std::string& key, const std::string& data) {
    auto r = store_->Put("landing", key, data);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  // A source endpoint over bucket "landing" with the given definition and extra S3Settings.
  Json Source(const std::string& table_definition_json, Json s3_extra = Json::object()) const {
    Json s3 = {{"BucketName", "landing"},
               {"ServiceAccessRoleArn", "arn:aws:iam::000000000000:role/dms"},
               {"ExternalTableDefinition", table_definition_json}};
    for (auto& [k, v] : s3_extra.items()) s3[k] = v;
    return {{"EndpointIdentifier", "src"},
            {"EndpointType", "source"},
            {"EngineName", "s3"},
            {"S3Settings", s3}};
  }

  Json Target() const {
    return {{"EndpointIdentifier", "tgt"}, {"EndpointType", "target"},
            {"EngineName", "postgres"},    {"ServerName", params_.host},
            {"Port", params_.port},        {"DatabaseName", params_.dbname},
            {"Username", params_.user},    {"Password", params_.password}};
  }

  static std::string IncludeAll() {
    return R"({"rules":[{"rule-type":"selection","rule-id":"1","rule-name":"all",)"
           R"("object-locator":{"schema-name":"%","table-name":"%"},"rule-action":"include"}]})";
  }

  static Json Task(const std::string& mappings, Json settings = Json::object(),
                   const std::string& id = "test-task", const std::string& type = "full-load") {
    return {{"ReplicationTaskIdentifier", id},
            {"MigrationType", type},
            {"TableMappings", mappings},
            {"ReplicationTaskSettings", settings.dump()}};
  }

  Result<TaskDefinition> Define(const Json& source, const Json& task) const {
    return LoadTaskDefinition(source, Target(), task);
  }

  // Runs a task to its end; fails the test when it is refused.
  TaskSnapshot Run(const Json& source, const Json& task,
                   StartType start = StartType::kStartReplication,
                   objectstore::ObjectStore* store = nullptr) {
    auto def = Define(source, task);
    EXPECT_TRUE(def.ok()) << def.status().ToString();
    if (!def.ok()) return {};
    definition_ = std::move(def).value();
    RunOptions options;
    options.start_type = start;
    options.read_buffer_bytes = read_buffer_bytes_;
    options.min_slice_bytes = min_slice_bytes_;
    options.until_idle_seconds = until_idle_seconds_;
    options.cdc_poll_interval_ms = 10;
    options.cdc_audit_interval_ms = 50;
    options.log_sink = log_sink_;
    ReplicationTask task_run(definition_, store ? *store : *store_, options);
    auto snap = task_run.Run();
    EXPECT_TRUE(snap.ok()) << snap.status().ToString();
    return snap.ok() ? *snap : TaskSnapshot{};
  }

  static const TableStatistics* Stats(const TaskSnapshot& s, const std::string& table) {
    for (const auto& t : s.tables) {
      if (t.table_name == table) return &t;
    }
    return nullptr;
  }

  std::unique_ptr<objectstore::ObjectStore> store_;
  TaskDefinition definition_;
  size_t read_buffer_bytes_ = 1 << 20;
  int64_t min_slice_bytes_ = int64_t{32} << 20;
  double until_idle_seconds_ = 0.3;  // CDC tasks stop once nothing new arrived for this long
  LogSink log_sink_;                 // RunOptions::log_sink of the runs
};

}  // namespace opendms::engine

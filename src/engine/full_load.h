// engine (internal): the full load of one table — objects in key order, streamed through the CSV
// tokenizer and the column encoders into one COPY per CommitRate rows, each committed together
// with the table's checkpoint and the rows a policy rejected.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "engine/control_tables.h"
#include "engine/engine.h"

namespace opendms::engine {

// What the task shares with its table loaders. Thread-safe.
class TaskShared {
 public:
  explicit TaskShared(std::vector<TableStatistics> tables) : tables_(std::move(tables)) {}

  // Runs `update` on table i's statistics under the lock and stamps LastUpdateTime.
  void UpdateTable(size_t i, const std::function<void(TableStatistics&)>& update);
  std::vector<TableStatistics> Tables() const;

  void RequestStop() { stop_requested_ = true; }
  bool stop_requested() const { return stop_requested_; }
  // The first fatal error wins; later ones are logged only.
  void Fail(std::string message);
  bool failed() const { return failed_; }
  std::string failure_message() const;

 private:
  mutable std::mutex mu_;
  std::vector<TableStatistics> tables_;  // guarded by mu_
  std::string failure_message_;          // guarded by mu_
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> failed_{false};
};

// An object of the table's folder, as listed when the task started.
struct SourceObject {
  std::string key;
  std::string etag;
  uint64_t size = 0;
};

enum class TableOutcome { kCompleted, kTableError, kFatal, kStopped };

struct TableLoadRequest {
  size_t index = 0;                       // into TaskDefinition::mapped_tables and statistics
  std::vector<SourceObject> objects;      // key order
  std::optional<TableCheckpoint> resume;  // continue from here instead of preparing the table
  bool prepare = true;                    // apply TargetTablePrepMode first
};

struct LoadEnvironment {
  const TaskDefinition& definition;
  objectstore::ObjectStore& store;
  const RunOptions& options;
  std::string task_name;
  std::string control_schema;
  TaskShared& shared;
};

// Loads one table on the given connection (owned by the calling worker thread). On kTableError
// and kFatal, the message says where and why; the table's statistics are already updated.
TableOutcome LoadTable(const LoadEnvironment& env, pg::Connection& conn,
                       const TableLoadRequest& request, std::string* message);

// DDL for the target table as DMS creates it: quoted names, NOT NULL unless nullable, PRIMARY
// KEY from ColumnIsPk (omitted when `with_primary_key` is false: CreatePkAfterFullLoad).
std::string CreateTableSql(const MappedTable& table, bool with_primary_key);
std::string AddPrimaryKeySql(const MappedTable& table);

// "folder/" + path, with the folder's slashes normalized; "" folder gives path.
std::string JoinFolder(std::string_view folder, std::string_view path);

// hex MD5 fingerprint of done objects (see TableCheckpoint::done_digest).
std::string DoneObjectsDigest(const std::vector<SourceObject>& objects, size_t count);

}  // namespace opendms::engine

// engine (internal): the full load of one table — objects in key order, streamed through the CSV
// tokenizer and the column encoders into one COPY per CommitRate rows, each committed together
// with the table's checkpoint and the rows a policy rejected.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/control_tables.h"
#include "engine/engine.h"
#include "engine/task_log.h"

namespace opendms::engine {

// What the task shares with its table loaders. Thread-safe.
class TaskShared {
 public:
  explicit TaskShared(std::vector<TableStatistics> tables) : tables_(std::move(tables)) {}

  // Runs `update` on table i's statistics under the lock and stamps LastUpdateTime.
  void UpdateTable(size_t i, const std::function<void(TableStatistics&)>& update);
  std::vector<TableStatistics> Tables() const;
  void UpdateCdc(const std::function<void(CdcStatistics&)>& update);
  CdcStatistics Cdc() const;
  void SetRecoveryCheckpoint(std::string checkpoint);
  std::string recovery_checkpoint() const;

  // Reloads requested (ReloadTables) and not yet taken: table indexes, oldest first, each once.
  void RequestReload(size_t i);
  std::vector<size_t> TakeReloads();

  void RequestStop() { stop_requested_ = true; }
  bool stop_requested() const { return stop_requested_; }
  // The first fatal error wins; later ones are logged only.
  void Fail(std::string message);
  bool failed() const { return failed_; }
  std::string failure_message() const;

 private:
  mutable std::mutex mu_;
  std::vector<TableStatistics> tables_;  // guarded by mu_
  CdcStatistics cdc_;                    // guarded by mu_
  std::string recovery_checkpoint_;      // guarded by mu_
  std::string failure_message_;          // guarded by mu_
  std::vector<size_t> reloads_;          // guarded by mu_
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> failed_{false};
};

// An object of the table's folder, as listed when the task started.
struct SourceObject {
  std::string key;
  std::string etag;
  uint64_t size = 0;
};

// kAbandoned: another slice of the same table failed, and this one stopped without touching the
// table's statistics (the failing slice reports the table's error).
// kRecoverable: the target connection broke; the slice's committed checkpoint is good and the
// slice should run again from it once the target is back (RecoverableError* settings).
enum class TableOutcome { kCompleted, kTableError, kFatal, kStopped, kAbandoned, kRecoverable };

// What the slices of one table share while it loads. Thread-safe.
class TableRun {
 public:
  // `plan`: every slice's first checkpoint, written by the preparation (empty when resuming).
  // `remaining`: slices still to complete.
  TableRun(bool prepare, std::vector<TableCheckpoint> plan, int remaining)
      : prepare_(prepare), plan_(std::move(plan)), remaining_(remaining) {}

  // Runs `prepare(plan)` for the first slice that starts: the table's TargetTablePrepMode DDL
  // together with the plan's first checkpoints. Later slices wait for it; once it succeeded it
  // is not run again (a failure is not remembered: the next slice tries again).
  Status PrepareOnce(const std::function<Status(const std::vector<TableCheckpoint>&)>& prepare);
  // A slice is about to commit its last rows: true when it is the table's last slice to do so
  // (the one that completes the table).
  bool FinishSlice();
  // One slice failed: the others stop at their next check.
  void Abandon() { abandoned_ = true; }
  bool abandoned() const { return abandoned_; }

 private:
  std::mutex mu_;
  bool prepare_;                       // guarded by mu_; false once done
  std::optional<Status> prep_status_;  // guarded by mu_
  const std::vector<TableCheckpoint> plan_;
  int remaining_;  // guarded by mu_: slices not yet completed
  std::atomic<bool> abandoned_{false};
};

// One slice of a table to load.
struct TableLoadRequest {
  size_t index = 0;                   // into TaskDefinition::mapped_tables and statistics
  std::vector<SourceObject> objects;  // the slice's objects, key order
  TableCheckpoint checkpoint;         // the slice's committed position (fresh: its plan row)
  std::shared_ptr<TableRun> table;    // shared by the table's slices
  int64_t bytes = 0;                  // what it has left to read (scheduling)
  bool reread_checkpoint = false;     // retry after a recoverable error: read it again first
  // A reload (ReloadTables): the table keeps its definition, so CreatePkAfterFullLoad adds no
  // primary key at the end.
  bool reload = false;
};

struct LoadEnvironment {
  const TaskDefinition& definition;
  objectstore::ObjectStore& store;
  const RunOptions& options;
  std::string task_name;
  std::string control_schema;
  TaskShared& shared;
  const OptionalControlTables& optional_tables;
};

// TaskLog (task_log.h) for env's task.
template <typename... Args>
void TaskLog(const LoadEnvironment& env, LogComponent component, LogSeverity severity,
             fmt::format_string<Args...> format, Args&&... args) {
  TaskLog(env.options, env.task_name, component, severity, format, std::forward<Args>(args)...);
}

// Loads one slice of a table on the given connection (owned by the calling worker thread). On
// kTableError and kFatal, the message says where and why; the table's statistics are updated.
TableOutcome LoadTable(const LoadEnvironment& env, pg::Connection& conn,
                       const TableLoadRequest& request, std::string* message);

// DDL for the target table as DMS creates it: quoted names, NOT NULL unless nullable, PRIMARY
// KEY from ColumnIsPk (omitted when `with_primary_key` is false: CreatePkAfterFullLoad).
std::string CreateTableSql(const MappedTable& table, bool with_primary_key);
std::string AddPrimaryKeySql(const MappedTable& table);
// The statements that prepare a target table under TargetTablePrepMode (DROP_AND_CREATE drops
// and creates; TRUNCATE_BEFORE_LOAD truncates, or creates a missing table; DO_NOTHING creates a
// missing table only).
std::string PrepareTableSql(const MappedTable& table, TargetTablePrepMode mode,
                            bool with_primary_key);

// "folder/" + path, with the folder's slashes normalized; "" folder gives path.
std::string JoinFolder(std::string_view folder, std::string_view path);

// hex MD5 over "key\0etag\n" of objects[first, first + count) (TableCheckpoint's digests).
std::string ObjectsDigest(const std::vector<SourceObject>& objects, size_t first, size_t count);

}  // namespace opendms::engine

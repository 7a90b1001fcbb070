// engine (internal): change processing from S3 change objects — DMS's S3-source CDC.
//
// Change objects live under [BucketFolder/]CdcPath/ and are taken in key order; each row is
// `operation, table, schema, values…` (table before schema, values in TableColumns order,
// operation I/U/D or INSERT/UPDATE/DELETE in any case). A batch of whole objects is parsed and
// encoded first, then applied in ONE transaction together with the task's new position and the
// ledger entries of its objects (control_tables.h): a change object is applied whole or not at
// all, exactly once, through crashes. Formats: docs/cdc.md.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "engine/control_tables.h"
#include "engine/engine.h"
#include "engine/full_load.h"
#include "pg/pg.h"

namespace opendms::engine {

// A position in the change stream: after `row` rows of object `key` (ETag `etag`); objects
// apply whole, so `row` is the object's row count.
struct CdcPosition {
  std::string key, etag;
  int64_t row = 0;
};

// The RecoveryCheckpoint string: "checkpoint:V1#S3#<key, percent-encoded>#<etag>#<row>".
std::string FormatCdcCheckpoint(const CdcPosition& position);

// A CdcStartPosition: a checkpoint string (above), or a time ("2026-11-30T12:00:00", UTC),
// which starts at change objects last modified at or after it.
struct CdcStart {
  std::optional<CdcPosition> position;
  std::optional<TimePoint> time;
};
Result<CdcStart> ParseCdcStartPosition(std::string_view text);

// A CdcStopPosition: "server_time:<time>" stops when the clock reaches it;
// "commit_time:<time>" stops before the first change object last modified after it.
struct CdcStopAt {
  enum class Kind { kServerTime, kCommitTime } kind = Kind::kServerTime;
  TimePoint time{};
};
Result<CdcStopAt> ParseCdcStopPosition(std::string_view text);

// How change processing ended. kFailed: TaskShared::Fail was called with the reason.
enum class CdcEnd { kStopRequested, kIdle, kServerTime, kCommitTime, kFailed };

struct CdcEnvironment {
  const TaskDefinition& definition;
  objectstore::ObjectStore& store;
  const RunOptions& options;
  std::string task_name;
  std::string control_schema;
  TaskShared& shared;
  std::function<Result<pg::Connection>()> connect;
};

// Runs change processing until it is stopped, fails, reaches the CdcStopPosition or (with
// RunOptions::until_idle_seconds) goes idle. `fresh`: start at the task's CdcStartPosition /
// CdcStartTime (or the first change object) and forget any earlier CDC state of the task;
// otherwise continue from the position committed in the target.
CdcEnd RunCdc(const CdcEnvironment& env, bool fresh);

}  // namespace opendms::engine

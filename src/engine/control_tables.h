// engine (internal): the tables opendms keeps in the target's control schema — full-load
// checkpoints and rejected rows. Layout and meaning: docs/control-tables.md.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/core.h"
#include "pg/pg.h"

namespace opendms::engine {

inline constexpr std::string_view kCheckpointTable = "opendms_full_load_checkpoints";
inline constexpr std::string_view kLoadExceptionsTable = "awsdms_full_load_exceptions";
inline constexpr std::string_view kCdcStateTable = "opendms_cdc_state";
inline constexpr std::string_view kCdcLedgerTable = "opendms_cdc_ledger";
inline constexpr std::string_view kApplyExceptionsTable = "awsdms_apply_exceptions";
inline constexpr std::string_view kTableReloadsTable = "opendms_table_reloads";
// DMS's optional control tables (ControlTablesSettings, TaskRecoveryTableEnabled), for tasks that
// do CDC, with DMS's DDL.
inline constexpr std::string_view kStatusTable = "awsdms_status";
inline constexpr std::string_view kSuspendedTablesTable = "awsdms_suspended_tables";
inline constexpr std::string_view kHistoryTable = "awsdms_history";
inline constexpr std::string_view kTxnStateTable = "awsdms_txn_state";

// Where one slice of a table's full load stands, committed in the same transaction as the rows it
// counts. A table's objects (in key order, as listed when its load was planned) are split into
// contiguous slices that load in parallel; the plan (plan_objects, plan_digest, each slice's
// first object and count) is committed with the table's preparation, so a resume finds it whole.
// Within the slice, the next row to read is at (object_key, object_offset, object_line); the
// slice's first objects_done objects are done, and done_digest fingerprints their keys and ETags.
struct TableCheckpoint {
  int slice = 0;
  int64_t slice_first = 0;    // index of the slice's first object in the plan
  int64_t slice_objects = 0;  // how many objects the slice has
  int64_t plan_objects = 0;   // how many objects the table had when its load was planned
  std::string plan_digest;    // hex MD5 over "key\0etag\n" of all of them, in key order
  std::string table_state;    // "loading" | "completed" | "error"
  int64_t rows_loaded = 0;
  int64_t rows_rejected = 0;
  std::string object_key;  // empty: no object started yet (or completed)
  std::string object_etag;
  int64_t object_offset = 0;
  int64_t object_line = 1;
  int64_t objects_done = 0;
  std::string done_digest;  // hex MD5 over "key\0etag\n" of the done objects, in key order
  std::optional<TimePoint> full_load_start, full_load_end;
};

using TableKey = std::pair<std::string, std::string>;  // target schema, target table

// Creates the control schema and opendms's control tables when missing.
Status EnsureControlTables(pg::Connection& conn, std::string_view control_schema);
// Every checkpoint the task has in the target: per table, its slices in slice order.
Result<std::map<TableKey, std::vector<TableCheckpoint>>> ReadCheckpoints(
    pg::Connection& conn, std::string_view control_schema, std::string_view task_name);
// Deletes the task's checkpoints, and its reloads in progress with them (a fresh start).
Status DeleteCheckpoints(pg::Connection& conn, std::string_view control_schema,
                         std::string_view task_name);
// Replaces a table's plan: deletes its slices' rows; then write each slice's first checkpoint.
Status DeleteTableCheckpoints(pg::Connection& conn, std::string_view control_schema,
                              std::string_view task_name, const TableKey& table);
// Upserts one slice's checkpoint; call inside the transaction that commits its rows.
Status WriteCheckpoint(pg::Connection& conn, std::string_view control_schema,
                       std::string_view task_name, const TableKey& table,
                       const TableCheckpoint& checkpoint);

// A row a data error policy kept out of the target, with where it came from.
struct RejectedRow {
  std::string bucket, key;
  int64_t line = 0, byte_offset = 0;
  int column_number = 0;  // 1-based field in the row; 0 when the whole row is concerned
  std::string column_name;
  std::string error_kind;  // DataErrorKindName
  std::string error;       // the full message
  std::string policy;      // the policy that decided: LOG_ERROR, IGNORE_RECORD, …
  std::string raw;         // the row's original bytes
  bool loaded = false;     // true when the row was loaded anyway (a truncated value)
};

// Where a task's CDC stands, committed in the same transaction as the changes it counts.
struct CdcState {
  // The task's start: change objects at or before start_key, or last modified before
  // start_time, are before the task (never applied, never "late"). Empty/none: from the first.
  std::string start_key;
  std::optional<TimePoint> start_time;
  // The last change object applied: every change object after it in key order is still to do.
  std::string position_key, position_etag;
  int64_t position_row = 0;  // rows of it applied (all of them: objects apply whole)
  std::string checkpoint;    // the RecoveryCheckpoint string of this position
};

// One change object the task has dealt with. outcome: "applied", "applied-late",
// "applied-overwritten", "skipped-late", "skipped-overwritten".
struct LedgerEntry {
  std::string key, etag;
  int64_t size = 0;
  TimePoint last_modified{};
  int64_t rows = 0, inserts = 0, updates = 0, deletes = 0, errors = 0;
  std::string outcome = "applied";
};

Result<std::optional<CdcState>> ReadCdcState(pg::Connection& conn, std::string_view control_schema,
                                             std::string_view task_name);
Status WriteCdcState(pg::Connection& conn, std::string_view control_schema,
                     std::string_view task_name, const CdcState& state);
// key → ETags the ledger holds for it.
Result<std::map<std::string, std::vector<std::string>>> ReadLedger(pg::Connection& conn,
                                                                   std::string_view control_schema,
                                                                   std::string_view task_name);
// Appends entries; applied_at is the clock when this runs (so: last statement before COMMIT).
Status WriteLedger(pg::Connection& conn, std::string_view control_schema,
                   std::string_view task_name, const std::vector<LedgerEntry>& entries);
// Change objects the ledger says the task applied (outcome applied, applied-late,
// applied-overwritten), each key once, in the order the task first applied it; with every ETag
// it applied for that key.
struct AppliedObject {
  std::string key;
  std::vector<std::string> etags;
};
Result<std::vector<AppliedObject>> ReadAppliedObjects(pg::Connection& conn,
                                                      std::string_view control_schema,
                                                      std::string_view task_name);
// Forgets the task's CDC state and ledger (start-replication, reload-target).
Status DeleteCdcState(pg::Connection& conn, std::string_view control_schema,
                      std::string_view task_name);

// A change that could not be applied, as DMS records it: the statement and the error.
struct ApplyException {
  std::string statement, error;
};
Status WriteApplyExceptions(pg::Connection& conn, std::string_view control_schema,
                            std::string_view task_name, const TableKey& table,
                            const std::vector<ApplyException>& rows);

// Which optional control tables a task keeps (from its settings), and the server_name column's
// value (this host's name).
struct OptionalControlTables {
  bool status = false, suspended_tables = false, history = false, txn_state = false;
  int history_timeslot_minutes = 5;
  std::string server_name;
  bool any() const { return status || suspended_tables || history || txn_state; }
};
Status EnsureOptionalControlTables(pg::Connection& conn, std::string_view control_schema,
                                   const OptionalControlTables& tables);
// awsdms_status: task_status is "FULL LOAD" or "CHANGE PROCESSING".
struct StatusRow {
  std::string task_status, current_position;
  std::optional<TimePoint> current_timestamp, applied_timestamp;
  int64_t pending_changes = 0;
};
Status WriteStatusRow(pg::Connection& conn, std::string_view control_schema,
                      const OptionalControlTables& tables, std::string_view task_name,
                      const StatusRow& row);
Status WriteSuspendedTable(pg::Connection& conn, std::string_view control_schema,
                           const OptionalControlTables& tables, std::string_view task_name,
                           const TableKey& table, std::string_view reason);
// Adds to the current HistoryTimeslotInMinutes slot of `type` ("CHANGE PROCESSING", "FULL LOAD").
Status AddHistory(pg::Connection& conn, std::string_view control_schema,
                  const OptionalControlTables& tables, std::string_view task_name,
                  std::string_view type, int64_t records, int64_t volume_bytes,
                  int64_t latency_seconds);
Status WriteTxnState(pg::Connection& conn, std::string_view control_schema,
                     const OptionalControlTables& tables, std::string_view task_name,
                     std::string_view checkpoint);

// Reloads in progress (ReloadTables): a target table is in opendms_table_reloads from the
// transaction that empties it until the one that finishes its reload (docs/cdc.md).
Status WriteTableReload(pg::Connection& conn, std::string_view control_schema,
                        std::string_view task_name, const TableKey& table);
Status DeleteTableReload(pg::Connection& conn, std::string_view control_schema,
                         std::string_view task_name, const TableKey& table);
// The task's reloads in progress, oldest first.
Result<std::vector<TableKey>> ReadTableReloads(pg::Connection& conn,
                                               std::string_view control_schema,
                                               std::string_view task_name);
// Forgets the rows a table's earlier loads rejected (awsdms_full_load_exceptions): a reload
// records its own.
Status DeleteRejectedRows(pg::Connection& conn, std::string_view control_schema,
                          std::string_view task_name, const TableKey& table);

// Inserts rejected rows; call inside the transaction that commits the rows around them.
Status WriteRejectedRows(pg::Connection& conn, std::string_view control_schema,
                         std::string_view task_name, const TableKey& table,
                         const std::vector<RejectedRow>& rows);

}  // namespace opendms::engine

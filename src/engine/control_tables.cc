#include "engine/control_tables.h"

#include <charconv>

namespace opendms::engine {
namespace {

std::string Table(std::string_view schema, std::string_view table) {
  return pg::QualifiedName(schema, table);
}

std::optional<std::string> Text(int64_t n) { return std::to_string(n); }

std::optional<std::string> TimeParam(const std::optional<TimePoint>& t) {
  if (!t) return std::nullopt;
  return FormatIso8601(*t);
}

int64_t ToInt(std::string_view s) {
  int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::optional<TimePoint> ToTime(const pg::QueryResult& r, int row, int col) {
  if (r.IsNull(row, col)) return std::nullopt;
  // Selected as epoch seconds (see ReadCheckpoints).
  return FromEpochSeconds(std::stod(std::string(r.Get(row, col))));
}

// Deletes the rows of `task_name` for `table` from the control table `control_table`.
Status DeleteTableRows(pg::Connection& conn, std::string_view control_schema,
                       std::string_view control_table, std::string_view task_name,
                       const TableKey& table) {
  return conn
      .Query("DELETE FROM " + Table(control_schema, control_table) +
                 " WHERE task_name = $1 AND table_owner = $2 AND table_name = $3",
             {std::string(task_name), table.first, table.second})
      .status();
}

}  // namespace

Status EnsureControlTables(pg::Connection& conn, std::string_view control_schema) {
  std::string sql = "CREATE SCHEMA IF NOT EXISTS " + pg::QuoteIdentifier(control_schema) + ";\n";
  sql += "CREATE TABLE IF NOT EXISTS " + Table(control_schema, kCheckpointTable) +
         " (task_name varchar(255) NOT NULL, table_owner varchar(128) NOT NULL,"
         " table_name varchar(128) NOT NULL, slice int4 NOT NULL, slice_first int8 NOT NULL,"
         " slice_objects int8 NOT NULL, plan_objects int8 NOT NULL, plan_digest text NOT NULL,"
         " table_state varchar(32) NOT NULL,"
         " rows_loaded int8 NOT NULL, rows_rejected int8 NOT NULL, object_key text NOT NULL,"
         " object_etag text NOT NULL, object_offset int8 NOT NULL, object_line int8 NOT NULL,"
         " objects_done int8 NOT NULL, done_digest text NOT NULL, full_load_start timestamptz,"
         " full_load_end timestamptz, updated_at timestamptz NOT NULL DEFAULT now(),"
         " PRIMARY KEY (task_name, table_owner, table_name, slice));\n";
  sql += "CREATE TABLE IF NOT EXISTS " + Table(control_schema, kLoadExceptionsTable) +
         " (\"TASK_NAME\" varchar(255) NOT NULL, \"TABLE_OWNER\" varchar(128) NOT NULL,"
         " \"TABLE_NAME\" varchar(128) NOT NULL, \"ERROR_TIME\" timestamp NOT NULL,"
         " \"BUCKET\" text NOT NULL, \"OBJECT_KEY\" text NOT NULL, \"LINE\" int8 NOT NULL,"
         " \"BYTE_OFFSET\" int8 NOT NULL, \"COLUMN_NUMBER\" int4 NOT NULL,"
         " \"COLUMN_NAME\" text NOT NULL, \"ERROR_KIND\" varchar(32) NOT NULL,"
         " \"ERROR\" text NOT NULL, \"POLICY\" varchar(32) NOT NULL, \"LOADED\" boolean NOT NULL,"
         " \"RAW_ROW\" bytea NOT NULL);\n";
  sql += "CREATE TABLE IF NOT EXISTS " + Table(control_schema, kCdcStateTable) +
         " (task_name varchar(255) PRIMARY KEY, start_key text NOT NULL,"
         " start_time timestamptz, position_key text NOT NULL, position_etag text NOT NULL,"
         " position_row int8 NOT NULL, checkpoint text NOT NULL,"
         " updated_at timestamptz NOT NULL DEFAULT now());\n";
  sql += "CREATE TABLE IF NOT EXISTS " + Table(control_schema, kCdcLedgerTable) +
         " (task_name varchar(255) NOT NULL, object_key text NOT NULL, etag text NOT NULL,"
         " size int8 NOT NULL, last_modified timestamptz NOT NULL,"
         " applied_at timestamptz NOT NULL, rows int8 NOT NULL, inserts int8 NOT NULL,"
         " updates int8 NOT NULL, deletes int8 NOT NULL, errors int8 NOT NULL,"
         " outcome varchar(32) NOT NULL, PRIMARY KEY (task_name, object_key, etag));\n";
  sql += "CREATE TABLE IF NOT EXISTS " + Table(control_schema, kApplyExceptionsTable) +
         " (\"TASK_NAME\" varchar(128) NOT NULL, \"TABLE_OWNER\" varchar(128) NOT NULL,"
         " \"TABLE_NAME\" varchar(128) NOT NULL, \"ERROR_TIME\" timestamp NOT NULL,"
         " \"STATEMENT\" text NOT NULL, \"ERROR\" text NOT NULL);\n";
  sql += "CREATE TABLE IF NOT EXISTS " + Table(control_schema, kTableReloadsTable) +
         " (task_name varchar(255) NOT NULL, table_owner varchar(128) NOT NULL,"
         " table_name varchar(128) NOT NULL, requested_at timestamptz NOT NULL DEFAULT now(),"
         " PRIMARY KEY (task_name, table_owner, table_name));\n";
  // Concurrent tasks may race to create the same tables; the loser's error is harmless.
  Status st = conn.Execute(sql);
  if (!st.ok() && st.message().find("23505") != std::string::npos) return conn.Execute(sql);
  return st;
}

Result<std::map<TableKey, std::vector<TableCheckpoint>>> ReadCheckpoints(
    pg::Connection& conn, std::string_view control_schema, std::string_view task_name) {
  ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn.Query("SELECT table_owner, table_name, table_state, rows_loaded, rows_rejected,"
                 " object_key, object_etag, object_offset, object_line, objects_done, done_digest,"
                 " extract(epoch from full_load_start), extract(epoch from full_load_end),"
                 " slice, slice_first, slice_objects, plan_objects, plan_digest FROM " +
                     Table(control_schema, kCheckpointTable) +
                     " WHERE task_name = $1 ORDER BY table_owner, table_name, slice",
                 {std::string(task_name)}));
  std::map<TableKey, std::vector<TableCheckpoint>> out;
  for (int i = 0; i < r.rows(); ++i) {
    TableCheckpoint c;
    c.slice = static_cast<int>(ToInt(r.Get(i, 13)));
    c.slice_first = ToInt(r.Get(i, 14));
    c.slice_objects = ToInt(r.Get(i, 15));
    c.plan_objects = ToInt(r.Get(i, 16));
    c.plan_digest = r.Get(i, 17);
    c.table_state = r.Get(i, 2);
    c.rows_loaded = ToInt(r.Get(i, 3));
    c.rows_rejected = ToInt(r.Get(i, 4));
    c.object_key = r.Get(i, 5);
    c.object_etag = r.Get(i, 6);
    c.object_offset = ToInt(r.Get(i, 7));
    c.object_line = ToInt(r.Get(i, 8));
    c.objects_done = ToInt(r.Get(i, 9));
    c.done_digest = r.Get(i, 10);
    c.full_load_start = ToTime(r, i, 11);
    c.full_load_end = ToTime(r, i, 12);
    out[{std::string(r.Get(i, 0)), std::string(r.Get(i, 1))}].push_back(std::move(c));
  }
  return out;
}

Status DeleteCheckpoints(pg::Connection& conn, std::string_view control_schema,
                         std::string_view task_name) {
  RETURN_IF_ERROR(conn.Query("DELETE FROM " + Table(control_schema, kTableReloadsTable) +
                                 " WHERE task_name = $1",
                             {std::string(task_name)})
                      .status());
  return conn
      .Query("DELETE FROM " + Table(control_schema, kCheckpointTable) + " WHERE task_name = $1",
             {std::string(task_name)})
      .status();
}

Status DeleteTableCheckpoints(pg::Connection& conn, std::string_view control_schema,
                              std::string_view task_name, const TableKey& table) {
  return DeleteTableRows(conn, control_schema, kCheckpointTable, task_name, table);
}

Status WriteCheckpoint(pg::Connection& conn, std::string_view control_schema,
                       std::string_view task_name, const TableKey& table,
                       const TableCheckpoint& c) {
  return conn
      .Query("INSERT INTO " + Table(control_schema, kCheckpointTable) +
                 " (task_name, table_owner, table_name, table_state, rows_loaded, rows_rejected,"
                 " object_key, object_etag, object_offset, object_line, objects_done, done_digest,"
                 " full_load_start, full_load_end, slice, slice_first, slice_objects, plan_objects,"
                 " plan_digest, updated_at)"
                 " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,"
                 " now())"
                 " ON CONFLICT (task_name, table_owner, table_name, slice) DO UPDATE SET"
                 " table_state = EXCLUDED.table_state, rows_loaded = EXCLUDED.rows_loaded,"
                 " rows_rejected = EXCLUDED.rows_rejected, object_key = EXCLUDED.object_key,"
                 " object_etag = EXCLUDED.object_etag, object_offset = EXCLUDED.object_offset,"
                 " object_line = EXCLUDED.object_line, objects_done = EXCLUDED.objects_done,"
                 " done_digest = EXCLUDED.done_digest, full_load_start = EXCLUDED.full_load_start,"
                 " full_load_end = EXCLUDED.full_load_end, updated_at = now()",
             {std::string(task_name), table.first, table.second, c.table_state, Text(c.rows_loaded),
              Text(c.rows_rejected), c.object_key, c.object_etag, Text(c.object_offset),
              Text(c.object_line), Text(c.objects_done), c.done_digest,
              TimeParam(c.full_load_start), TimeParam(c.full_load_end), Text(c.slice),
              Text(c.slice_first), Text(c.slice_objects), Text(c.plan_objects), c.plan_digest})
      .status();
}

Result<std::optional<CdcState>> ReadCdcState(pg::Connection& conn, std::string_view control_schema,
                                             std::string_view task_name) {
  ASSIGN_OR_RETURN(pg::QueryResult r,
                   conn.Query("SELECT start_key, extract(epoch from start_time), position_key,"
                              " position_etag, position_row, checkpoint FROM " +
                                  Table(control_schema, kCdcStateTable) + " WHERE task_name = $1",
                              {std::string(task_name)}));
  if (r.rows() == 0) return std::optional<CdcState>();
  CdcState s;
  s.start_key = r.Get(0, 0);
  s.start_time = ToTime(r, 0, 1);
  s.position_key = r.Get(0, 2);
  s.position_etag = r.Get(0, 3);
  s.position_row = ToInt(r.Get(0, 4));
  s.checkpoint = r.Get(0, 5);
  return std::optional<CdcState>(std::move(s));
}

Status WriteCdcState(pg::Connection& conn, std::string_view control_schema,
                     std::string_view task_name, const CdcState& s) {
  return conn
      .Query("INSERT INTO " + Table(control_schema, kCdcStateTable) +
                 " (task_name, start_key, start_time, position_key, position_etag, position_row,"
                 " checkpoint, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7, now())"
                 " ON CONFLICT (task_name) DO UPDATE SET start_key = EXCLUDED.start_key,"
                 " start_time = EXCLUDED.start_time, position_key = EXCLUDED.position_key,"
                 " position_etag = EXCLUDED.position_etag, position_row = EXCLUDED.position_row,"
                 " checkpoint = EXCLUDED.checkpoint, updated_at = now()",
             {std::string(task_name), s.start_key, TimeParam(s.start_time), s.position_key,
              s.position_etag, Text(s.position_row), s.checkpoint})
      .status();
}

Result<std::map<std::string, std::vector<std::string>>> ReadLedger(pg::Connection& conn,
                                                                   std::string_view control_schema,
                                                                   std::string_view task_name) {
  ASSIGN_OR_RETURN(pg::QueryResult r,
                   conn.Query("SELECT object_key, etag FROM " +
                                  Table(control_schema, kCdcLedgerTable) + " WHERE task_name = $1",
                              {std::string(task_name)}));
  std::map<std::string, std::vector<std::string>> out;
  for (int i = 0; i < r.rows(); ++i) out[std::string(r.Get(i, 0))].emplace_back(r.Get(i, 1));
  return out;
}

Status WriteLedger(pg::Connection& conn, std::string_view control_schema,
                   std::string_view task_name, const std::vector<LedgerEntry>& entries) {
  if (entries.empty()) return Status::Ok();
  // One statement for the batch: unnest of parallel arrays.
  auto array = [](const std::vector<std::string>& items) {
    std::string out = "{";
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += ',';
      out += '"';
      for (char c : items[i]) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      out += '"';
    }
    return out + "}";
  };
  std::vector<std::string> keys, etags, sizes, modified, rows, ins, upd, del, err, outcome;
  for (const LedgerEntry& e : entries) {
    keys.push_back(e.key);
    etags.push_back(e.etag);
    sizes.push_back(std::to_string(e.size));
    modified.push_back(FormatIso8601(e.last_modified));
    rows.push_back(std::to_string(e.rows));
    ins.push_back(std::to_string(e.inserts));
    upd.push_back(std::to_string(e.updates));
    del.push_back(std::to_string(e.deletes));
    err.push_back(std::to_string(e.errors));
    outcome.push_back(e.outcome);
  }
  return conn
      .Query("INSERT INTO " + Table(control_schema, kCdcLedgerTable) +
                 " (task_name, object_key, etag, size, last_modified, applied_at, rows, inserts,"
                 " updates, deletes, errors, outcome)"
                 " SELECT $1, k, e, s, m, clock_timestamp(), r, i, u, d, x, o FROM unnest("
                 "$2::text[], $3::text[], $4::int8[], $5::timestamptz[], $6::int8[], $7::int8[],"
                 " $8::int8[], $9::int8[], $10::int8[], $11::text[]) AS t(k, e, s, m, r, i, u, d,"
                 " x, o) ON CONFLICT (task_name, object_key, etag) DO UPDATE SET"
                 " applied_at = EXCLUDED.applied_at, outcome = EXCLUDED.outcome,"
                 " rows = EXCLUDED.rows, inserts = EXCLUDED.inserts, updates = EXCLUDED.updates,"
                 " deletes = EXCLUDED.deletes, errors = EXCLUDED.errors",
             {std::string(task_name), array(keys), array(etags), array(sizes), array(modified),
              array(rows), array(ins), array(upd), array(del), array(err), array(outcome)})
      .status();
}

Result<std::vector<AppliedObject>> ReadAppliedObjects(pg::Connection& conn,
                                                      std::string_view control_schema,
                                                      std::string_view task_name) {
  // applied_at is the target's clock_timestamp() at the insert: increasing batch after batch,
  // and along a batch's objects (key order) within one.
  ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn.Query("SELECT object_key, etag FROM " + Table(control_schema, kCdcLedgerTable) +
                     " WHERE task_name = $1 AND outcome LIKE 'applied%'"
                     " ORDER BY applied_at, object_key",
                 {std::string(task_name)}));
  std::vector<AppliedObject> out;
  std::map<std::string, size_t> seen;
  for (int i = 0; i < r.rows(); ++i) {
    std::string key(r.Get(i, 0));
    auto [it, fresh] = seen.try_emplace(key, out.size());
    if (fresh) out.push_back({key, {}});
    out[it->second].etags.emplace_back(r.Get(i, 1));
  }
  return out;
}

Status DeleteCdcState(pg::Connection& conn, std::string_view control_schema,
                      std::string_view task_name) {
  RETURN_IF_ERROR(
      conn.Query("DELETE FROM " + Table(control_schema, kCdcStateTable) + " WHERE task_name = $1",
                 {std::string(task_name)})
          .status());
  return conn
      .Query("DELETE FROM " + Table(control_schema, kCdcLedgerTable) + " WHERE task_name = $1",
             {std::string(task_name)})
      .status();
}

Status WriteTableReload(pg::Connection& conn, std::string_view control_schema,
                        std::string_view task_name, const TableKey& table) {
  return conn
      .Query("INSERT INTO " + Table(control_schema, kTableReloadsTable) +
                 " (task_name, table_owner, table_name, requested_at) VALUES ($1, $2, $3, now())"
                 " ON CONFLICT (task_name, table_owner, table_name) DO NOTHING",
             {std::string(task_name), table.first, table.second})
      .status();
}

Status DeleteTableReload(pg::Connection& conn, std::string_view control_schema,
                         std::string_view task_name, const TableKey& table) {
  return DeleteTableRows(conn, control_schema, kTableReloadsTable, task_name, table);
}

Result<std::vector<TableKey>> ReadTableReloads(pg::Connection& conn,
                                               std::string_view control_schema,
                                               std::string_view task_name) {
  ASSIGN_OR_RETURN(pg::QueryResult r,
                   conn.Query("SELECT table_owner, table_name FROM " +
                                  Table(control_schema, kTableReloadsTable) +
                                  " WHERE task_name = $1 ORDER BY requested_at, table_owner,"
                                  " table_name",
                              {std::string(task_name)}));
  std::vector<TableKey> out;
  for (int i = 0; i < r.rows(); ++i) out.emplace_back(r.Get(i, 0), r.Get(i, 1));
  return out;
}

Status DeleteRejectedRows(pg::Connection& conn, std::string_view control_schema,
                          std::string_view task_name, const TableKey& table) {
  return conn
      .Query("DELETE FROM " + Table(control_schema, kLoadExceptionsTable) +
                 " WHERE \"TASK_NAME\" = $1 AND \"TABLE_OWNER\" = $2 AND \"TABLE_NAME\" = $3",
             {std::string(task_name), table.first, table.second})
      .status();
}

Status WriteApplyExceptions(pg::Connection& conn, std::string_view control_schema,
                            std::string_view task_name, const TableKey& table,
                            const std::vector<ApplyException>& rows) {
  for (const ApplyException& row : rows) {
    RETURN_IF_ERROR(
        conn.Query("INSERT INTO " + Table(control_schema, kApplyExceptionsTable) +
                       " VALUES ($1, $2, $3, (now() at time zone 'utc'), $4, $5)",
                   {std::string(task_name), table.first, table.second, row.statement, row.error})
            .status());
  }
  return Status::Ok();
}

Status EnsureOptionalControlTables(pg::Connection& conn, std::string_view control_schema,
                                   const OptionalControlTables& t) {
  std::string sql;
  if (t.status) {
    sql += "CREATE TABLE IF NOT EXISTS " + Table(control_schema, kStatusTable) +
           " (server_name varchar(128) NOT NULL, task_name varchar(128) NOT NULL,"
           " task_status varchar(32), status_time timestamp, pending_changes int8,"
           " disk_swap_size int8, task_memory int8, source_current_position varchar(128),"
           " source_current_timestamp timestamp, source_tail_position varchar(128),"
           " source_tail_timestamp timestamp, source_timestamp_applied timestamp);\n"
           "CREATE UNIQUE INDEX IF NOT EXISTS awsdms_status_task_status_index ON " +
           Table(control_schema, kStatusTable) + " (server_name, task_name);\n";
  }
  if (t.suspended_tables) {
    sql += "CREATE TABLE IF NOT EXISTS " + Table(control_schema, kSuspendedTablesTable) +
           " (server_name varchar(128) NOT NULL, task_name varchar(128) NOT NULL,"
           " table_owner varchar(128) NOT NULL, table_name varchar(128) NOT NULL,"
           " suspend_reason varchar(32), suspend_timestamp timestamp);\n"
           "CREATE UNIQUE INDEX IF NOT EXISTS awsdms_suspended_tables_task_suspended_tables_index"
           " ON " +
           Table(control_schema, kSuspendedTablesTable) +
           " (server_name, task_name, table_owner, table_name);\n";
  }
  if (t.history) {
    sql += "CREATE TABLE IF NOT EXISTS " + Table(control_schema, kHistoryTable) +
           " (server_name varchar(128) NOT NULL, task_name varchar(128) NOT NULL,"
           " timeslot_type varchar(32) NOT NULL, timeslot timestamp NOT NULL,"
           " timeslot_duration int8, timeslot_latency int8, timeslot_records int8,"
           " timeslot_volume int8);\n"
           "CREATE UNIQUE INDEX IF NOT EXISTS awsdms_history_task_history_index ON " +
           Table(control_schema, kHistoryTable) +
           " (server_name, task_name, timeslot_type, timeslot);\n";
  }
  if (t.txn_state) {
    sql += "CREATE TABLE IF NOT EXISTS " + Table(control_schema, kTxnStateTable) +
           " (\"SERVER_NAME\" varchar(128) NOT NULL, \"TASK_NAME\" varchar(128) NOT NULL,"
           " \"STATE_TIME\" timestamp NOT NULL, \"CHECKPOINT\" varchar(1024) NOT NULL);\n"
           "CREATE UNIQUE INDEX IF NOT EXISTS awsdms_txn_state_task_recovery_index ON " +
           Table(control_schema, kTxnStateTable) + " (\"SERVER_NAME\", \"TASK_NAME\");\n";
  }
  if (sql.empty()) return Status::Ok();
  Status st = conn.Execute(sql);
  if (!st.ok() && st.message().find("23505") != std::string::npos) return conn.Execute(sql);
  return st;
}

Status WriteStatusRow(pg::Connection& conn, std::string_view control_schema,
                      const OptionalControlTables& t, std::string_view task_name,
                      const StatusRow& row) {
  if (!t.status) return Status::Ok();
  auto utc = [](const std::optional<TimePoint>& tp) -> std::optional<std::string> {
    if (!tp) return std::nullopt;
    std::string iso = FormatIso8601(*tp);
    return iso.substr(0, iso.size() - 1);  // without the Z: a UTC timestamp
  };
  return conn
      .Query("INSERT INTO " + Table(control_schema, kStatusTable) +
                 " (server_name, task_name, task_status, status_time, pending_changes,"
                 " disk_swap_size, task_memory, source_current_position,"
                 " source_current_timestamp, source_tail_position, source_tail_timestamp,"
                 " source_timestamp_applied) VALUES ($1, $2, $3, (now() at time zone 'utc'), $4,"
                 " 0, 0, $5, $6::timestamp, $5, $6::timestamp, $7::timestamp)"
                 " ON CONFLICT (server_name, task_name) DO UPDATE SET"
                 " task_status = EXCLUDED.task_status, status_time = EXCLUDED.status_time,"
                 " pending_changes = EXCLUDED.pending_changes,"
                 " source_current_position = EXCLUDED.source_current_position,"
                 " source_current_timestamp = EXCLUDED.source_current_timestamp,"
                 " source_tail_position = EXCLUDED.source_tail_position,"
                 " source_tail_timestamp = EXCLUDED.source_tail_timestamp,"
                 " source_timestamp_applied = EXCLUDED.source_timestamp_applied",
             {t.server_name, std::string(task_name), row.task_status, Text(row.pending_changes),
              row.current_position.substr(0, 128), utc(row.current_timestamp),
              utc(row.applied_timestamp)})
      .status();
}

Status WriteSuspendedTable(pg::Connection& conn, std::string_view control_schema,
                           const OptionalControlTables& t, std::string_view task_name,
                           const TableKey& table, std::string_view reason) {
  if (!t.suspended_tables) return Status::Ok();
  return conn
      .Query("INSERT INTO " + Table(control_schema, kSuspendedTablesTable) +
                 " VALUES ($1, $2, $3, $4, $5, (now() at time zone 'utc'))"
                 " ON CONFLICT (server_name, task_name, table_owner, table_name) DO UPDATE SET"
                 " suspend_reason = EXCLUDED.suspend_reason,"
                 " suspend_timestamp = EXCLUDED.suspend_timestamp",
             {t.server_name, std::string(task_name), table.first, table.second,
              std::string(reason.substr(0, 32))})
      .status();
}

Status AddHistory(pg::Connection& conn, std::string_view control_schema,
                  const OptionalControlTables& t, std::string_view task_name, std::string_view type,
                  int64_t records, int64_t volume_bytes, int64_t latency_seconds) {
  if (!t.history) return Status::Ok();
  const std::string slot_seconds = std::to_string(int64_t{t.history_timeslot_minutes} * 60);
  return conn
      .Query("INSERT INTO " + Table(control_schema, kHistoryTable) +
                 " VALUES ($1, $2, $3, to_timestamp(floor(extract(epoch from now()) / " +
                 slot_seconds + ") * " + slot_seconds +
                 ") at time zone 'utc', $4, $5, $6, $7)"
                 " ON CONFLICT (server_name, task_name, timeslot_type, timeslot) DO UPDATE SET"
                 " timeslot_latency = greatest(" +
                 Table(control_schema, kHistoryTable) +
                 ".timeslot_latency, EXCLUDED.timeslot_latency), timeslot_records = " +
                 Table(control_schema, kHistoryTable) +
                 ".timeslot_records + EXCLUDED.timeslot_records, timeslot_volume = " +
                 Table(control_schema, kHistoryTable) +
                 ".timeslot_volume + EXCLUDED.timeslot_volume",
             {t.server_name, std::string(task_name), std::string(type),
              Text(t.history_timeslot_minutes), Text(latency_seconds), Text(records),
              Text(volume_bytes / (1024 * 1024))})
      .status();
}

Status WriteTxnState(pg::Connection& conn, std::string_view control_schema,
                     const OptionalControlTables& t, std::string_view task_name,
                     std::string_view checkpoint) {
  if (!t.txn_state) return Status::Ok();
  return conn
      .Query("INSERT INTO " + Table(control_schema, kTxnStateTable) +
                 " VALUES ($1, $2, (now() at time zone 'utc'), $3)"
                 " ON CONFLICT (\"SERVER_NAME\", \"TASK_NAME\") DO UPDATE SET"
                 " \"STATE_TIME\" = EXCLUDED.\"STATE_TIME\","
                 " \"CHECKPOINT\" = EXCLUDED.\"CHECKPOINT\"",
             {t.server_name, std::string(task_name), std::string(checkpoint)})
      .status();
}

Status WriteRejectedRows(pg::Connection& conn, std::string_view control_schema,
                         std::string_view task_name, const TableKey& table,
                         const std::vector<RejectedRow>& rows) {
  if (rows.empty()) return Status::Ok();
  const std::string sql =
      "INSERT INTO " + Table(control_schema, kLoadExceptionsTable) +
      " (\"TASK_NAME\", \"TABLE_OWNER\", \"TABLE_NAME\", \"ERROR_TIME\", \"BUCKET\","
      " \"OBJECT_KEY\", \"LINE\", \"BYTE_OFFSET\", \"COLUMN_NUMBER\", \"COLUMN_NAME\","
      " \"ERROR_KIND\", \"ERROR\", \"POLICY\", \"LOADED\", \"RAW_ROW\")"
      " VALUES ($1,$2,$3,(now() at time zone 'utc'),$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,"
      " decode($14, 'hex'))";
  static constexpr char kHex[] = "0123456789abcdef";
  for (const RejectedRow& row : rows) {
    std::string hex;
    hex.reserve(row.raw.size() * 2);
    for (unsigned char c : row.raw) {
      hex.push_back(kHex[c >> 4]);
      hex.push_back(kHex[c & 15]);
    }
    RETURN_IF_ERROR(conn.Query(sql, {std::string(task_name), table.first, table.second, row.bucket,
                                     row.key, Text(row.line), Text(row.byte_offset),
                                     Text(row.column_number), row.column_name, row.error_kind,
                                     row.error, row.policy, row.loaded ? "true" : "false", hex})
                        .status());
  }
  return Status::Ok();
}

}  // namespace opendms::engine

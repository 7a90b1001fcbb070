// The load half of a table reload: see reload.h.
#include "engine/reload.h"

#include <algorithm>
#include <memory>

namespace opendms::engine {

TableOutcome ReloadTableData(const LoadEnvironment& env, pg::Connection& conn, size_t index,
                             bool load_objects, std::string* message) {
  const MappedTable& table = env.definition.mapped_tables[index];
  const TableDefinition& source = env.definition.tables.tables[table.source_table_index];
  const TableKey key{table.target_schema, table.target_table};
  const std::string table_name = table.target_schema + "." + table.target_table;
  const std::string& bucket = env.definition.source.s3.bucket_name;
  auto fail = [&](TableOutcome outcome, std::string why) {
    *message = "reloading " + table_name + ": " + why;
    return outcome;
  };

  std::vector<SourceObject> objects;
  if (load_objects) {
    const std::string prefix = JoinFolder(env.definition.source.s3.bucket_folder, source.path);
    objectstore::ListOptions lo;
    lo.prefix = prefix;
    for (;;) {
      auto page = env.store.List(bucket, lo);
      if (!page.ok()) {
        return fail(TableOutcome::kTableError,
                    "listing s3://" + bucket + "/" + prefix + ": " + page.status().message());
      }
      for (const objectstore::ObjectInfo& o : page->objects) {
        if (!o.key.empty() && o.key.back() == '/') continue;  // folder marker, no data
        objects.push_back({o.key, o.etag, o.size});
      }
      if (!page->truncated) break;
      lo.start_after = page->next_start_after;
    }
  }
  int64_t bytes_total = 0;
  for (const SourceObject& o : objects) bytes_total += static_cast<int64_t>(o.size);

  auto recorded = ReadTableReloads(conn, env.control_schema, env.task_name);
  auto checkpoints =
      recorded.ok() ? ReadCheckpoints(conn, env.control_schema, env.task_name)
                    : Result<std::map<TableKey, std::vector<TableCheckpoint>>>(recorded.status());
  if (!checkpoints.ok()) {
    return fail(pg::IsTransientError(checkpoints.status()) || !conn.IsHealthy()
                    ? TableOutcome::kRecoverable
                    : TableOutcome::kFatal,
                checkpoints.status().message());
  }
  const std::string digest = ObjectsDigest(objects, 0, objects.size());
  // A reload in progress continues its plan: one slice, planned over the same objects, not
  // failed.
  std::optional<TableCheckpoint> slice;
  if (std::find(recorded->begin(), recorded->end(), key) != recorded->end()) {
    auto it = checkpoints->find(key);
    if (it != checkpoints->end() && it->second.size() == 1 &&
        it->second[0].table_state != "error" &&
        it->second[0].plan_objects == static_cast<int64_t>(objects.size()) &&
        it->second[0].plan_digest == digest) {
      slice = it->second[0];
    }
  }
  if (slice) {
    TaskLog(env, LogComponent::kTargetLoad, LogSeverity::kInfo,
            "table {}: continuing its interrupted reload ({} rows loaded, {})", table_name,
            slice->rows_loaded, slice->table_state);
  } else {
    TableCheckpoint plan;
    // A cdc task (modified to cdc with a reload recorded) never loads its table folders: its
    // reload is the preparing and the changes.
    plan.table_state = load_objects ? "loading" : "completed";
    if (!load_objects) plan.full_load_start = plan.full_load_end = Clock::Now();
    plan.plan_objects = static_cast<int64_t>(objects.size());
    plan.plan_digest = digest;
    plan.slice_objects = plan.plan_objects;
    plan.done_digest = ObjectsDigest(objects, 0, 0);
    // DMS applies the TargetTablePrepMode before reloading (DO_NOTHING leaves the rows: "you
    // must manually truncate the table first"); a missing table is created as the full load
    // would.
    const TargetTablePrepMode mode = env.definition.task.settings.prep_mode;
    const std::string prepare = PrepareTableSql(table, mode, /*with_primary_key=*/true);
    Status st = conn.Execute("BEGIN;\n" + prepare);
    if (st.ok()) st = DeleteTableCheckpoints(conn, env.control_schema, env.task_name, key);
    if (st.ok()) st = DeleteRejectedRows(conn, env.control_schema, env.task_name, key);
    if (st.ok()) st = WriteCheckpoint(conn, env.control_schema, env.task_name, key, plan);
    if (st.ok()) st = WriteTableReload(conn, env.control_schema, env.task_name, key);
    if (st.ok()) st = conn.Execute("SET LOCAL synchronous_commit = on; COMMIT");
    if (!st.ok()) {
      (void)conn.Execute("ROLLBACK");
      return fail(pg::IsTransientError(st) || !conn.IsHealthy() ? TableOutcome::kRecoverable
                                                                : TableOutcome::kTableError,
                  "preparing it (" + std::string(TargetTablePrepModeName(mode)) +
                      "): " + st.message());
    }
    if (mode == TargetTablePrepMode::kDoNothing) {
      auto kept = conn.Query("SELECT EXISTS (SELECT 1 FROM " +
                             pg::QualifiedName(table.target_schema, table.target_table) + ")");
      if (kept.ok() && kept->Get(0, 0) == "t") {
        TaskLog(env, LogComponent::kTargetLoad, LogSeverity::kWarning,
                "table {} keeps its rows for its reload (TargetTablePrepMode DO_NOTHING: as "
                "DMS, opendms does not empty it; truncate it first): rows loaded again may "
                "duplicate them or conflict with its primary key",
                table_name);
      }
    }
    TaskLog(env, LogComponent::kTargetLoad, LogSeverity::kInfo,
            "table {} prepared for its reload ({}): loading {} objects ({} bytes) again",
            table_name, TargetTablePrepModeName(mode), objects.size(), bytes_total);
    slice = plan;
  }

  const TableCheckpoint& c = *slice;
  int64_t bytes_done = c.object_offset;
  for (int64_t i = 0; i < c.objects_done && i < static_cast<int64_t>(objects.size()); ++i) {
    bytes_done += static_cast<int64_t>(objects[i].size);
  }
  const bool completed = c.table_state == "completed";
  env.shared.UpdateTable(index, [&](TableStatistics& s) {
    s.table_state = std::string(kTableBeingReloaded);  // until its changes are applied again
    s.full_load_reloaded = true;
    s.full_load_rows = c.rows_loaded;
    s.full_load_error_rows = c.rows_rejected;
    s.full_load_truncated_rows = 0;
    s.bytes_total = bytes_total;
    s.bytes_read = completed ? bytes_total : bytes_done;
    s.objects_total = static_cast<int64_t>(objects.size());
    s.objects_done = completed ? s.objects_total : c.objects_done;
    s.full_load_start = c.full_load_start;
    s.full_load_end = c.full_load_end;
    s.error_message.clear();
  });
  if (completed) return TableOutcome::kCompleted;

  TableLoadRequest request;
  request.index = index;
  request.objects = objects;
  request.checkpoint = c;
  request.table = std::make_shared<TableRun>(/*prepare=*/false, std::vector<TableCheckpoint>{}, 1);
  request.bytes = bytes_total - bytes_done;
  request.reload = true;
  std::string why;
  const TableOutcome outcome = LoadTable(env, conn, request, &why);
  if (outcome != TableOutcome::kCompleted) *message = "reloading " + table_name + ": " + why;
  return outcome;
}

}  // namespace opendms::engine

// engine (internal): the load half of a table reload (ReloadTables). The change half — applying
// again the change objects the task has applied — is CDC's (cdc.cc), which also finishes the
// reload. docs/cdc.md, "Reloading tables".
#pragma once

#include <string>

#include "engine/full_load.h"
#include "pg/pg.h"

namespace opendms::engine {

// Loads table `index` again, on `conn` (idle, no transaction open), updating its statistics
// (FullLoadReloaded true; TableState "Table is being reloaded", which the caller changes to
// "Table completed" once the reload is finished).
//
// A reload begins with ONE transaction that prepares the table as the TargetTablePrepMode says
// (DO_NOTHING keeps its rows, logged; a missing table is created), forgets its full-load
// checkpoints and rejected rows, writes its new load plan (one slice over the objects of its
// table folder, or none with `load_objects` false: a cdc task never loads them — ReloadTables
// refuses cdc tasks, but a task modified to cdc may resume a reload recorded before) and
// records the reload in opendms_table_reloads. The load then commits
// with its checkpoints like a full load's. When the table is already recorded there (a reload
// interrupted by a crash or a stop), its plan is continued — or, if the bucket no longer holds
// the planned objects or the load had failed, the reload begins again.
//
// Returns the load's outcome (kCompleted also when the recorded load had already completed);
// *message says why on kTableError/kFatal. The record stays: the caller deletes it in the
// transaction that finishes the reload.
TableOutcome ReloadTableData(const LoadEnvironment& env, pg::Connection& conn, size_t index,
                             bool load_objects, std::string* message);

}  // namespace opendms::engine

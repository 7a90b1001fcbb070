// Change processing. One loop on one connection:
//
//   list new change objects (start-after the last one seen) → take a batch of whole objects →
//   parse and encode every row (structural errors fail the task before anything of the bad
//   object is applied; value errors follow DataErrorPolicy) → BEGIN → apply per table → write
//   the ledger entries and the new position → COMMIT.
//
// Apply per table: with BatchApplyEnabled and a primary key, the batch's changes are reduced to
// one net change per key, COPYed (binary) into a temporary staging table, and applied with one
// DELETE … USING, one UPDATE … FROM and one INSERT … ON CONFLICT DO NOTHING. When a statement
// touches fewer rows than it should (a missing row, a duplicate key), the table's work is rolled
// back to a savepoint, the offending changes are found with anti-joins and handled by the
// ApplyError*Policy settings, and the statements run again. Otherwise (batch apply off, or no
// primary key) each change is one prepared statement, in order.
#include "engine/cdc.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>
#include <unordered_map>

#include "csv/csv.h"
#include "engine/reload.h"

namespace opendms::engine {

// ---------------------------------------------------------------------------------------------
// Positions
// ---------------------------------------------------------------------------------------------

namespace {

constexpr std::string_view kCheckpointPrefix = "checkpoint:V1#S3#";

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

Result<std::string> PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    if (i + 3 > s.size() || hex(s[i + 1]) < 0 || hex(s[i + 2]) < 0) {
      return Status::InvalidArgument("bad percent-encoding in checkpoint key");
    }
    out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
    i += 2;
  }
  return out;
}

}  // namespace

std::string FormatCdcCheckpoint(const CdcPosition& p) {
  return std::string(kCheckpointPrefix) + PercentEncode(p.key) + "#" + p.etag + "#" +
         std::to_string(p.row);
}

Result<CdcStart> ParseCdcStartPosition(std::string_view text) {
  CdcStart start;
  if (text.substr(0, kCheckpointPrefix.size()) == kCheckpointPrefix) {
    std::string_view rest = text.substr(kCheckpointPrefix.size());
    const size_t a = rest.find('#');
    const size_t b = a == std::string_view::npos ? a : rest.find('#', a + 1);
    if (b == std::string_view::npos) {
      return Status::InvalidArgument("CdcStartPosition: malformed checkpoint \"" +
                                     std::string(text) +
                                     "\" (expected checkpoint:V1#S3#<key>#<etag>#<row>)");
    }
    CdcPosition p;
    ASSIGN_OR_RETURN(p.key, PercentDecode(rest.substr(0, a)));
    p.etag = std::string(rest.substr(a + 1, b - a - 1));
    const std::string row(rest.substr(b + 1));
    if (row.empty() || row.find_first_not_of("0123456789") != std::string::npos) {
      return Status::InvalidArgument("CdcStartPosition: malformed checkpoint row in \"" +
                                     std::string(text) + "\"");
    }
    p.row = std::stoll(row);
    start.position = std::move(p);
    return start;
  }
  auto time = ParseIsoTimestamp(text, "CdcStartPosition");
  if (!time.ok()) {
    return Status::InvalidArgument(
        "CdcStartPosition must be a RecoveryCheckpoint (checkpoint:V1#S3#…) or a time such as "
        "2026-11-30T12:00:00; got \"" +
        std::string(text) + "\"");
  }
  start.time = *time;
  return start;
}

Result<CdcStopAt> ParseCdcStopPosition(std::string_view text) {
  CdcStopAt stop;
  std::string_view rest;
  if (text.substr(0, 12) == "server_time:") {
    stop.kind = CdcStopAt::Kind::kServerTime;
    rest = text.substr(12);
  } else if (text.substr(0, 12) == "commit_time:") {
    stop.kind = CdcStopAt::Kind::kCommitTime;
    rest = text.substr(12);
  } else {
    return Status::InvalidArgument(
        "CdcStopPosition must be \"server_time:<time>\" or \"commit_time:<time>\", got \"" +
        std::string(text) + "\"");
  }
  ASSIGN_OR_RETURN(stop.time, ParseIsoTimestamp(rest, "CdcStopPosition"));
  return stop;
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

namespace {

enum class Op : char { kInsert = 'I', kUpdate = 'U', kDelete = 'D' };

std::optional<Op> ParseOp(std::string_view s) {
  auto eq = [&](std::string_view word) {
    if (s.size() != word.size()) return false;
    for (size_t i = 0; i < s.size(); ++i) {
      if (std::toupper(static_cast<unsigned char>(s[i])) != word[i]) return false;
    }
    return true;
  };
  if (eq("I") || eq("INSERT")) return Op::kInsert;
  if (eq("U") || eq("UPDATE")) return Op::kUpdate;
  if (eq("D") || eq("DELETE")) return Op::kDelete;
  return std::nullopt;
}

std::string S3Url(std::string_view bucket, std::string_view key) {
  return "s3://" + std::string(bucket) + "/" + std::string(key);
}

// Errors of the environment, not of the data: the connection went away or the server is
// restarting. The task retries them as RecoverableError* settings say.
bool IsRecoverable(const Status& st, const pg::Connection* conn) {
  return (conn != nullptr && !conn->IsHealthy()) || pg::IsTransientError(st);
}

// One change of a batch. Its encoded fields (binary COPY form: int32 length + bytes per column,
// -1 for NULL) are at [fields, fields + fields_size) of its table's arena, its key (the primary
// key columns' encoded fields) at [key, key + key_size).
struct Change {
  Op op;
  uint32_t table;   // index into mapped tables
  uint32_t object;  // index into the batch's objects
  uint64_t line;
  uint64_t fields, fields_size, key, key_size;
};

// What the run keeps per mapped table.
struct TableState {
  const MappedTable* mapped = nullptr;
  const TableDefinition* source = nullptr;
  std::vector<ColumnEncoder> encoders;
  std::vector<size_t> source_columns;  // per target column: field index (after the 3 leading)
  std::string qualified;               // "schema"."table"
  std::string staging;                 // temp table name
  bool batch = false;                  // set-based apply
  bool suspended = false;
  std::string suspend_reason;
  uint64_t prepared_generation = 0;  // connection generation its statements were prepared on
  // Per batch:
  std::string arena, keys;
  int64_t inserts = 0, updates = 0, deletes = 0, errors = 0;
};

struct BatchObject {
  objectstore::ObjectInfo info;
  std::string outcome = "applied";
  int64_t rows = 0, inserts = 0, updates = 0, deletes = 0, errors = 0;
};

class CdcRun {
 public:
  explicit CdcRun(const CdcEnvironment& env)
      : env_(env),
        def_(env.definition),
        settings_(env.definition.task.settings),
        bucket_(env.definition.source.s3.bucket_name) {}

  CdcEnd Run(bool fresh);

  // Tokenizer sink for one change object.
  bool OnRow(std::span<const csv::Field> fields, const csv::RowInfo& row);

 private:
  enum class ApplyVerdict { kOk, kRetryBatch, kFatal };
  enum class ReloadEnd { kDone, kTableError, kStopped, kRecoverable, kFatal };

  Status Setup();
  Status Connect();
  Status LoadState(bool fresh);
  Status ListNew();
  Status Audit();
  CdcEnd Fail(std::string message);
  // Parses one object of the batch into changes_; a structural error sets fatal_.
  Status ParseObject(BatchObject& object, uint32_t index);
  // Applies and commits the parsed batch. kRetryBatch: a table was suspended, parse again.
  Result<ApplyVerdict> ApplyBatch(std::vector<BatchObject>& batch);
  Result<ApplyVerdict> ApplySetBased(size_t t, std::vector<uint32_t>& changes);
  Result<ApplyVerdict> ApplyOne(const Change& c);
  Status PrepareTable(size_t t);
  ApplyVerdict ApplyError(size_t t, ErrorPolicy policy, std::string_view setting, int64_t count,
                          const std::string& what);
  ApplyVerdict Suspend(size_t t, const std::string& why);
  std::string StatementExpr(size_t t, Op op, const std::vector<std::string>& values) const;
  std::string ValueExpr(size_t t, size_t column, std::string_view alias) const;
  std::string KeyMatch(size_t t, std::string_view left, std::string_view right) const;
  void ResetBatch();
  // ReloadTables: loads table t again (reload.h), then applies to it, alone, the change
  // objects the task has applied, in the order it applied them, in ONE transaction that also
  // ends the reload (docs/cdc.md, "Reloading tables").
  ReloadEnd Reload(size_t t, std::string* message);
  Result<ReloadEnd> ReplayChanges(size_t t, std::string* message);
  void RecordLatency(const std::vector<BatchObject>& batch, TimePoint committed);

  const CdcEnvironment& env_;
  const TaskDefinition& def_;
  const TaskSettings& settings_;
  const std::string bucket_;
  std::string prefix_;  // [BucketFolder/]CdcPath/

  std::optional<pg::Connection> conn_;
  uint64_t generation_ = 0;  // bumps at every (re)connect
  std::vector<TableState> tables_;
  std::map<std::pair<std::string, std::string>, size_t> by_source_;  // (owner, name) → table
  std::set<std::pair<std::string, std::string>> defined_;            // every defined (owner, name)

  CdcState state_;
  std::map<std::string, std::vector<std::string>> ledger_;  // key → ETags applied/handled
  std::vector<objectstore::ObjectInfo> pending_;            // new objects, key order
  std::vector<objectstore::ObjectInfo> late_;               // late/overwritten to apply
  std::set<std::string> queued_;                            // keys in pending_ or late_
  std::string listed_up_to_;                                // start-after for the next listing
  std::optional<CdcStopAt> stop_at_;
  std::vector<size_t> reloads_;         // tables to reload before the next batch, oldest first
  std::optional<size_t> replay_table_;  // while a reload replays: the only table parsed
  int64_t batch_limit_ = 0;             // bytes of change objects in one batch

  // Batch being parsed.
  std::vector<Change> changes_;
  std::vector<ApplyException> data_exceptions_;  // value errors (DataErrorPolicy LOG_ERROR)
  std::vector<TableKey> data_exception_tables_;
  BatchObject* object_ = nullptr;
  uint32_t object_index_ = 0;
  std::string fatal_;
  int64_t data_errors_ = 0;
  int64_t apply_errors_ = 0;
  int64_t other_table_rows_ = 0;
  std::vector<size_t> suspended_to_record_;  // written to awsdms_suspended_tables at next commit
  std::vector<std::string_view> field_views_;
  std::unique_ptr<bool[]> field_nulls_;
  size_t field_nulls_size_ = 0;
};

CdcEnd CdcRun::Fail(std::string message) {
  env_.shared.Fail(std::move(message));
  return CdcEnd::kFailed;
}

Status CdcRun::Setup() {
  const S3SourceSettings& s3 = def_.source.s3;
  std::string cdc_path = s3.cdc_path;
  while (!cdc_path.empty() && cdc_path.back() == '/') cdc_path.pop_back();
  if (cdc_path.empty()) {
    return Status::InvalidArgument("the source endpoint has no S3Settings.CdcPath: a " +
                                   std::string(MigrationTypeName(def_.task.migration_type)) +
                                   " task reads change objects from [BucketFolder/]CdcPath/");
  }
  prefix_ = JoinFolder(s3.bucket_folder, cdc_path) + "/";
  for (const TableDefinition& t : def_.tables.tables) defined_.insert({t.owner, t.name});
  tables_.resize(def_.mapped_tables.size());
  for (size_t i = 0; i < def_.mapped_tables.size(); ++i) {
    TableState& t = tables_[i];
    t.mapped = &def_.mapped_tables[i];
    t.source = &def_.tables.tables[t.mapped->source_table_index];
    for (const TargetColumn& c : t.mapped->columns) {
      ASSIGN_OR_RETURN(ColumnEncoder enc, ColumnEncoder::Make(c.definition, CopyFormat::kBinary));
      t.encoders.push_back(std::move(enc));
      t.source_columns.push_back(c.source_index < 0 ? SIZE_MAX
                                                    : static_cast<size_t>(c.source_index));
    }
    t.qualified = pg::QualifiedName(t.mapped->target_schema, t.mapped->target_table);
    t.staging = "opendms_changes_" + std::to_string(i);
    t.batch = settings_.batch_apply_enabled && !t.mapped->primary_key.empty();
    by_source_[{t.source->owner, t.source->name}] = i;
  }
  if (def_.task.cdc_stop_position) {
    ASSIGN_OR_RETURN(CdcStopAt stop, ParseCdcStopPosition(*def_.task.cdc_stop_position));
    stop_at_ = stop;
  }
  return Status::Ok();
}

Status CdcRun::Connect() {
  conn_.reset();
  ASSIGN_OR_RETURN(pg::Connection c, env_.connect());
  conn_.emplace(std::move(c));
  ++generation_;
  // Staging tables are temporary: keep them in memory (must be set before the first one).
  return conn_->Execute("SET temp_buffers = '256MB'");
}

Status CdcRun::LoadState(bool fresh) {
  std::optional<CdcState> stored;
  if (fresh) {
    RETURN_IF_ERROR(DeleteCdcState(*conn_, env_.control_schema, env_.task_name));
  } else {
    ASSIGN_OR_RETURN(stored, ReadCdcState(*conn_, env_.control_schema, env_.task_name));
  }
  if (stored) {
    state_ = std::move(*stored);
  } else {
    // A first start (or a full-load-and-cdc task resumed before it reached CDC).
    state_ = CdcState{};
    if (def_.task.cdc_start_position) {
      ASSIGN_OR_RETURN(CdcStart start, ParseCdcStartPosition(*def_.task.cdc_start_position));
      if (start.position) {
        state_.start_key = start.position->key;
        state_.position_key = start.position->key;
        state_.position_etag = start.position->etag;
        state_.position_row = start.position->row;
      }
      state_.start_time = start.time;
    } else if (def_.task.cdc_start_time) {
      state_.start_time = def_.task.cdc_start_time;
    }
    state_.checkpoint =
        state_.position_key.empty()
            ? ""
            : FormatCdcCheckpoint({state_.position_key, state_.position_etag, state_.position_row});
    // Committed now, so that a resume before the first change object starts here too.
    RETURN_IF_ERROR(WriteCdcState(*conn_, env_.control_schema, env_.task_name, state_));
  }
  ASSIGN_OR_RETURN(ledger_, ReadLedger(*conn_, env_.control_schema, env_.task_name));
  listed_up_to_ = state_.position_key;
  pending_.clear();
  late_.clear();
  queued_.clear();
  env_.shared.SetRecoveryCheckpoint(state_.checkpoint);
  return Status::Ok();
}

// Whether an object belongs to the time before the task's start.
bool BeforeStart(const CdcState& s, const objectstore::ObjectInfo& o) {
  if (!s.start_key.empty() && o.key <= s.start_key) return true;
  if (s.start_time && o.last_modified < *s.start_time) return true;
  return false;
}

Status CdcRun::ListNew() {
  objectstore::ListOptions lo;
  lo.prefix = prefix_;
  lo.start_after = std::max(listed_up_to_, prefix_);
  for (;;) {
    ASSIGN_OR_RETURN(objectstore::ListResult page, env_.store.List(bucket_, lo));
    for (objectstore::ObjectInfo& o : page.objects) {
      listed_up_to_ = std::max(listed_up_to_, o.key);
      if (!o.key.empty() && o.key.back() == '/') continue;  // folder marker
      if (BeforeStart(state_, o)) continue;
      if (ledger_.count(o.key)) continue;  // handled by an earlier run (e.g. applied late)
      if (queued_.insert(o.key).second) pending_.push_back(std::move(o));
    }
    if (!page.truncated) break;
    lo.start_after = page.next_start_after;
  }
  return Status::Ok();
}

Status CdcRun::Audit() {
  objectstore::ListOptions lo;
  lo.prefix = prefix_;
  std::vector<objectstore::ObjectInfo> found;
  for (;;) {
    ASSIGN_OR_RETURN(objectstore::ListResult page, env_.store.List(bucket_, lo));
    for (objectstore::ObjectInfo& o : page.objects) {
      if (o.key > listed_up_to_) break;
      if (!o.key.empty() && o.key.back() == '/') continue;
      if (BeforeStart(state_, o) || queued_.count(o.key)) continue;
      auto it = ledger_.find(o.key);
      if (it == ledger_.end()) {
        found.push_back(std::move(o));  // late: sorts before objects already applied
      } else if (std::find(it->second.begin(), it->second.end(), o.etag) == it->second.end()) {
        found.push_back(std::move(o));  // overwritten after it was applied
      }
    }
    if (!page.truncated || (!page.objects.empty() && page.objects.back().key > listed_up_to_)) {
      break;
    }
    lo.start_after = page.next_start_after;
  }
  for (objectstore::ObjectInfo& o : found) {
    const bool overwritten = ledger_.count(o.key) > 0;
    const std::string what = overwritten ? S3Url(bucket_, o.key) + " was overwritten (new ETag " +
                                               o.etag + ") after the task applied it"
                                         : S3Url(bucket_, o.key) +
                                               " landed late: its key sorts before change "
                                               "objects the task has already applied";
    env_.shared.UpdateCdc(
        [&](CdcStatistics& c) { ++(overwritten ? c.overwritten_objects : c.late_objects); });
    switch (settings_.late_change_object_policy) {
      case LateObjectPolicy::kStopTask:
        return Status::InvalidState(
            what +
            " (OpendmsSettings.LateChangeObjectPolicy STOP_TASK): delete or rename it, "
            "or set the policy to APPLY or SKIP, then resume the task");
      case LateObjectPolicy::kSkip: {
        TaskLog(env_, LogComponent::kSourceCapture, LogSeverity::kWarning,
                "{}: skipped (OpendmsSettings.LateChangeObjectPolicy SKIP)", what);
        LedgerEntry e;
        e.key = o.key;
        e.etag = o.etag;
        e.size = static_cast<int64_t>(o.size);
        e.last_modified = o.last_modified;
        e.outcome = overwritten ? "skipped-overwritten" : "skipped-late";
        RETURN_IF_ERROR(WriteLedger(*conn_, env_.control_schema, env_.task_name, {e}));
        ledger_[o.key].push_back(o.etag);
        env_.shared.UpdateCdc([](CdcStatistics& c) { ++c.skipped_objects; });
        break;
      }
      case LateObjectPolicy::kApply:
        TaskLog(env_, LogComponent::kSourceCapture, LogSeverity::kWarning,
                "{}: applying it now (OpendmsSettings.LateChangeObjectPolicy APPLY)", what);
        queued_.insert(o.key);
        late_.push_back(std::move(o));
        break;
    }
  }
  return Status::Ok();
}

// ---- parsing ---------------------------------------------------------------------------------

void CdcRun::ResetBatch() {
  changes_.clear();
  data_exceptions_.clear();
  data_exception_tables_.clear();
  fatal_.clear();
  for (TableState& t : tables_) {
    t.arena.clear();
    t.keys.clear();
    t.inserts = t.updates = t.deletes = t.errors = 0;
  }
}

bool CdcRun::OnRow(std::span<const csv::Field> fields, const csv::RowInfo& row) {
  if (row.raw.empty() && fields.size() == 1 && !fields[0].quoted) return true;  // blank line
  ++object_->rows;
  const std::string where = S3Url(bucket_, object_->info.key) + " line " + std::to_string(row.line);
  if (fields.size() < 3) {
    fatal_ = where + ": a change row needs at least 3 fields (operation, table, schema), it has " +
             std::to_string(fields.size());
    return false;
  }
  const std::optional<Op> op = ParseOp(fields[0].value);
  if (!op) {
    fatal_ = where + ", column 1: unknown operation '" + std::string(fields[0].value) +
             "' (expected I, U, D, INSERT, UPDATE or DELETE)";
    return false;
  }
  const std::string table_name(fields[1].value), schema_name(fields[2].value);
  auto it = by_source_.find({schema_name, table_name});
  if (replay_table_ && (it == by_source_.end() || it->second != *replay_table_)) return true;
  if (it == by_source_.end()) {
    if (!defined_.count({schema_name, table_name})) {
      TaskLog(env_, LogComponent::kSourceCapture, LogSeverity::kWarning,
              "{}: change for table {}.{}, which the ExternalTableDefinition does not define: "
              "not applied",
              where, schema_name, table_name);
    }
    ++other_table_rows_;
    return true;
  }
  const size_t t = it->second;
  TableState& table = tables_[t];
  const size_t defined = table.source->columns.size();
  if (fields.size() - 3 != defined) {
    const bool more = fields.size() - 3 > defined;
    fatal_ = where + ": change row has " + std::to_string(fields.size()) + " fields, expected " +
             std::to_string(defined + 3) + " (operation, table, schema and the " +
             std::to_string(defined) + " columns of " + schema_name + "." + table_name + ")" +
             (more ? ": field " + std::to_string(defined + 4) +
                         " is not defined in the task's table definition"
                   : "");
    return false;
  }
  if (table.suspended) return true;
  const std::span<const csv::Field> values = fields.subspan(3);
  if (!table.mapped->row_filter.empty() ||
      std::any_of(table.mapped->columns.begin(), table.mapped->columns.end(),
                  [](const TargetColumn& c) { return c.expression != nullptr; })) {
    field_views_.resize(values.size());
    if (field_nulls_size_ < values.size()) {
      field_nulls_.reset(new bool[values.size()]);
      field_nulls_size_ = values.size();
    }
    for (size_t i = 0; i < values.size(); ++i) {
      field_views_[i] = values[i].value;
      field_nulls_[i] = !values[i].quoted && values[i].value.empty();
    }
    if (!table.mapped->row_filter.Matches(
            field_views_, std::span<const bool>(field_nulls_.get(), values.size()))) {
      return true;
    }
  }
  Change c;
  c.op = *op;
  c.table = static_cast<uint32_t>(t);
  c.object = object_index_;
  c.line = row.line;
  c.fields = table.arena.size();
  const size_t keys_start = table.keys.size();
  std::vector<std::pair<size_t, size_t>> spans(table.encoders.size());
  for (size_t col = 0; col < table.encoders.size(); ++col) {
    const size_t start = table.arena.size();
    const size_t src = table.source_columns[col];
    ValueIssue issue;
    if (src != SIZE_MAX) {
      issue = table.encoders[col].Encode(
          values[src].value, !values[src].quoted && values[src].value.empty(), table.arena);
    } else {
      ExpressionContext ctx{std::span<const std::string_view>(field_views_),
                            std::span<const bool>(field_nulls_.get(), values.size()),
                            table.source->owner, table.source->name};
      auto value = table.mapped->columns[col].expression->Evaluate(ctx);
      if (!value.ok()) {
        issue = ValueIssue{DataErrorKind::kInvalidValue, value.status().message()};
      } else if (value->has_value()) {
        issue = table.encoders[col].Encode(**value, false, table.arena);
      } else {
        issue = table.encoders[col].Encode("", true, table.arena);
      }
    }
    if (!issue.ok() && !(issue.kind == DataErrorKind::kTruncation &&
                         settings_.data_truncation_error_policy == ErrorPolicy::kLogError)) {
      table.arena.resize(c.fields);
      table.keys.resize(keys_start);
      const bool truncation = issue.kind == DataErrorKind::kTruncation;
      const ErrorPolicy policy =
          truncation ? settings_.data_truncation_error_policy : settings_.data_error_policy;
      const std::string message = where + ", column " +
                                  std::to_string(src == SIZE_MAX ? 0 : src + 4) + " (" +
                                  table.mapped->columns[col].name + "): " + issue.message + " [" +
                                  std::string(DataErrorKindName(issue.kind)) + "]";
      ++data_errors_;
      ++table.errors;
      ++object_->errors;
      if (policy == ErrorPolicy::kStopTask) {
        fatal_ = message + " (task stopped by " +
                 (truncation ? "DataTruncationErrorPolicy" : "DataErrorPolicy") + ")";
        return false;
      }
      if (policy == ErrorPolicy::kSuspendTable) {
        Suspend(t, message + " (table suspended by DataErrorPolicy)");
        return true;
      }
      TaskLog(env_, LogComponent::kTargetApply, LogSeverity::kWarning,
              "{} ({}; change not applied{})", message, ErrorPolicyName(policy),
              policy == ErrorPolicy::kLogError ? ", kept in awsdms_apply_exceptions" : "");
      if (policy == ErrorPolicy::kLogError) {
        data_exceptions_.push_back({std::string(row.raw), message});
        data_exception_tables_.push_back({table.mapped->target_schema, table.mapped->target_table});
      }
      if (settings_.data_error_escalation_count > 0 &&
          data_errors_ >= settings_.data_error_escalation_count) {
        const std::string why = "DataErrorEscalationCount (" +
                                std::to_string(settings_.data_error_escalation_count) +
                                ") reached at " + where;
        if (settings_.data_error_escalation_policy == ErrorPolicy::kStopTask) {
          fatal_ = why;
          return false;
        }
        Suspend(t, why);
      }
      return true;
    }
    spans[col] = {start, table.arena.size() - start};
  }
  c.fields_size = table.arena.size() - c.fields;
  c.key = keys_start;
  for (int k : table.mapped->primary_key) {
    table.keys.append(table.arena, spans[k].first, spans[k].second);
  }
  c.key_size = table.keys.size() - keys_start;
  switch (c.op) {
    case Op::kInsert:
      ++object_->inserts;
      break;
    case Op::kUpdate:
      ++object_->updates;
      break;
    case Op::kDelete:
      ++object_->deletes;
      break;
  }
  changes_.push_back(c);
  return true;
}

Status CdcRun::ParseObject(BatchObject& object, uint32_t index) {
  object_ = &object;
  object_index_ = index;
  object.rows = object.inserts = object.updates = object.deletes = object.errors = 0;
  ASSIGN_OR_RETURN(std::unique_ptr<objectstore::ObjectReader> reader,
                   env_.store.Get(bucket_, object.info.key, std::nullopt));
  if (reader->info().etag != object.info.etag) {
    object.info = reader->info();  // replaced since it was listed: apply what is there now
  }
  csv::TokenizerOptions topt;
  topt.buffer_size = env_.options.read_buffer_bytes;
  topt.ignore_header_rows = static_cast<uint64_t>(def_.source.s3.ignore_header_rows);
  csv::Tokenizer tokenizer(def_.dialect, topt);
  objectstore::ObjectReader& r = *reader;
  auto source = [&r](char* dst, size_t cap) { return r.Read(dst, cap); };
  if (!tokenizer.Run(source, *this)) {
    if (!fatal_.empty()) return Status::Ok();
    const csv::CsvError& e = tokenizer.error();
    const std::string msg = S3Url(bucket_, object.info.key) + " line " + std::to_string(e.line) +
                            ", column " + std::to_string(e.column) + ": " + e.message + " [" +
                            std::string(csv::CsvErrorKindName(e.kind)) + "]";
    if (e.kind == csv::CsvErrorKind::kReadError) return Status::IoError(msg);
    fatal_ = msg;
  }
  return Status::Ok();
}

// ---- applying --------------------------------------------------------------------------------

CdcRun::ApplyVerdict CdcRun::Suspend(size_t t, const std::string& why) {
  TableState& table = tables_[t];
  if (settings_.table_error_policy == ErrorPolicy::kStopTask) {
    fatal_ = why + " (TableErrorPolicy STOP_TASK)";
    return ApplyVerdict::kFatal;
  }
  // Takes effect at the next commit (statistics, awsdms_suspended_tables): a batch of several
  // objects is first retried object by object, so that the table keeps the changes before the
  // one that suspends it.
  table.suspended = true;
  table.suspend_reason = why;
  suspended_to_record_.push_back(t);
  return ApplyVerdict::kRetryBatch;
}

CdcRun::ApplyVerdict CdcRun::ApplyError(size_t t, ErrorPolicy policy, std::string_view setting,
                                        int64_t count, const std::string& what) {
  apply_errors_ += count;
  tables_[t].errors += count;
  if (policy == ErrorPolicy::kStopTask) {
    fatal_ = what + " (" + std::string(setting) + " STOP_TASK)";
    return ApplyVerdict::kFatal;
  }
  if (policy == ErrorPolicy::kSuspendTable) {
    return Suspend(t, what + " (" + std::string(setting) + " SUSPEND_TABLE)");
  }
  TaskLog(env_, LogComponent::kTargetApply, LogSeverity::kWarning, "{} ({} {})", what, setting,
          ErrorPolicyName(policy));
  if (settings_.apply_error_escalation_count > 0 &&
      apply_errors_ >= settings_.apply_error_escalation_count) {
    const std::string why = "ApplyErrorEscalationCount (" +
                            std::to_string(settings_.apply_error_escalation_count) + ") reached";
    if (settings_.apply_error_escalation_policy == ErrorPolicy::kStopTask) {
      fatal_ = why;
      return ApplyVerdict::kFatal;
    }
    if (settings_.apply_error_escalation_policy == ErrorPolicy::kSuspendTable) {
      return Suspend(t, why);
    }
  }
  return ApplyVerdict::kOk;
}

std::string CdcRun::ValueExpr(size_t t, size_t column, std::string_view alias) const {
  return std::string(alias) + "." + pg::QuoteIdentifier(tables_[t].mapped->columns[column].name);
}

std::string CdcRun::KeyMatch(size_t t, std::string_view left, std::string_view right) const {
  std::string out;
  for (int k : tables_[t].mapped->primary_key) {
    if (!out.empty()) out += " AND ";
    const std::string col = pg::QuoteIdentifier(tables_[t].mapped->columns[k].name);
    out += std::string(left) + "." + col + " = " + std::string(right) + "." + col;
  }
  return out;
}

// SQL text of the per-row statement a change stands for, built by the server from `values`
// (one SQL expression per column): what awsdms_apply_exceptions.STATEMENT shows.
std::string CdcRun::StatementExpr(size_t t, Op op, const std::vector<std::string>& values) const {
  const MappedTable& m = *tables_[t].mapped;
  auto lit = [](const std::string& s) { return pg::QuoteLiteral(s); };
  std::string e;
  // The row's key: the primary key, or every column when the table has none.
  std::vector<int> key = m.primary_key;
  if (key.empty()) {
    for (size_t i = 0; i < m.columns.size(); ++i) key.push_back(static_cast<int>(i));
  }
  auto where = [&] {
    std::string w;
    for (size_t i = 0; i < key.size(); ++i) {
      const int k = key[i];
      w += lit((i ? " AND " : " WHERE ") + pg::QuoteIdentifier(m.columns[k].name) + " = ") +
           " || quote_nullable(" + values[k] + ")";
      if (i + 1 < key.size()) w += " || ";
    }
    return w;
  };
  switch (op) {
    case Op::kInsert: {
      std::string cols;
      for (size_t i = 0; i < m.columns.size(); ++i) {
        cols += (i ? ", " : "") + pg::QuoteIdentifier(m.columns[i].name);
      }
      e = lit("INSERT INTO " + tables_[t].qualified + " (" + cols + ") VALUES (");
      for (size_t i = 0; i < m.columns.size(); ++i) {
        e +=
            " || " + std::string(i ? lit(", ") + " || " : "") + "quote_nullable(" + values[i] + ")";
      }
      e += " || ')'";
      break;
    }
    case Op::kUpdate:
      e = lit("UPDATE " + tables_[t].qualified + " SET ");
      for (size_t i = 0; i < m.columns.size(); ++i) {
        e += " || " + lit((i ? ", " : "") + pg::QuoteIdentifier(m.columns[i].name) + " = ") +
             " || quote_nullable(" + values[i] + ")";
      }
      e += " || " + where();
      break;
    case Op::kDelete:
      e = lit("DELETE FROM " + tables_[t].qualified) + " || " + where();
      break;
  }
  return e;
}

Status CdcRun::PrepareTable(size_t t) {
  TableState& table = tables_[t];
  if (table.prepared_generation == generation_) return Status::Ok();
  const MappedTable& m = *table.mapped;
  std::string cols, types;
  for (size_t i = 0; i < m.columns.size(); ++i) {
    cols += (i ? ", " : "") + pg::QuoteIdentifier(m.columns[i].name);
    types += ", " + pg::QuoteIdentifier(m.columns[i].name) + " " +
             PostgresTypeFor(m.columns[i].definition);
  }
  if (table.batch) {
    RETURN_IF_ERROR(conn_->Execute("CREATE TEMP TABLE IF NOT EXISTS " + table.staging +
                                   " (opendms_op \"char\" NOT NULL" + types +
                                   ") ON COMMIT DELETE ROWS"));
  }
  // Per-change statements; parameters are cast to opendms's column types (the binary form the
  // encoders write), then assigned to whatever the target column is.
  std::string params, set, key_where, all_where;
  for (size_t i = 0; i < m.columns.size(); ++i) {
    const std::string p =
        "$" + std::to_string(i + 1) + "::" + PostgresTypeFor(m.columns[i].definition);
    const std::string col = pg::QuoteIdentifier(m.columns[i].name);
    params += (i ? ", " : "") + p;
    set += (i ? ", " : "") + col + " = " + p;
    all_where += (i ? " AND " : "") + col + " IS NOT DISTINCT FROM " + p;
  }
  std::string key_only_where;  // the DELETE gets the key's values only
  for (size_t i = 0; i < m.primary_key.size(); ++i) {
    const int k = m.primary_key[i];
    const std::string col = pg::QuoteIdentifier(m.columns[k].name);
    const std::string type = PostgresTypeFor(m.columns[k].definition);
    key_where += (i ? " AND " : "") + col + " = $" + std::to_string(k + 1) + "::" + type;
    key_only_where += (i ? " AND " : "") + col + " = $" + std::to_string(i + 1) + "::" + type;
  }
  const std::string n = std::to_string(t);
  RETURN_IF_ERROR(conn_->Prepare("opendms_ins_" + n, "INSERT INTO " + table.qualified + " (" +
                                                         cols + ") VALUES (" + params +
                                                         ") ON CONFLICT DO NOTHING"));
  if (!m.primary_key.empty()) {
    RETURN_IF_ERROR(conn_->Prepare(
        "opendms_upd_" + n, "UPDATE " + table.qualified + " SET " + set + " WHERE " + key_where));
    RETURN_IF_ERROR(conn_->Prepare("opendms_del_" + n,
                                   "DELETE FROM " + table.qualified + " WHERE " + key_only_where));
  } else {
    RETURN_IF_ERROR(conn_->Prepare(
        "opendms_del_" + n, "DELETE FROM " + table.qualified + " WHERE ctid = (SELECT ctid FROM " +
                                table.qualified + " WHERE " + all_where + " LIMIT 1)"));
  }
  // Every parameter is typed in the sub-select, whether the statement text uses it or not.
  std::vector<std::string> values;
  std::string typed;
  for (size_t i = 0; i < m.columns.size(); ++i) {
    values.push_back("v.c" + std::to_string(i));
    typed += ", $" + std::to_string(i + 4) + "::" + PostgresTypeFor(m.columns[i].definition) +
             " AS c" + std::to_string(i);
  }
  const std::string exceptions = pg::QualifiedName(env_.control_schema, kApplyExceptionsTable);
  for (Op op : {Op::kInsert, Op::kUpdate, Op::kDelete}) {
    RETURN_IF_ERROR(conn_->Prepare(
        std::string("opendms_exc_") + static_cast<char>(op) + "_" + n,
        "INSERT INTO " + exceptions +
            " SELECT v.task, v.owner, v.tab, (now() at time zone 'utc'), " +
            StatementExpr(t, op, values) +
            ", v.error FROM (SELECT $1::text AS task, $2::text AS owner, $3::text AS tab, $" +
            std::to_string(m.columns.size() + 4) + "::text AS error" + typed + ") v"));
  }
  table.prepared_generation = generation_;
  return Status::Ok();
}

// The change's encoded fields as binary parameters.
void FieldParams(const std::string& arena, uint64_t offset, uint64_t size,
                 std::vector<pg::Connection::BinaryParam>& out) {
  const char* p = arena.data() + offset;
  const char* end = p + size;
  while (p < end) {
    uint32_t be;
    std::memcpy(&be, p, 4);
    const int32_t len = static_cast<int32_t>(__builtin_bswap32(be));
    p += 4;
    if (len < 0) {
      out.push_back({nullptr, 0});
    } else {
      out.push_back({p, len});
      p += len;
    }
  }
}

Result<CdcRun::ApplyVerdict> CdcRun::ApplyOne(const Change& c) {
  TableState& table = tables_[c.table];
  const std::string n = std::to_string(c.table);
  std::vector<pg::Connection::BinaryParam> params;
  FieldParams(table.arena, c.fields, c.fields_size, params);
  const MappedTable& m = *table.mapped;
  auto record = [&](Op op, const std::string& error) -> Status {
    std::vector<pg::Connection::BinaryParam> p;
    const std::string& task = env_.task_name;
    p.push_back({task.data(), static_cast<int>(task.size())});
    p.push_back({m.target_schema.data(), static_cast<int>(m.target_schema.size())});
    p.push_back({m.target_table.data(), static_cast<int>(m.target_table.size())});
    p.insert(p.end(), params.begin(), params.end());
    p.push_back({error.data(), static_cast<int>(error.size())});
    return conn_->ExecutePrepared(std::string("opendms_exc_") + static_cast<char>(op) + "_" + n, p)
        .status();
  };
  switch (c.op) {
    case Op::kInsert: {
      ASSIGN_OR_RETURN(uint64_t n_ins, conn_->ExecutePrepared("opendms_ins_" + n, params));
      if (n_ins == 1) return ApplyVerdict::kOk;
      const ErrorPolicy policy = settings_.apply_error_insert_policy;
      if (policy == ErrorPolicy::kInsertRecord && !m.primary_key.empty()) {
        ASSIGN_OR_RETURN(uint64_t n_upd, conn_->ExecutePrepared("opendms_upd_" + n, params));
        (void)n_upd;
        return ApplyVerdict::kOk;
      }
      const std::string error =
          "duplicate key: a row with the same key already exists in " + table.qualified;
      if (policy == ErrorPolicy::kLogError) RETURN_IF_ERROR(record(Op::kInsert, error));
      return ApplyError(c.table, policy, "ApplyErrorInsertPolicy", 1,
                        "an INSERT into " + table.qualified + ": " + error);
    }
    case Op::kUpdate: {
      uint64_t n_upd = 0;
      if (!m.primary_key.empty()) {
        ASSIGN_OR_RETURN(n_upd, conn_->ExecutePrepared("opendms_upd_" + n, params));
        if (n_upd >= 1) return ApplyVerdict::kOk;
      }
      const ErrorPolicy policy = settings_.apply_error_update_policy;
      if (policy == ErrorPolicy::kUpdateRecord) {
        ASSIGN_OR_RETURN(uint64_t n_ins, conn_->ExecutePrepared("opendms_ins_" + n, params));
        (void)n_ins;
        return ApplyVerdict::kOk;
      }
      const std::string error =
          m.primary_key.empty()
              ? table.qualified + " has no primary key: an UPDATE cannot find its row"
              : "0 rows affected: no row with this key in " + table.qualified;
      if (policy == ErrorPolicy::kLogError) RETURN_IF_ERROR(record(Op::kUpdate, error));
      return ApplyError(c.table, policy, "ApplyErrorUpdatePolicy", 1,
                        "an UPDATE of " + table.qualified + ": " + error);
    }
    case Op::kDelete: {
      std::vector<pg::Connection::BinaryParam> key = params;
      if (!m.primary_key.empty()) {
        key.clear();
        for (int k : m.primary_key) key.push_back(params[k]);
      }
      ASSIGN_OR_RETURN(uint64_t n_del, conn_->ExecutePrepared("opendms_del_" + n, key));
      if (n_del >= 1) return ApplyVerdict::kOk;
      const ErrorPolicy policy = settings_.apply_error_delete_policy;
      const std::string error = "0 rows affected: no such row in " + table.qualified;
      if (policy == ErrorPolicy::kLogError) RETURN_IF_ERROR(record(Op::kDelete, error));
      return ApplyError(c.table, policy, "ApplyErrorDeletePolicy", 1,
                        "a DELETE from " + table.qualified + ": " + error);
    }
  }
  return ApplyVerdict::kOk;
}

Result<CdcRun::ApplyVerdict> CdcRun::ApplySetBased(size_t t, std::vector<uint32_t>& indexes) {
  TableState& table = tables_[t];
  const MappedTable& m = *table.mapped;
  // Net change per key, in first-seen order: first op tells whether the row existed before the
  // batch, the last one what it must be after.
  struct Net {
    Op first, last;
    uint32_t change;  // the last change (its image)
    std::string_view key;
  };
  std::unordered_map<std::string_view, size_t> slot;
  slot.reserve(indexes.size());
  std::vector<Net> nets;
  nets.reserve(indexes.size());
  for (uint32_t i : indexes) {
    const Change& c = changes_[i];
    std::string_view key(table.keys.data() + c.key, c.key_size);
    auto [it, inserted] = slot.try_emplace(key, nets.size());
    if (inserted) {
      nets.push_back({c.op, c.op, i, key});
    } else {
      nets[it->second].last = c.op;
      nets[it->second].change = i;
    }
  }
  // In key order: the statements then walk the target's key index in order, ~3× faster than
  // at random (bytes order is the key order for non-negative integers, close enough for others).
  std::sort(nets.begin(), nets.end(), [](const Net& a, const Net& b) { return a.key < b.key; });
  // The net rows: D (row existed, must be gone), U (existed, new image), I (new row).
  int64_t want[3] = {0, 0, 0};                  // D, U, I
  std::vector<std::pair<char, uint32_t>> rows;  // op, the change holding the image
  rows.reserve(nets.size());
  for (const Net& n : nets) {
    char op;
    if (n.first == Op::kInsert) {
      if (n.last == Op::kDelete) continue;  // born and gone within the batch
      op = 'I';
    } else {
      op = n.last == Op::kDelete ? 'D' : 'U';
    }
    ++want[op == 'D' ? 0 : op == 'U' ? 1 : 2];
    rows.emplace_back(op, n.change);
  }
  // Binary COPY data of the rows whose op is in `ops`; `with_op`: the staging table's leading
  // op column.
  auto copy_data = [&](std::string_view ops, bool with_op) {
    static constexpr char kHeader[] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
    std::string out(kHeader, 19);
    const uint16_t nfields = static_cast<uint16_t>(m.columns.size() + (with_op ? 1 : 0));
    for (const auto& [op, change] : rows) {
      if (ops.find(op) == std::string_view::npos) continue;
      const Change& c = changes_[change];
      const char head[7] = {
          static_cast<char>(nfields >> 8), static_cast<char>(nfields & 0xff), 0, 0, 0, 1, op};
      out.append(head, with_op ? 7 : 2);
      out.append(table.arena, c.fields, c.fields_size);
    }
    out.append("\377\377", 2);
    return out;
  };
  auto copy_in = [&](const std::string& sql, const std::string& data) -> Result<uint64_t> {
    ASSIGN_OR_RETURN(pg::CopyIn in, pg::CopyIn::Begin(*conn_, sql));
    RETURN_IF_ERROR(in.Write(data));
    return in.Finish();
  };
  std::string column_list;
  for (const TargetColumn& c : m.columns) {
    column_list += (column_list.empty() ? "" : ", ") + pg::QuoteIdentifier(c.name);
  }
  const std::string staging_copy =
      "COPY " + table.staging + " (opendms_op, " + column_list + ") FROM STDIN (FORMAT binary)";
  const std::string direct_copy =
      "COPY " + table.qualified + " (" + column_list + ") FROM STDIN (FORMAT binary)";
  std::string cols, scols, set;
  for (size_t i = 0; i < m.columns.size(); ++i) {
    const std::string c = pg::QuoteIdentifier(m.columns[i].name);
    cols += (i ? ", " : "") + c;
    scols += (i ? ", s." : "s.") + c;
    // The key columns are not SET: they match already, and leaving them out keeps the key's
    // index untouched.
    if (std::find(m.primary_key.begin(), m.primary_key.end(), static_cast<int>(i)) !=
        m.primary_key.end()) {
      continue;
    }
    set += (set.empty() ? "" : ", ") + c + " = s." + c;
  }
  if (set.empty()) {  // every column is in the key: an update rewrites the key with itself
    const std::string c = pg::QuoteIdentifier(m.columns[m.primary_key[0]].name);
    set = c + " = s." + c;
  }
  const std::string match = KeyMatch(t, "t", "s");
  const std::string del = "DELETE FROM " + table.qualified + " t USING " + table.staging +
                          " s WHERE s.opendms_op = 'D' AND " + match;
  const std::string upd = "UPDATE " + table.qualified + " t SET " + set + " FROM " + table.staging +
                          " s WHERE s.opendms_op = 'U' AND " + match;
  const std::string ins = "INSERT INTO " + table.qualified + " (" + cols + ") SELECT " + scols +
                          " FROM " + table.staging +
                          " s WHERE s.opendms_op = 'I'";  // a duplicate key: see below
  auto run = [&](int64_t got[3]) -> Status {
    int64_t* g = got;
    for (const std::string* sql : {&del, &upd, &ins}) {
      if (want[g - got] == 0) {
        *g++ = 0;
        continue;
      }
      Result<pg::QueryResult> r = conn_->Query(*sql);
      if (!r.ok()) {
        // A plain INSERT is cheaper than INSERT … ON CONFLICT; a duplicate key (rare) aborts it
        // and sends the table down the slow path below, like a count that does not match.
        if (sql == &ins && pg::SqlState(r.status()) == "23505") {
          *g++ = -1;
          continue;
        }
        return r.status();
      }
      *g++ = static_cast<int64_t>(r->AffectedRows());
    }
    return Status::Ok();
  };
  RETURN_IF_ERROR(conn_->Execute("SAVEPOINT opendms_table"));
  // The fast path: deletes and updates through the staging table, new rows COPYed straight into
  // the target (a duplicate key aborts the COPY and takes the slow path).
  int64_t got[3] = {0, 0, 0};
  if (want[0] + want[1] > 0) {
    RETURN_IF_ERROR(copy_in(staging_copy, copy_data("DU", true)).status());
    for (int k = 0; k < 2; ++k) {
      if (want[k] == 0) continue;
      ASSIGN_OR_RETURN(pg::QueryResult r, conn_->Query(k == 0 ? del : upd));
      got[k] = static_cast<int64_t>(r.AffectedRows());
    }
  }
  if (want[2] > 0 && got[0] == want[0] && got[1] == want[1]) {
    Result<uint64_t> n = copy_in(direct_copy, copy_data("I", false));
    if (!n.ok() && pg::SqlState(n.status()) != "23505") return n.status();
    got[2] = n.ok() ? static_cast<int64_t>(*n) : -1;
  }
  if (got[0] == want[0] && got[1] == want[1] && got[2] == want[2]) {
    RETURN_IF_ERROR(conn_->Execute("RELEASE SAVEPOINT opendms_table"));
    return ApplyVerdict::kOk;
  }
  // Some changes did not apply as they should: undo this table's statements, stage every net
  // row, find the offending ones, let the policies decide, run again.
  RETURN_IF_ERROR(conn_->Execute("ROLLBACK TO SAVEPOINT opendms_table"));
  RETURN_IF_ERROR(copy_in(staging_copy, copy_data("DUI", true)).status());
  const std::string exists = "EXISTS (SELECT 1 FROM " + table.qualified + " t WHERE " + match + ")";
  std::vector<std::string> values;
  for (size_t i = 0; i < m.columns.size(); ++i) values.push_back(ValueExpr(t, i, "s"));
  const std::string exceptions = pg::QualifiedName(env_.control_schema, kApplyExceptionsTable);
  struct Case {
    char op;
    std::string missing;  // predicate selecting the staging rows that cannot apply
    ErrorPolicy policy;
    const char* setting;
    std::string error;
    const char* convert_to;  // the op they become under INSERT_RECORD / UPDATE_RECORD
    ErrorPolicy convert_policy;
  };
  const Case cases[] = {
      {'D', "NOT " + exists, settings_.apply_error_delete_policy, "ApplyErrorDeletePolicy",
       "0 rows affected: no such row", nullptr, ErrorPolicy::kIgnore},
      {'U', "NOT " + exists, settings_.apply_error_update_policy, "ApplyErrorUpdatePolicy",
       "0 rows affected: no row with this key", "I", ErrorPolicy::kUpdateRecord},
      {'I', exists, settings_.apply_error_insert_policy, "ApplyErrorInsertPolicy",
       "duplicate key: a row with the same key already exists", "U", ErrorPolicy::kInsertRecord},
  };
  for (const Case& k : cases) {
    const std::string rows = " FROM " + table.staging + " s WHERE s.opendms_op = '" +
                             std::string(1, k.op) + "' AND " + k.missing;
    if (k.convert_to && k.policy == k.convert_policy) {
      RETURN_IF_ERROR(conn_->Execute("UPDATE " + table.staging + " s SET opendms_op = '" +
                                     k.convert_to + "' WHERE s.opendms_op = '" +
                                     std::string(1, k.op) + "' AND " + k.missing));
      continue;
    }
    ASSIGN_OR_RETURN(pg::QueryResult count, conn_->Query("SELECT count(*)" + rows));
    const int64_t n = std::stoll(std::string(count.Get(0, 0)));
    if (n == 0) continue;
    if (k.policy == ErrorPolicy::kLogError) {
      const Op op = k.op == 'D' ? Op::kDelete : k.op == 'U' ? Op::kUpdate : Op::kInsert;
      RETURN_IF_ERROR(conn_
                          ->Query("INSERT INTO " + exceptions +
                                      " SELECT $1, $2, $3, (now() at "
                                      "time zone 'utc'), " +
                                      StatementExpr(t, op, values) + ", $4" + rows,
                                  {env_.task_name, m.target_schema, m.target_table,
                                   k.error + " in " + table.qualified})
                          .status());
    }
    RETURN_IF_ERROR(conn_->Execute("DELETE" + rows));
    ApplyVerdict v =
        ApplyError(t, k.policy, k.setting, n,
                   std::to_string(n) + " change(s) to " + table.qualified + ": " + k.error);
    if (v != ApplyVerdict::kOk) return v;
  }
  // Conversions moved rows between ops: count again what each statement must touch.
  ASSIGN_OR_RETURN(pg::QueryResult counts,
                   conn_->Query("SELECT count(*) FILTER (WHERE opendms_op = 'D'), count(*) "
                                "FILTER (WHERE opendms_op = 'U'), count(*) FILTER (WHERE "
                                "opendms_op = 'I') FROM " +
                                table.staging));
  for (int i = 0; i < 3; ++i) want[i] = std::stoll(std::string(counts.Get(0, i)));
  RETURN_IF_ERROR(run(got));
  if (got[0] != want[0] || got[1] != want[1] || got[2] != want[2]) {
    return Status::Internal("applying changes to " + table.qualified +
                            " twice gave different row counts (another writer on the table?)");
  }
  RETURN_IF_ERROR(conn_->Execute("RELEASE SAVEPOINT opendms_table"));
  return ApplyVerdict::kOk;
}

Result<CdcRun::ApplyVerdict> CdcRun::ApplyBatch(std::vector<BatchObject>& batch) {
  // Staging tables and prepared statements outside the transaction: a rollback must not take
  // them away.
  {
    std::vector<bool> used(tables_.size(), false);
    for (const Change& c : changes_) used[c.table] = true;
    for (size_t t = 0; t < tables_.size(); ++t) {
      if (used[t]) RETURN_IF_ERROR(PrepareTable(t));
    }
  }
  RETURN_IF_ERROR(conn_->Execute("BEGIN"));
  // Set-based tables first (their own changes in order), then the rest change by change in the
  // order of the objects.
  std::vector<std::vector<uint32_t>> per_table(tables_.size());
  for (uint32_t i = 0; i < changes_.size(); ++i) per_table[changes_[i].table].push_back(i);
  for (size_t t = 0; t < tables_.size(); ++t) {
    if (!tables_[t].batch || per_table[t].empty() || tables_[t].suspended) continue;
    ASSIGN_OR_RETURN(ApplyVerdict v, ApplySetBased(t, per_table[t]));
    if (v != ApplyVerdict::kOk) {
      (void)conn_->Execute("ROLLBACK");
      return v;
    }
  }
  for (const Change& c : changes_) {
    if (tables_[c.table].batch || tables_[c.table].suspended) continue;
    ASSIGN_OR_RETURN(ApplyVerdict v, ApplyOne(c));
    if (v != ApplyVerdict::kOk) {
      (void)conn_->Execute("ROLLBACK");
      return v;
    }
  }
  for (size_t i = 0; i < data_exceptions_.size(); ++i) {
    RETURN_IF_ERROR(WriteApplyExceptions(*conn_, env_.control_schema, env_.task_name,
                                         data_exception_tables_[i], {data_exceptions_[i]}));
  }
  // The new position: the last object of the batch in key order (late objects sort earlier and
  // leave it where it is).
  CdcState next = state_;
  for (const BatchObject& o : batch) {
    if (o.info.key > next.position_key) {
      next.position_key = o.info.key;
      next.position_etag = o.info.etag;
      next.position_row = o.rows;
    }
  }
  next.checkpoint =
      next.position_key.empty()
          ? ""
          : FormatCdcCheckpoint({next.position_key, next.position_etag, next.position_row});
  RETURN_IF_ERROR(WriteCdcState(*conn_, env_.control_schema, env_.task_name, next));
  std::vector<LedgerEntry> entries;
  for (const BatchObject& o : batch) {
    LedgerEntry e;
    e.key = o.info.key;
    e.etag = o.info.etag;
    e.size = static_cast<int64_t>(o.info.size);
    e.last_modified = o.info.last_modified;
    e.rows = o.rows;
    e.inserts = o.inserts;
    e.updates = o.updates;
    e.deletes = o.deletes;
    e.errors = o.errors;
    e.outcome = o.outcome;
    entries.push_back(std::move(e));
  }
  RETURN_IF_ERROR(WriteLedger(*conn_, env_.control_schema, env_.task_name, entries));
  // DMS's optional control tables, when enabled, in the same transaction.
  {
    const OptionalControlTables& opt = env_.optional_tables;
    std::optional<TimePoint> newest, oldest;
    int64_t bytes = 0, changes = 0;
    for (const BatchObject& o : batch) {
      if (!newest || o.info.last_modified > *newest) newest = o.info.last_modified;
      if (!oldest || o.info.last_modified < *oldest) oldest = o.info.last_modified;
      bytes += static_cast<int64_t>(o.info.size);
      changes += o.inserts + o.updates + o.deletes;
    }
    RETURN_IF_ERROR(
        WriteTxnState(*conn_, env_.control_schema, opt, env_.task_name, next.checkpoint));
    RETURN_IF_ERROR(WriteStatusRow(*conn_, env_.control_schema, opt, env_.task_name,
                                   StatusRow{"CHANGE PROCESSING", next.position_key, newest, newest,
                                             static_cast<int64_t>(pending_.size())}));
    const int64_t latency =
        oldest ? std::chrono::duration_cast<std::chrono::seconds>(Clock::Now() - *oldest).count()
               : 0;
    RETURN_IF_ERROR(AddHistory(*conn_, env_.control_schema, opt, env_.task_name,
                               "CHANGE PROCESSING", changes, bytes, latency));
    for (size_t t : suspended_to_record_) {
      RETURN_IF_ERROR(WriteSuspendedTable(
          *conn_, env_.control_schema, opt, env_.task_name,
          {tables_[t].mapped->target_schema, tables_[t].mapped->target_table}, "APPLY_ERROR"));
    }
  }
  RETURN_IF_ERROR(conn_->Execute("COMMIT"));
  for (size_t t : suspended_to_record_) {
    const TableState& table = tables_[t];
    TaskLog(env_, LogComponent::kTargetApply, LogSeverity::kError, "table {}.{} suspended: {}",
            table.mapped->target_schema, table.mapped->target_table, table.suspend_reason);
    env_.shared.UpdateTable(t, [&](TableStatistics& s) {
      s.table_state = std::string(kTableError);
      s.error_message = table.suspend_reason;
    });
  }
  suspended_to_record_.clear();
  const TimePoint committed = Clock::Now();
  state_ = std::move(next);
  for (const BatchObject& o : batch) ledger_[o.info.key].push_back(o.info.etag);
  env_.shared.SetRecoveryCheckpoint(state_.checkpoint);
  // Statistics: the changes of each table that reached the target.
  std::vector<std::array<int64_t, 3>> counts(tables_.size(), {0, 0, 0});
  for (const Change& c : changes_) {
    if (tables_[c.table].suspended) continue;
    ++counts[c.table][c.op == Op::kInsert ? 0 : c.op == Op::kUpdate ? 1 : 2];
  }
  for (size_t t = 0; t < tables_.size(); ++t) {
    const auto& k = counts[t];
    const int64_t errors = tables_[t].errors;
    if (k[0] + k[1] + k[2] + errors == 0) continue;
    env_.shared.UpdateTable(t, [&](TableStatistics& s) {
      s.inserts += k[0];
      s.updates += k[1];
      s.deletes += k[2];
      s.apply_errors += errors;
    });
  }
  RecordLatency(batch, committed);
  return ApplyVerdict::kOk;
}

CdcRun::ReloadEnd CdcRun::Reload(size_t t, std::string* message) {
  TableState& table = tables_[t];
  const std::string name = table.mapped->target_schema + "." + table.mapped->target_table;
  TaskLog(env_, LogComponent::kTargetLoad, LogSeverity::kInfo, "reloading table {} (source {}.{})",
          name, table.source->owner, table.source->name);
  table.suspended = false;  // a reload is how a suspended table comes back
  switch (
      ReloadTableData(env_, *conn_, t, def_.task.migration_type != MigrationType::kCdc, message)) {
    case TableOutcome::kCompleted:
      break;
    case TableOutcome::kStopped:
      return ReloadEnd::kStopped;
    case TableOutcome::kRecoverable:
      return ReloadEnd::kRecoverable;
    case TableOutcome::kFatal:
      return ReloadEnd::kFatal;
    case TableOutcome::kTableError:
    case TableOutcome::kAbandoned:
      return ReloadEnd::kTableError;
  }
  Result<ReloadEnd> end = ReplayChanges(t, message);
  if (end.ok()) return *end;
  (void)conn_->Execute("ROLLBACK");
  replay_table_.reset();
  ResetBatch();
  *message = "reloading " + name + ": applying its changes again: " + end.status().message();
  return IsRecoverable(end.status(), &*conn_) ? ReloadEnd::kRecoverable : ReloadEnd::kFatal;
}

Result<CdcRun::ReloadEnd> CdcRun::ReplayChanges(size_t t, std::string* message) {
  TableState& table = tables_[t];
  const std::string name = table.mapped->target_schema + "." + table.mapped->target_table;
  ASSIGN_OR_RETURN(std::vector<AppliedObject> applied,
                   ReadAppliedObjects(*conn_, env_.control_schema, env_.task_name));
  RETURN_IF_ERROR(PrepareTable(t));
  RETURN_IF_ERROR(conn_->Execute("BEGIN"));
  replay_table_ = t;
  // Ends the replay without committing anything of it; the reload stays recorded.
  auto abandon = [&](ReloadEnd end, std::string why) {
    (void)conn_->Execute("ROLLBACK");
    replay_table_.reset();
    ResetBatch();
    suspended_to_record_.clear();
    table.suspended = false;
    *message = "reloading " + name + ": " + why;
    return end;
  };
  int64_t changes = 0;
  size_t next = 0;
  while (next < applied.size()) {
    if (env_.shared.stop_requested()) return abandon(ReloadEnd::kStopped, "stopped");
    // A chunk of objects holds at most about a batch's bytes of the table's changes.
    ResetBatch();
    std::vector<BatchObject> chunk;
    chunk.reserve(64);
    while (next < applied.size() && chunk.size() < 64 &&
           static_cast<int64_t>(table.arena.size()) < batch_limit_) {
      const AppliedObject& a = applied[next++];
      chunk.push_back({});
      BatchObject& o = chunk.back();
      o.info.key = a.key;
      o.info.etag = a.etags.back();
      Status st = ParseObject(o, static_cast<uint32_t>(chunk.size() - 1));
      if (st.code() == ErrorCode::kNotFound) {
        return abandon(ReloadEnd::kTableError,
                       "change object " + S3Url(bucket_, a.key) +
                           ", which the task applied, is no longer in the bucket: its changes "
                           "cannot be applied again");
      }
      RETURN_IF_ERROR(st);
      if (!fatal_.empty()) return abandon(ReloadEnd::kTableError, fatal_);
      if (table.suspended) return abandon(ReloadEnd::kTableError, table.suspend_reason);
      if (std::find(a.etags.begin(), a.etags.end(), o.info.etag) == a.etags.end()) {
        TaskLog(env_, LogComponent::kTargetApply, LogSeverity::kWarning,
                "reloading {}: {} was overwritten since the task applied it (ETag {} now): "
                "applying what it holds now",
                name, S3Url(bucket_, a.key), o.info.etag);
      }
    }
    ApplyVerdict verdict = ApplyVerdict::kOk;
    if (table.batch && !changes_.empty()) {
      std::vector<uint32_t> indexes(changes_.size());
      for (uint32_t i = 0; i < indexes.size(); ++i) indexes[i] = i;
      ASSIGN_OR_RETURN(verdict, ApplySetBased(t, indexes));
      // The staging table empties at COMMIT only; the next chunk needs it empty.
      RETURN_IF_ERROR(conn_->Execute("TRUNCATE " + table.staging));
    } else {
      for (const Change& c : changes_) {
        ASSIGN_OR_RETURN(verdict, ApplyOne(c));
        if (verdict != ApplyVerdict::kOk) break;
      }
    }
    if (verdict == ApplyVerdict::kRetryBatch) {
      return abandon(ReloadEnd::kTableError, table.suspend_reason);
    }
    if (verdict == ApplyVerdict::kFatal) return abandon(ReloadEnd::kFatal, fatal_);
    changes += static_cast<int64_t>(changes_.size());
  }
  RETURN_IF_ERROR(DeleteTableReload(*conn_, env_.control_schema, env_.task_name,
                                    {table.mapped->target_schema, table.mapped->target_table}));
  RETURN_IF_ERROR(conn_->Execute("SET LOCAL synchronous_commit = on; COMMIT"));
  replay_table_.reset();
  ResetBatch();
  env_.shared.UpdateTable(t, [](TableStatistics& s) {
    s.table_state = std::string(kTableCompleted);
  });
  const TableStatistics stats = env_.shared.Tables()[t];
  TaskLog(env_, LogComponent::kTargetApply, LogSeverity::kInfo,
          "table {} reloaded: {} rows loaded, then {} changes from {} change objects "
          "applied again",
          name, stats.full_load_rows, changes, applied.size());
  return ReloadEnd::kDone;
}

void CdcRun::RecordLatency(const std::vector<BatchObject>& batch, TimePoint committed) {
  int64_t changes = 0;
  for (const BatchObject& o : batch) changes += o.inserts + o.updates + o.deletes;
  const int64_t other = other_table_rows_;
  other_table_rows_ = 0;
  env_.shared.UpdateCdc([&](CdcStatistics& c) {
    c.objects_applied += static_cast<int64_t>(batch.size());
    c.changes_applied += changes;
    c.rows_for_other_tables += other;
    for (const BatchObject& o : batch) {
      const double ms =
          std::chrono::duration<double, std::milli>(committed - o.info.last_modified).count();
      if (c.latency_ms.size() >= CdcStatistics::kMaxLatencySamples) {
        c.latency_ms.erase(c.latency_ms.begin(),
                           c.latency_ms.begin() + CdcStatistics::kMaxLatencySamples / 10);
      }
      c.latency_ms.push_back(ms);
    }
  });
}

CdcEnd CdcRun::Run(bool fresh) {
  if (Status st = Setup(); !st.ok()) return Fail(st.message());
  // Polls at least every second, unless a wake signal stands in for most polls (then up to 60 s).
  const int interval_ms =
      std::clamp(env_.options.cdc_poll_interval_ms, 1, env_.options.wake ? 60000 : 1000);
  int retries = 0;
  bool loaded = false;
  // A fresh start forgets the task's earlier CDC state once; every later (re)load, e.g. after a
  // lost connection, must read what this run has committed since, or it would apply it again.
  bool forget_state = fresh;
  auto last_activity = std::chrono::steady_clock::now();
  auto last_audit = std::chrono::steady_clock::time_point{};
  const int64_t batch_limit =
      std::min<int64_t>(int64_t{settings_.batch_apply_memory_limit_mb} << 20, int64_t{256} << 20) /
      2;
  batch_limit_ = batch_limit;

  // A recoverable error: wait RecoverableErrorInterval and go on, RecoverableErrorCount times
  // (-1: forever). False when the retries are used up.
  auto backoff = [&](const Status& st) {
    if (settings_.recoverable_error_count >= 0 && retries >= settings_.recoverable_error_count) {
      return false;
    }
    ++retries;
    TaskLog(env_, LogComponent::kTaskManager, LogSeverity::kWarning,
            "{} (recoverable error; retry {} in {} s)", st.message(), retries,
            settings_.recoverable_error_interval);
    for (int i = 0; i < settings_.recoverable_error_interval * 10 && !env_.shared.stop_requested();
         ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    conn_.reset();
    loaded = false;
    return true;
  };
  uint64_t wake_seen = env_.options.wake ? env_.options.wake->Generation() : 0;
  env_.shared.UpdateCdc([](CdcStatistics& c) { c.active = true; });
  TaskLog(env_, LogComponent::kSourceCapture, LogSeverity::kInfo,
          "change processing from s3://{}/{} ({} apply)", bucket_, prefix_,
          settings_.batch_apply_enabled ? "batch" : "transactional");

  for (;;) {
    if (env_.shared.stop_requested()) return CdcEnd::kStopRequested;
    if (env_.shared.failed()) return CdcEnd::kFailed;
    if (stop_at_ && stop_at_->kind == CdcStopAt::Kind::kServerTime &&
        Clock::Now() >= stop_at_->time) {
      return CdcEnd::kServerTime;
    }
    // (Re)connect and (re)load the committed position: after a lost connection we cannot know
    // whether the last COMMIT happened, so the target's word is taken.
    if (!conn_ || !conn_->IsHealthy() || !loaded) {
      Status st = Connect();
      if (st.ok()) st = LoadState(forget_state);
      if (!st.ok()) {
        if (!IsRecoverable(st, conn_ ? &*conn_ : nullptr) || !backoff(st)) {
          return Fail("change processing: " + st.message());
        }
        continue;
      }
      loaded = true;
      forget_state = false;
      Status status = WriteStatusRow(
          *conn_, env_.control_schema, env_.optional_tables, env_.task_name,
          StatusRow{"CHANGE PROCESSING", state_.position_key, std::nullopt, std::nullopt, 0});
      if (!status.ok())
        return Fail("writing " + std::string(kStatusTable) + ": " + status.message());
    }
    // Reloads (ReloadTables) go first, at this boundary between batches: a reloaded table must
    // have every change applied so far before it gets the next ones.
    for (size_t t : env_.shared.TakeReloads()) {
      if (std::find(reloads_.begin(), reloads_.end(), t) == reloads_.end()) reloads_.push_back(t);
    }
    while (!reloads_.empty()) {
      const size_t t = reloads_.front();
      std::string message;
      const ReloadEnd end = Reload(t, &message);
      if (end == ReloadEnd::kStopped) return CdcEnd::kStopRequested;
      if (end == ReloadEnd::kFatal) return Fail(message);
      if (end == ReloadEnd::kRecoverable) {
        if (!backoff(Status::ConnectionError(message))) return Fail(message);
        break;
      }
      reloads_.erase(reloads_.begin());
      if (end == ReloadEnd::kTableError) {
        // The reload stays recorded: the next run tries it again. Meanwhile the table gets no
        // changes, as a suspended table.
        TableState& table = tables_[t];
        table.suspended = true;
        table.suspend_reason = message;
        TaskLog(env_, LogComponent::kTargetApply, LogSeverity::kError, "{}", message);
        env_.shared.UpdateTable(t, [&](TableStatistics& s) {
          s.table_state = std::string(kTableError);
          s.error_message = message;
        });
      }
      last_activity = std::chrono::steady_clock::now();
    }
    if (!reloads_.empty()) continue;  // reconnect, then go on with the reload
    Status st = ListNew();
    const auto now = std::chrono::steady_clock::now();
    if (st.ok() &&
        (now - last_audit >= std::chrono::milliseconds(env_.options.cdc_audit_interval_ms) ||
         (pending_.empty() && late_.empty() && last_audit < last_activity))) {
      st = Audit();
      last_audit = now;
      if (!st.ok() && st.code() == ErrorCode::kInvalidState) return Fail(st.message());
    }
    if (!st.ok()) {
      if (conn_ && !conn_->IsHealthy()) continue;  // reconnect above
      return Fail("listing s3://" + bucket_ + "/" + prefix_ + ": " + st.message());
    }
    // Take a batch: late objects first (each on its own), else new objects in key order.
    std::vector<BatchObject> batch;
    if (!late_.empty()) {
      BatchObject o;
      o.info = late_.front();
      o.outcome = ledger_.count(o.info.key) ? "applied-overwritten" : "applied-late";
      batch.push_back(std::move(o));
    } else {
      int64_t bytes = 0;
      size_t take = 0;
      while (take < pending_.size() &&
             (take == 0 || bytes + static_cast<int64_t>(pending_[take].size) <= batch_limit)) {
        if (stop_at_ && stop_at_->kind == CdcStopAt::Kind::kCommitTime &&
            pending_[take].last_modified > stop_at_->time) {
          break;
        }
        bytes += static_cast<int64_t>(pending_[take].size);
        ++take;
      }
      if (take == 0 && !pending_.empty()) return CdcEnd::kCommitTime;
      for (size_t i = 0; i < take; ++i) batch.push_back({pending_[i]});
    }
    if (batch.empty()) {
      if (env_.options.until_idle_seconds > 0 &&
          std::chrono::duration<double>(now - last_activity).count() >=
              env_.options.until_idle_seconds) {
        return CdcEnd::kIdle;
      }
      if (env_.options.wake) {
        wake_seen = env_.options.wake->WaitFor(std::chrono::milliseconds(interval_ms), wake_seen);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
      }
      continue;
    }
    last_activity = std::chrono::steady_clock::now();

    // Parse, then apply; a suspended table means parse again without it.
    for (;;) {
      ResetBatch();
      size_t parsed = 0;
      Status read_error;
      // A batch ends, at an object boundary, once it holds BatchSplitSize changes (batch apply;
      // 0 = no limit) or MinTransactionSize changes (transactional apply), or once reading it
      // took BatchApplyTimeoutMax seconds; the objects left over make the next batch.
      const size_t split = settings_.batch_apply_enabled
                               ? static_cast<size_t>(settings_.batch_split_size)
                               : static_cast<size_t>(settings_.min_transaction_size);
      const auto parse_started = std::chrono::steady_clock::now();
      for (; parsed < batch.size(); ++parsed) {
        read_error = ParseObject(batch[parsed], static_cast<uint32_t>(parsed));
        if (!read_error.ok() || !fatal_.empty()) break;
        if ((split > 0 && changes_.size() >= split) ||
            std::chrono::steady_clock::now() - parse_started >=
                std::chrono::seconds(std::max(1, settings_.batch_apply_timeout_max))) {
          ++parsed;
          batch.resize(parsed);
          break;
        }
      }
      if (!read_error.ok()) return Fail(read_error.message());
      const std::string fatal = fatal_;
      if (!fatal.empty()) {
        // Nothing of the bad object is applied; the objects before it are.
        std::vector<Change> keep;
        for (const Change& c : changes_) {
          if (c.object < parsed) keep.push_back(c);
        }
        changes_ = std::move(keep);
        batch.resize(parsed);
      }
      Result<ApplyVerdict> v =
          batch.empty() ? Result<ApplyVerdict>(ApplyVerdict::kOk) : ApplyBatch(batch);
      if (!v.ok()) {
        (void)conn_->Execute("ROLLBACK");
        if (IsRecoverable(v.status(), &*conn_) && backoff(v.status())) break;
        return Fail("applying changes from " + S3Url(bucket_, batch.front().info.key) + ": " +
                    v.status().message());
      }
      if (*v == ApplyVerdict::kFatal) return Fail(fatal_);
      if (*v == ApplyVerdict::kRetryBatch) {
        if (batch.size() > 1) {
          // Find the object that suspends the table: undo the suspensions, retry the first
          // object alone (the rest follow as later batches).
          for (size_t t : suspended_to_record_) tables_[t].suspended = false;
          suspended_to_record_.clear();
          batch.resize(1);
        }
        continue;
      }
      if (!fatal.empty()) return Fail(fatal);
      retries = 0;
      last_activity = std::chrono::steady_clock::now();  // idle counts from the last commit
      // Done with these objects.
      for (const BatchObject& o : batch) queued_.erase(o.info.key);
      if (!late_.empty() && !batch.empty() && batch.front().outcome != "applied") {
        late_.erase(late_.begin());
      } else {
        pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(batch.size()));
      }
      break;
    }
  }
}

}  // namespace

CdcEnd RunCdc(const CdcEnvironment& env, bool fresh) {
  CdcRun run(env);
  return run.Run(fresh);
}

}  // namespace opendms::engine

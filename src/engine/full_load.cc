// The full load of one table. The hot loop is RowSink::OnRow: tokenized fields → column
// encoders → one reused COPY buffer, handed to PQputCopyData in chunks of
// RunOptions::copy_chunk_bytes. Every CommitRate rows the COPY ends and the transaction commits
// with the table's checkpoint (control_tables.h), so a resume continues at the next row.
//
// Commits in the middle of a table run with synchronous_commit off: the checkpoint is in the
// same transaction as the rows, so a server crash that loses the newest commits loses their
// checkpoint too, and the resume reads those rows again — exactly once either way. The commit
// that marks the table completed is synchronous.
#include "engine/full_load.h"

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

#include "pg/pg.h"

namespace opendms::engine {

void TaskShared::UpdateTable(size_t i, const std::function<void(TableStatistics&)>& update) {
  std::lock_guard lock(mu_);
  update(tables_[i]);
  tables_[i].last_update = Clock::Now();
}

std::vector<TableStatistics> TaskShared::Tables() const {
  std::lock_guard lock(mu_);
  return tables_;
}

void TaskShared::UpdateCdc(const std::function<void(CdcStatistics&)>& update) {
  std::lock_guard lock(mu_);
  update(cdc_);
}

CdcStatistics TaskShared::Cdc() const {
  std::lock_guard lock(mu_);
  return cdc_;
}

void TaskShared::SetRecoveryCheckpoint(std::string checkpoint) {
  std::lock_guard lock(mu_);
  recovery_checkpoint_ = std::move(checkpoint);
}

std::string TaskShared::recovery_checkpoint() const {
  std::lock_guard lock(mu_);
  return recovery_checkpoint_;
}

void TaskShared::RequestReload(size_t i) {
  std::lock_guard lock(mu_);
  if (std::find(reloads_.begin(), reloads_.end(), i) == reloads_.end()) reloads_.push_back(i);
}

std::vector<size_t> TaskShared::TakeReloads() {
  std::lock_guard lock(mu_);
  return std::exchange(reloads_, {});
}

void TaskShared::Fail(std::string message) {
  std::lock_guard lock(mu_);
  if (failed_) {
    spdlog::error("{}", message);
    return;
  }
  failure_message_ = std::move(message);
  failed_ = true;
}

std::string TaskShared::failure_message() const {
  std::lock_guard lock(mu_);
  return failure_message_;
}

Status TableRun::PrepareOnce(
    const std::function<Status(const std::vector<TableCheckpoint>&)>& prepare) {
  std::lock_guard lock(mu_);
  if (!prepare_) return Status::Ok();
  Status st = prepare(plan_);
  if (st.ok()) prepare_ = false;
  return st;
}

bool TableRun::FinishSlice() {
  std::lock_guard lock(mu_);
  return --remaining_ == 0;
}

namespace {

std::string PrimaryKeyClause(const MappedTable& table) {
  std::string cols;
  for (int index : table.primary_key) {
    if (!cols.empty()) cols += ", ";
    cols += pg::QuoteIdentifier(table.columns[index].name);
  }
  if (cols.empty()) return "";
  std::string clause;
  if (!table.primary_key_name.empty()) {
    clause = "CONSTRAINT " + pg::QuoteIdentifier(table.primary_key_name) + " ";
  }
  return clause + "PRIMARY KEY (" + cols + ")";
}

}  // namespace

std::string CreateTableSql(const MappedTable& table, bool with_primary_key) {
  std::string sql =
      "CREATE TABLE " + pg::QualifiedName(table.target_schema, table.target_table) + " (";
  for (size_t i = 0; i < table.columns.size(); ++i) {
    const TargetColumn& c = table.columns[i];
    if (i) sql += ", ";
    sql += pg::QuoteIdentifier(c.name) + " " + PostgresTypeFor(c.definition);
    if (!c.definition.nullable) sql += " NOT NULL";
  }
  const std::string pk = with_primary_key ? PrimaryKeyClause(table) : "";
  if (!pk.empty()) sql += ", " + pk;
  return sql + ")";
}

std::string PrepareTableSql(const MappedTable& table, TargetTablePrepMode mode,
                            bool with_primary_key) {
  const std::string name = pg::QualifiedName(table.target_schema, table.target_table);
  const std::string create = CreateTableSql(table, with_primary_key);
  // The schema exists: the task creates every target schema before tables load in parallel.
  switch (mode) {
    case TargetTablePrepMode::kDropAndCreate:
      return "DROP TABLE IF EXISTS " + name + ";\n" + create + ";\n";
    case TargetTablePrepMode::kTruncateBeforeLoad:
      // Missing tables are created; existing ones keep their definition and lose their rows.
      return "DO $opendms$ BEGIN IF to_regclass(" + pg::QuoteLiteral(name) +
             ") IS NULL THEN EXECUTE " + pg::QuoteLiteral(create) + "; ELSE EXECUTE " +
             pg::QuoteLiteral("TRUNCATE TABLE " + name) + "; END IF; END $opendms$;\n";
    case TargetTablePrepMode::kDoNothing:
      break;
  }
  return "DO $opendms$ BEGIN IF to_regclass(" + pg::QuoteLiteral(name) + ") IS NULL THEN EXECUTE " +
         pg::QuoteLiteral(create) + "; END IF; END $opendms$;\n";
}

std::string AddPrimaryKeySql(const MappedTable& table) {
  const std::string pk = PrimaryKeyClause(table);
  if (pk.empty()) return "";
  return "ALTER TABLE " + pg::QualifiedName(table.target_schema, table.target_table) + " ADD " + pk;
}

namespace {

// Running MD5 over "key\0etag\n" of done objects; Hex() finalizes a copy, so it can go on.
class DoneDigest {
 public:
  DoneDigest() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_md5(), nullptr); }
  ~DoneDigest() { EVP_MD_CTX_free(ctx_); }
  DoneDigest(const DoneDigest&) = delete;
  DoneDigest& operator=(const DoneDigest&) = delete;
  void Reset() { EVP_DigestInit_ex(ctx_, EVP_md5(), nullptr); }
  void Add(const SourceObject& o) {
    EVP_DigestUpdate(ctx_, o.key.data(), o.key.size());
    EVP_DigestUpdate(ctx_, "\0", 1);
    EVP_DigestUpdate(ctx_, o.etag.data(), o.etag.size());
    EVP_DigestUpdate(ctx_, "\n", 1);
  }
  std::string Hex() const {
    EVP_MD_CTX* copy = EVP_MD_CTX_new();
    EVP_MD_CTX_copy_ex(copy, ctx_);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(copy, md, &len);
    EVP_MD_CTX_free(copy);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
      out.push_back(kHex[md[i] >> 4]);
      out.push_back(kHex[md[i] & 15]);
    }
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

std::string S3Url(std::string_view bucket, std::string_view key) {
  return "s3://" + std::string(bucket) + "/" + std::string(key);
}

// One table's load: the transaction/COPY state machine plus the row sink the tokenizer drives.
class TableLoad {
 public:
  TableLoad(const LoadEnvironment& env, pg::Connection& conn, const TableLoadRequest& request)
      : env_(env),
        conn_(conn),
        request_(request),
        table_(env.definition.mapped_tables[request.index]),
        source_(env.definition.tables.tables[table_.source_table_index]),
        settings_(env.definition.task.settings),
        key_(table_.target_schema, table_.target_table),
        writer_(env.options.copy_format, static_cast<int>(table_.columns.size())),
        bucket_(env.definition.source.s3.bucket_name) {}

  TableOutcome Run(std::string* message);

  // Tokenizer sink.
  bool OnRow(std::span<const csv::Field> fields, const csv::RowInfo& row);

 private:
  enum class Verdict { kContinue, kTableError, kFatal, kStopped, kAbandoned };

  Status Prepare(const std::vector<TableCheckpoint>& plan);
  Status BeginBatch();
  // Ends the COPY and commits rows, rejected rows and the checkpoint. `final_state` "completed"
  // makes the commit synchronous.
  Status CommitBatch(std::string_view state);
  void RollbackBatch();
  Verdict HandleValueIssue(const ValueIssue& issue, size_t column, const csv::RowInfo& row);
  Verdict Escalate(std::string_view what, const csv::RowInfo& row);
  Verdict RejectRow(DataErrorKind kind, const std::string& message, int column_number,
                    std::string column_name, ErrorPolicy policy, const csv::RowInfo& row,
                    bool loaded);
  std::string Where(const csv::RowInfo& row, int column_number) const;
  TableOutcome Finish(TableOutcome outcome, std::string msg, std::string* message);
  void SetPositionAfter(const csv::RowInfo& row);
  void FillFieldViews(std::span<const csv::Field> fields);
  // Encodes target column `column`, an added column (its expression's value), into buffer_
  // after its field separator.
  ValueIssue EncodeAddedColumn(size_t column, std::span<const csv::Field> fields);
  // The issue, with its message, of a field EncodeTo refused (or truncated): Encode again.
  ValueIssue DescribeIssue(size_t column, const csv::Field& field);
  // Sets row_fixed_bytes_ and row_bytes_per_raw_byte_ from encoders_ and source_columns_.
  void SetRowBound();
  // The most bytes a row's framing and source-field columns take in buffer_.
  size_t RowBound(const csv::RowInfo& row) const {
    return row_fixed_bytes_ + row_bytes_per_raw_byte_ * row.raw.size();
  }

  const LoadEnvironment& env_;
  pg::Connection& conn_;
  const TableLoadRequest& request_;
  const MappedTable& table_;
  const TableDefinition& source_;
  const TaskSettings& settings_;
  const TableKey key_;
  std::vector<ColumnEncoder> encoders_;
  std::vector<size_t> source_columns_;  // per target column: its field index, or SIZE_MAX
  // RowBound's terms: a row's fields are disjoint parts of its raw bytes (unescaping only
  // shortens them), so Σ MaxEncodedSize(field) ≤ fixed + per-byte × raw size.
  size_t row_fixed_bytes_ = 0;
  size_t row_bytes_per_raw_byte_ = 0;
  CopyRowWriter writer_;
  std::string copy_sql_;
  const std::string bucket_;

  std::optional<pg::CopyIn> copy_;
  bool in_transaction_ = false;
  CopyBuffer buffer_;
  std::string issue_scratch_;  // DescribeIssue's output, discarded
  int64_t rows_in_batch_ = 0;
  std::vector<RejectedRow> rejected_in_batch_;
  int64_t truncated_in_batch_ = 0;
  int64_t data_errors_ = 0;  // toward DataErrorEscalationCount

  bool last_slice_ = false;     // this slice completed the table
  bool transient_ = false;      // the failure was the target's (pg::IsTransientError)
  bool resumable_ = false;      // failed reading the source: resume continues at the checkpoint
  TableCheckpoint checkpoint_;  // committed position, advanced as batches commit
  TableCheckpoint pending_;     // position after the last row handed to the COPY
  DoneDigest digest_;
  const SourceObject* object_ = nullptr;
  Verdict verdict_ = Verdict::kContinue;
  std::string verdict_message_;
  // The row's fields as filters and expressions see them; NULL is an unquoted empty field.
  std::vector<std::string_view> field_views_;
  std::unique_ptr<bool[]> field_nulls_;  // std::vector<bool> has no contiguous storage
  size_t field_nulls_size_ = 0;
  int64_t rows_seen_ = 0;
  int64_t rows_filtered_ = 0;  // rows the selection filters left out (not data errors)
};

Status TableLoad::Prepare(const std::vector<TableCheckpoint>& plan) {
  const std::string sql =
      PrepareTableSql(table_, settings_.prep_mode, !settings_.create_pk_after_full_load);
  // The plan is committed with the DDL: a resume finds either both or neither.
  Status st = conn_.Execute("BEGIN;\n" + sql);
  if (st.ok()) st = DeleteTableCheckpoints(conn_, env_.control_schema, env_.task_name, key_);
  for (size_t i = 0; st.ok() && i < plan.size(); ++i) {
    st = WriteCheckpoint(conn_, env_.control_schema, env_.task_name, key_, plan[i]);
  }
  if (st.ok()) st = conn_.Execute("COMMIT");
  if (!st.ok()) (void)conn_.Execute("ROLLBACK");
  return st;
}

Status TableLoad::BeginBatch() {
  RETURN_IF_ERROR(conn_.Execute("BEGIN"));
  in_transaction_ = true;
  ASSIGN_OR_RETURN(pg::CopyIn copy, pg::CopyIn::Begin(conn_, copy_sql_));
  copy_.emplace(std::move(copy));
  buffer_.clear();
  writer_.BeginStream(buffer_);
  return Status::Ok();
}

Status TableLoad::CommitBatch(std::string_view state) {
  if (copy_) {
    writer_.EndStream(buffer_);
    RETURN_IF_ERROR(copy_->Write(buffer_.view()));
    buffer_.clear();
    ASSIGN_OR_RETURN(uint64_t copied, copy_->Finish());
    copy_.reset();
    if (static_cast<int64_t>(copied) != rows_in_batch_) {
      return Status::Internal("COPY into " + table_.target_schema + "." + table_.target_table +
                              " reported " + std::to_string(copied) + " rows, " +
                              std::to_string(rows_in_batch_) + " were sent");
    }
  }
  if (!in_transaction_) RETURN_IF_ERROR(conn_.Execute("BEGIN"));
  in_transaction_ = true;
  RETURN_IF_ERROR(
      WriteRejectedRows(conn_, env_.control_schema, env_.task_name, key_, rejected_in_batch_));
  TableCheckpoint next = pending_;
  next.table_state = std::string(state);
  next.rows_loaded = checkpoint_.rows_loaded + rows_in_batch_;
  int64_t rejected_now = 0;
  for (const RejectedRow& r : rejected_in_batch_) rejected_now += r.loaded ? 0 : 1;
  next.rows_rejected = checkpoint_.rows_rejected + rejected_now;
  if (state == "completed") {
    next.full_load_end = Clock::Now();
    // The table's last slice to complete adds the primary key, in its final transaction (which
    // waits for the other slices' final transactions to commit).
    last_slice_ = request_.table->FinishSlice();
    if (last_slice_ && settings_.create_pk_after_full_load && !request_.reload) {
      std::string pk = AddPrimaryKeySql(table_);
      if (!pk.empty()) RETURN_IF_ERROR(conn_.Execute(pk));
    }
  }
  RETURN_IF_ERROR(WriteCheckpoint(conn_, env_.control_schema, env_.task_name, key_, next));
  RETURN_IF_ERROR(
      conn_.Execute(state == "loading" ? "COMMIT" : "SET LOCAL synchronous_commit = on; COMMIT"));
  in_transaction_ = false;
  const int64_t rows = rows_in_batch_;
  const int64_t truncated = truncated_in_batch_;
  env_.shared.UpdateTable(request_.index, [&](TableStatistics& s) {
    s.full_load_rows += rows;
    s.full_load_error_rows += rejected_now;
    s.full_load_truncated_rows += truncated;
  });
  checkpoint_ = std::move(next);
  pending_.rows_loaded = checkpoint_.rows_loaded;
  pending_.rows_rejected = checkpoint_.rows_rejected;
  rows_in_batch_ = 0;
  truncated_in_batch_ = 0;
  rejected_in_batch_.clear();
  return Status::Ok();
}

void TableLoad::RollbackBatch() {
  if (copy_) {
    (void)copy_->Abort("opendms: batch rolled back");
    copy_.reset();
  }
  if (in_transaction_) (void)conn_.Execute("ROLLBACK");
  in_transaction_ = false;
  rows_in_batch_ = 0;
  truncated_in_batch_ = 0;
  rejected_in_batch_.clear();
  pending_ = checkpoint_;
}

std::string TableLoad::Where(const csv::RowInfo& row, int column_number) const {
  std::string where = S3Url(bucket_, object_->key) + " line " + std::to_string(row.line);
  if (column_number > 0) {
    where += ", column " + std::to_string(column_number);
    if (static_cast<size_t>(column_number) <= source_.columns.size()) {
      where += " (" + source_.columns[column_number - 1].name + ")";
    }
  }
  return where;
}

TableLoad::Verdict TableLoad::RejectRow(DataErrorKind kind, const std::string& message,
                                        int column_number, std::string column_name,
                                        ErrorPolicy policy, const csv::RowInfo& row, bool loaded) {
  RejectedRow r;
  r.bucket = bucket_;
  r.key = object_->key;
  r.line = static_cast<int64_t>(row.line);
  r.byte_offset = static_cast<int64_t>(row.byte_offset);
  r.column_number = column_number;
  r.column_name = std::move(column_name);
  r.error_kind = std::string(DataErrorKindName(kind));
  r.error = message;
  r.policy = std::string(ErrorPolicyName(policy));
  r.raw = std::string(row.raw);
  r.loaded = loaded;
  rejected_in_batch_.push_back(std::move(r));
  if (policy == ErrorPolicy::kLogError) {
    TaskLog(env_, LogComponent::kTargetLoad, LogSeverity::kWarning, "{} ({}; row {} kept in {}.{})",
            message, ErrorPolicyName(policy), loaded ? "loaded truncated" : "rejected",
            env_.control_schema, kLoadExceptionsTable);
  } else {
    TaskLog(env_, LogComponent::kTargetLoad, LogSeverity::kInfo, "{} ({})", message,
            ErrorPolicyName(policy));
  }
  ++data_errors_;
  if (settings_.data_error_escalation_count > 0 &&
      data_errors_ >= settings_.data_error_escalation_count) {
    return Escalate("DataErrorEscalationCount (" +
                        std::to_string(settings_.data_error_escalation_count) + ") reached",
                    row);
  }
  return Verdict::kContinue;
}

TableLoad::Verdict TableLoad::Escalate(std::string_view what, const csv::RowInfo& row) {
  verdict_message_ = "table " + source_.owner + "." + source_.name + ": " + std::string(what) +
                     " at " + Where(row, 0);
  return settings_.data_error_escalation_policy == ErrorPolicy::kStopTask ? Verdict::kFatal
                                                                          : Verdict::kTableError;
}

TableLoad::Verdict TableLoad::HandleValueIssue(const ValueIssue& issue, size_t column,
                                               const csv::RowInfo& row) {
  const TargetColumn& target = table_.columns[column];
  const int column_number =
      source_columns_[column] == SIZE_MAX ? 0 : static_cast<int>(source_columns_[column]) + 1;
  std::string message = Where(row, column_number) + ": " + issue.message + " [" +
                        std::string(DataErrorKindName(issue.kind)) + "]";
  if (column_number == 0) message += " (added column " + target.name + ")";
  const bool truncation = issue.kind == DataErrorKind::kTruncation;
  const ErrorPolicy policy =
      truncation ? settings_.data_truncation_error_policy : settings_.data_error_policy;
  switch (policy) {
    case ErrorPolicy::kSuspendTable:
      verdict_message_ = message + " (table suspended by " +
                         (truncation ? "DataTruncationErrorPolicy" : "DataErrorPolicy") + ")";
      return Verdict::kTableError;
    case ErrorPolicy::kStopTask:
      verdict_message_ = message + " (task stopped by " +
                         (truncation ? "DataTruncationErrorPolicy" : "DataErrorPolicy") + ")";
      return Verdict::kFatal;
    default:
      break;
  }
  // LOG_ERROR on a truncation loads the truncated value, as DMS does; everything else skips the
  // row. Either way the original row is kept in the exceptions table.
  const bool loaded = truncation && policy == ErrorPolicy::kLogError;
  return RejectRow(issue.kind, message, column_number, target.name, policy, row, loaded);
}

void TableLoad::SetPositionAfter(const csv::RowInfo& row) {
  pending_.object_offset = static_cast<int64_t>(row.next_offset);
  pending_.object_line = static_cast<int64_t>(row.next_line);
}

void TableLoad::FillFieldViews(std::span<const csv::Field> fields) {
  field_views_.resize(fields.size());
  if (field_nulls_size_ < fields.size()) {
    field_nulls_.reset(new bool[fields.size()]);
    field_nulls_size_ = fields.size();
  }
  for (size_t i = 0; i < fields.size(); ++i) {
    field_views_[i] = fields[i].value;
    field_nulls_[i] = !fields[i].quoted && fields[i].value.empty();
  }
}

ValueIssue TableLoad::EncodeAddedColumn(size_t column, std::span<const csv::Field> fields) {
  buffer_.Commit(writer_.BeforeField(static_cast<int>(column),
                                     buffer_.Reserve(CopyRowWriter::kMaxFramingBytes)));
  FillFieldViews(fields);
  ExpressionContext ctx{std::span<const std::string_view>(field_views_),
                        std::span<const bool>(field_nulls_.get(), fields.size()), source_.owner,
                        source_.name};
  auto value = table_.columns[column].expression->Evaluate(ctx);
  if (!value.ok()) return ValueIssue{DataErrorKind::kInvalidValue, value.status().message()};
  const bool is_null = !value->has_value();
  const std::string_view text = is_null ? std::string_view() : std::string_view(**value);
  const ColumnEncoder& encoder = encoders_[column];
  char* p = buffer_.Reserve(encoder.MaxEncodedSize(text.size()));
  const DataErrorKind kind = encoder.EncodeTo(text, is_null, p);
  buffer_.Commit(p);
  if (kind == DataErrorKind::kNone) return {};
  issue_scratch_.clear();
  return encoder.Encode(text, is_null, issue_scratch_);
}

void TableLoad::SetRowBound() {
  // MaxEncodedSize(n) is fixed + per_byte × n.
  row_fixed_bytes_ = 2 * CopyRowWriter::kMaxFramingBytes;  // BeginRow, EndRow
  size_t per_byte = 0;
  std::vector<size_t> uses(source_.columns.size(), 0);  // a field may feed several columns
  size_t most_uses = 0;
  for (size_t c = 0; c < encoders_.size(); ++c) {
    if (source_columns_[c] == SIZE_MAX) continue;  // added columns reserve their own room
    const ColumnEncoder& e = encoders_[c];
    row_fixed_bytes_ += CopyRowWriter::kMaxFramingBytes + e.MaxEncodedSize(0);
    per_byte = std::max(per_byte, e.MaxEncodedSize(1) - e.MaxEncodedSize(0));
    if (source_columns_[c] < uses.size()) {
      most_uses = std::max(most_uses, ++uses[source_columns_[c]]);
    } else {
      most_uses = encoders_.size();  // not a field of a well-formed row; stay safe
    }
  }
  row_bytes_per_raw_byte_ = per_byte * most_uses;
}

ValueIssue TableLoad::DescribeIssue(size_t column, const csv::Field& field) {
  issue_scratch_.clear();
  return encoders_[column].Encode(field.value, !field.quoted && field.value.empty(),
                                  issue_scratch_);
}

bool TableLoad::OnRow(std::span<const csv::Field> fields, const csv::RowInfo& row) {
  // A blank line is not a row: skipped (it holds no data to lose).
  if (row.raw.empty() && fields.size() == 1 && !fields[0].quoted) return true;
  ++rows_seen_;
  if ((rows_seen_ & 4095) == 0 &&
      (env_.shared.stop_requested() || env_.shared.failed() || request_.table->abandoned())) {
    verdict_ = request_.table->abandoned() ? Verdict::kAbandoned : Verdict::kStopped;
    return false;
  }
  const size_t defined = source_.columns.size();
  if (fields.size() != defined) {
    const bool more = fields.size() > defined;
    const int column = static_cast<int>(more ? defined + 1 : fields.size() + 1);
    verdict_message_ = S3Url(bucket_, object_->key) + " line " + std::to_string(row.line) +
                       ", column " + std::to_string(column) + ": row has " +
                       std::to_string(fields.size()) + " fields, the table definition of " +
                       source_.owner + "." + source_.name + " has " + std::to_string(defined) +
                       " columns" +
                       (more ? " (field " + std::to_string(column) +
                                   " is not defined in the task's table definition)"
                             : " (column " + std::to_string(column) + " " +
                                   source_.columns[column - 1].name + " is missing)");
    verdict_ = Verdict::kFatal;
    return false;
  }
  if (!table_.row_filter.empty()) {
    // Selection-rule filters see the source fields, as DMS evaluates them.
    FillFieldViews(fields);
    if (!table_.row_filter.Matches(field_views_,
                                   std::span<const bool>(field_nulls_.get(), fields.size()))) {
      ++rows_filtered_;
      SetPositionAfter(row);
      return true;
    }
  }
  if (!copy_) {
    Status st = in_transaction_ ? Status::Ok() : BeginBatch();
    if (st.ok() && !copy_) {
      auto copy = pg::CopyIn::Begin(conn_, copy_sql_);
      if (copy.ok()) {
        copy_.emplace(std::move(copy).value());
        writer_.BeginStream(buffer_);
      } else {
        st = copy.status();
      }
    }
    if (!st.ok()) {
      verdict_message_ = st.ToString();
      transient_ = pg::IsTransientError(st);
      verdict_ = Verdict::kTableError;
      return false;
    }
  }
  const size_t row_start = buffer_.size();
  // One capacity check per row; the fields are written through `p`, committed at the row's end
  // or before anything else touches buffer_.
  char* p = writer_.BeginRow(buffer_.Reserve(RowBound(row)));
  bool truncated = false;
  const size_t columns = encoders_.size();
  for (size_t c = 0; c < columns; ++c) {
    const size_t src = source_columns_[c];
    if (src != SIZE_MAX) {
      // The common case: EncodeTo, no message.
      const csv::Field& field = fields[src];
      p = writer_.BeforeField(static_cast<int>(c), p);
      // NULL: unquoted and empty, computed without a branch (NULLs come in no pattern).
      const bool is_null = (field.value.size() | static_cast<size_t>(field.quoted)) == 0;
      const DataErrorKind kind = encoders_[c].EncodeTo(field.value, is_null, p);
      if (kind == DataErrorKind::kNone) continue;
    }
    buffer_.Commit(p);
    const ValueIssue issue =
        src != SIZE_MAX ? DescribeIssue(c, fields[src]) : EncodeAddedColumn(c, fields);
    p = buffer_.Reserve(RowBound(row));  // room for the rest of the row, again
    if (issue.ok()) continue;
    Verdict v = HandleValueIssue(issue, c, row);
    if (v != Verdict::kContinue) {
      buffer_.Truncate(row_start);
      verdict_ = v;
      return false;
    }
    if (issue.kind == DataErrorKind::kTruncation &&
        settings_.data_truncation_error_policy == ErrorPolicy::kLogError) {
      truncated = true;  // the truncated value was appended; keep encoding the row
      continue;
    }
    // The row is skipped: drop what was encoded of it.
    buffer_.Truncate(row_start);
    SetPositionAfter(row);
    return true;
  }
  buffer_.Commit(writer_.EndRow(p));
  ++rows_in_batch_;
  if (truncated) ++truncated_in_batch_;
  SetPositionAfter(row);
  if (buffer_.size() >= env_.options.copy_chunk_bytes) {
    Status st = copy_->Write(buffer_.view());
    buffer_.clear();
    if (!st.ok()) {
      verdict_message_ = st.ToString();
      transient_ = pg::IsTransientError(st);
      verdict_ = Verdict::kTableError;
      return false;
    }
  }
  if (rows_in_batch_ + static_cast<int64_t>(rejected_in_batch_.size()) >= settings_.commit_rate) {
    Status st = CommitBatch("loading");
    if (!st.ok()) {
      verdict_message_ = st.ToString();
      transient_ = pg::IsTransientError(st);
      verdict_ = Verdict::kTableError;
      return false;
    }
    if (env_.shared.stop_requested() || env_.shared.failed() || request_.table->abandoned()) {
      verdict_ = request_.table->abandoned() ? Verdict::kAbandoned : Verdict::kStopped;
      return false;
    }
  }
  return true;
}

TableOutcome TableLoad::Finish(TableOutcome outcome, std::string msg, std::string* message) {
  const std::string table_name = table_.target_schema + "." + table_.target_table;
  if ((outcome == TableOutcome::kTableError || outcome == TableOutcome::kFatal) &&
      (!conn_.IsHealthy() || transient_)) {
    // The target went away: whatever failed, the committed checkpoint stands.
    outcome = TableOutcome::kRecoverable;
  }
  switch (outcome) {
    case TableOutcome::kCompleted:
      if (last_slice_) {
        env_.shared.UpdateTable(request_.index, [&](TableStatistics& s) {
          // A reload is complete once its changes are applied again: the caller says so.
          if (!request_.reload) s.table_state = std::string(kTableCompleted);
          s.full_load_end = Clock::Now();
          s.bytes_read = s.bytes_total;
        });
      }
      break;
    case TableOutcome::kStopped:
      env_.shared.UpdateTable(request_.index, [&](TableStatistics& s) {
        if (s.table_state != kTableError) s.table_state = std::string(kTableCancelled);
      });
      break;
    case TableOutcome::kAbandoned:
    case TableOutcome::kRecoverable:
      break;
    case TableOutcome::kTableError:
    case TableOutcome::kFatal: {
      request_.table->Abandon();
      // Remember the error in the checkpoint (its own transaction) so that a resume reloads the
      // table — unless the slice only failed to read its source: its committed position is
      // good, and a resume continues there.
      TableCheckpoint failed = checkpoint_;
      failed.table_state = resumable_ ? "loading" : "error";
      if (conn_.IsHealthy() && !resumable_) {
        Status st = WriteCheckpoint(conn_, env_.control_schema, env_.task_name, key_, failed);
        if (!st.ok()) {
          TaskLog(env_, LogComponent::kTargetLoad, LogSeverity::kError, "{}", st.ToString());
        }
      }
      if (conn_.IsHealthy()) {
        Status st = WriteSuspendedTable(conn_, env_.control_schema, env_.optional_tables,
                                        env_.task_name, key_, "TABLE_ERROR");
        if (!st.ok()) {
          TaskLog(env_, LogComponent::kTargetLoad, LogSeverity::kError, "{}", st.ToString());
        }
      }
      env_.shared.UpdateTable(request_.index, [&](TableStatistics& s) {
        s.table_state = std::string(kTableError);
        s.error_message = msg;
      });
      TaskLog(env_, LogComponent::kTargetLoad, LogSeverity::kError, "table {} failed: {}",
              table_name, msg);
      break;
    }
  }
  if (message) *message = std::move(msg);
  return outcome;
}

TableOutcome TableLoad::Run(std::string* message) {
  const std::string table_name = table_.target_schema + "." + table_.target_table;
  for (const TargetColumn& c : table_.columns) {
    auto enc = ColumnEncoder::Make(c.definition, env_.options.copy_format);
    if (!enc.ok()) return Finish(TableOutcome::kFatal, enc.status().message(), message);
    encoders_.push_back(std::move(enc).value());
    source_columns_.push_back(c.source_index < 0 ? SIZE_MAX : static_cast<size_t>(c.source_index));
  }
  SetRowBound();
  std::vector<std::string> names;
  for (const TargetColumn& c : table_.columns) names.push_back(c.name);
  copy_sql_ = writer_.CopySql(pg::QualifiedName(table_.target_schema, table_.target_table), names);

  // The slice's position: its plan row when fresh, its last commit when resumed. The task
  // checked the plan against the bucket (plan_digest) before scheduling the slice.
  const auto& objects = request_.objects;
  checkpoint_ = request_.checkpoint;
  const size_t first_object = static_cast<size_t>(checkpoint_.objects_done);
  const int64_t start_offset = checkpoint_.object_offset;
  const int64_t start_line = checkpoint_.object_line;
  for (size_t i = 0; i < first_object && i < objects.size(); ++i) digest_.Add(objects[i]);
  if (first_object > 0 || start_offset > 0) {
    TaskLog(env_, LogComponent::kSourceUnload, LogSeverity::kInfo,
            "table {} slice {} resumes after {} rows at object {} of {}, byte {}", table_name,
            checkpoint_.slice, checkpoint_.rows_loaded, first_object + 1, objects.size(),
            start_offset);
  }

  const TimePoint started =
      checkpoint_.full_load_start ? *checkpoint_.full_load_start : Clock::Now();
  checkpoint_.full_load_start = started;
  if (request_.table->abandoned()) return Finish(TableOutcome::kAbandoned, "", message);
  env_.shared.UpdateTable(request_.index, [&](TableStatistics& s) {
    if (s.table_state != kTableError) {
      s.table_state = std::string(request_.reload ? kTableBeingReloaded : kTableFullLoad);
    }
    if (!s.full_load_start || *s.full_load_start > started) s.full_load_start = started;
  });

  Status prep = request_.table->PrepareOnce(
      [this](const std::vector<TableCheckpoint>& plan) { return Prepare(plan); });
  if (!prep.ok()) {
    if (request_.table->abandoned()) return Finish(TableOutcome::kAbandoned, "", message);
    return Finish(
        settings_.table_error_policy == ErrorPolicy::kStopTask ? TableOutcome::kFatal
                                                               : TableOutcome::kTableError,
        "preparing " + table_name + " (" +
            "TargetTablePrepMode): " + (transient_ = pg::IsTransientError(prep), prep.ToString()),
        message);
  }
  pending_ = checkpoint_;
  if (objects.empty() && checkpoint_.plan_objects == 0) {
    TaskLog(env_, LogComponent::kSourceUnload, LogSeverity::kWarning,
            "table {} has no objects under s3://{}/{}: loaded 0 rows", table_name, bucket_,
            JoinFolder(env_.definition.source.s3.bucket_folder, source_.path));
  }

  const TaskSettings& s = settings_;
  csv::TokenizerOptions topt;
  topt.buffer_size = env_.options.read_buffer_bytes;
  for (size_t i = first_object; i < objects.size(); ++i) {
    if (env_.shared.stop_requested() || env_.shared.failed() || request_.table->abandoned()) {
      if (request_.table->abandoned()) {
        RollbackBatch();
        return Finish(TableOutcome::kAbandoned, "", message);
      }
      Status st = CommitBatch("loading");
      return Finish(st.ok() ? TableOutcome::kStopped : TableOutcome::kTableError,
                    st.ok() ? "stopped" : (transient_ = pg::IsTransientError(st), st.ToString()),
                    message);
    }
    object_ = &objects[i];
    const int64_t offset = i == first_object ? start_offset : 0;
    const int64_t line = i == first_object ? start_line : 1;
    pending_.object_key = object_->key;
    pending_.object_etag = object_->etag;
    pending_.object_offset = offset;
    pending_.object_line = line;
    std::optional<objectstore::ByteRange> range;
    if (offset > 0) range = objectstore::ByteRange{static_cast<uint64_t>(offset), std::nullopt};
    Result<std::unique_ptr<objectstore::ObjectReader>> reader =
        offset > 0 && static_cast<uint64_t>(offset) >= object_->size
            ? Result<std::unique_ptr<objectstore::ObjectReader>>(
                  std::unique_ptr<objectstore::ObjectReader>())
            : env_.store.Get(bucket_, object_->key, range);
    if (!reader.ok()) {
      RollbackBatch();
      resumable_ = true;
      return Finish(
          settings_.table_error_policy == ErrorPolicy::kStopTask ? TableOutcome::kFatal
                                                                 : TableOutcome::kTableError,
          "reading " + S3Url(bucket_, object_->key) + ": " + reader.status().ToString(), message);
    }
    if (*reader && (*reader)->info().etag != object_->etag) {
      RollbackBatch();
      return Finish(TableOutcome::kTableError,
                    S3Url(bucket_, object_->key) + " changed while the task was loading it (ETag " +
                        object_->etag + " when listed, " + (*reader)->info().etag +
                        " now): the table must be reloaded",
                    message);
    }
    if (object_->size == 0) {
      TaskLog(env_, LogComponent::kSourceUnload, LogSeverity::kWarning, "{} is empty (0 rows)",
              S3Url(bucket_, object_->key));
    }
    if (*reader) {
      topt.ignore_header_rows =
          offset == 0 ? static_cast<uint64_t>(env_.definition.source.s3.ignore_header_rows) : 0;
      topt.start_offset = static_cast<uint64_t>(offset);
      topt.start_line = static_cast<uint64_t>(line);
      csv::Tokenizer tokenizer(env_.definition.dialect, topt);
      objectstore::ObjectReader& r = **reader;
      const size_t index = request_.index;
      TaskShared& shared = env_.shared;
      auto source = [&r, index, &shared](char* dst, size_t cap) -> Result<size_t> {
        Result<size_t> n = r.Read(dst, cap);
        if (n.ok() && *n > 0) {
          const int64_t got = static_cast<int64_t>(*n);
          shared.UpdateTable(index, [got](TableStatistics& t) { t.bytes_read += got; });
        }
        return n;
      };
      verdict_ = Verdict::kContinue;
      const bool ok = tokenizer.Run(source, *this);
      if (!ok) {
        const csv::CsvError& e = tokenizer.error();
        RollbackBatch();
        std::string msg = S3Url(bucket_, object_->key) + " line " + std::to_string(e.line) +
                          ", column " + std::to_string(e.column) + ": " + e.message + " [" +
                          std::string(csv::CsvErrorKindName(e.kind)) + "]";
        if (e.kind == csv::CsvErrorKind::kReadError) {
          resumable_ = true;
          return Finish(TableOutcome::kTableError, msg, message);
        }
        return Finish(TableOutcome::kFatal, msg, message);
      }
      switch (verdict_) {
        case Verdict::kContinue:
          break;
        case Verdict::kAbandoned:
          RollbackBatch();
          return Finish(TableOutcome::kAbandoned, "", message);
        case Verdict::kStopped: {
          Status st = CommitBatch("loading");
          return Finish(
              st.ok() ? TableOutcome::kStopped : TableOutcome::kTableError,
              st.ok() ? "stopped" : (transient_ = pg::IsTransientError(st), st.ToString()),
              message);
        }
        case Verdict::kTableError:
        case Verdict::kFatal: {
          // Rows before the failing one are good: keep them and the rejected rows with their
          // checkpoint, so nothing read is unaccounted for; the table is left in error.
          const bool fatal = verdict_ == Verdict::kFatal;
          if (fatal) {
            RollbackBatch();
          } else if (conn_.IsHealthy() && copy_) {
            Status st = CommitBatch("error");
            if (!st.ok()) RollbackBatch();
          } else {
            RollbackBatch();
          }
          return Finish(fatal ? TableOutcome::kFatal : TableOutcome::kTableError, verdict_message_,
                        message);
        }
      }
    }
    // The object is done: the position moves to the start of the next one.
    digest_.Add(*object_);
    pending_.objects_done = static_cast<int64_t>(i + 1);
    pending_.done_digest = digest_.Hex();
    pending_.object_key.clear();
    pending_.object_etag.clear();
    pending_.object_offset = 0;
    pending_.object_line = 1;
    env_.shared.UpdateTable(request_.index, [&](TableStatistics& t) { ++t.objects_done; });
  }
  if (objects.empty()) pending_.done_digest = digest_.Hex();
  Status st = CommitBatch("completed");
  if (!st.ok()) {
    RollbackBatch();
    return Finish(
        s.table_error_policy == ErrorPolicy::kStopTask ? TableOutcome::kFatal
                                                       : TableOutcome::kTableError,
        "committing " + table_name + ": " + (transient_ = pg::IsTransientError(st), st.ToString()),
        message);
  }
  TaskLog(env_, LogComponent::kTargetLoad, LogSeverity::kInfo,
          "table {} {} completed: {} rows loaded, {} rejected{}", table_name,
          checkpoint_.plan_objects > 0 ? "slice " + std::to_string(checkpoint_.slice)
                                       : std::string("load"),
          checkpoint_.rows_loaded, checkpoint_.rows_rejected,
          rows_filtered_
              ? ", " + std::to_string(rows_filtered_) + " left out by the selection filters"
              : std::string());
  return Finish(TableOutcome::kCompleted, "", message);
}

}  // namespace

std::string ObjectsDigest(const std::vector<SourceObject>& objects, size_t first, size_t count) {
  DoneDigest d;
  for (size_t i = first; i < first + count && i < objects.size(); ++i) d.Add(objects[i]);
  return d.Hex();
}

TableOutcome LoadTable(const LoadEnvironment& env, pg::Connection& conn,
                       const TableLoadRequest& request, std::string* message) {
  TableLoad load(env, conn, request);
  return load.Run(message);
}

}  // namespace opendms::engine

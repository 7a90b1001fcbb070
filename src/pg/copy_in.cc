// CopyIn: COPY … FROM STDIN with named stages; aborted when dropped unfinished.
#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>

#include "pg/errors.h"
#include "pg/pg.h"

namespace opendms::pg {

namespace {

// PQputCopyData takes an int length; larger writes go in slices of this size.
constexpr size_t kMaxPutBytes = size_t{1} << 30;

// After PQputCopyEnd: reads every result. Returns the rows copied (from the COPY's command
// status) or the first failure. A result still in COPY state means the session is broken (libpq
// would return it forever), so the loop stops there.
Result<uint64_t> CollectCopyResults(PGconn* conn, std::string_view sql) {
  Status failure = Status::Ok();
  uint64_t rows = 0;
  bool completed = false;
  while (PGresult* r = PQgetResult(conn)) {
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK && failure.ok()) {
      rows = std::strtoull(PQcmdTuples(r), nullptr, 10);
      completed = true;
    } else if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
      PQclear(r);
      if (failure.ok()) failure = internal::StatusFromConnection(conn, sql);
      break;
    } else if (failure.ok() && st != PGRES_COMMAND_OK) {
      failure = internal::StatusFromResult(conn, r, sql);
    }
    PQclear(r);
  }
  if (!failure.ok()) return failure;
  if (!completed) return internal::StatusFromResult(conn, nullptr, sql);
  return rows;
}

}  // namespace

Result<CopyIn> CopyIn::Begin(Connection& conn, std::string_view copy_sql) {
  PGconn* raw = conn.raw();
  if (raw == nullptr) return Status::InvalidState("the connection is closed");
  const std::string sql(copy_sql);
  PGresult* result = PQexec(raw, sql.c_str());
  ExecStatusType st = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (st == PGRES_COPY_IN) {
    PQclear(result);
    return CopyIn(conn, sql);
  }
  Status status = Status::Ok();
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
    status = Status::InvalidArgument(internal::SqlForMessage(sql) + ": not a COPY FROM STDIN");
  } else if (st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
    // Put the session back in order (drop COPY TO's rows) before refusing.
    char* buffer = nullptr;
    while (PQgetCopyData(raw, &buffer, 0) > 0) PQfreemem(buffer);
    status = Status::InvalidArgument(internal::SqlForMessage(sql) + ": not a COPY FROM STDIN");
  } else {
    status = internal::StatusFromResult(raw, result, sql);
  }
  if (result != nullptr) PQclear(result);
  // A multi-statement string may leave results behind; the session must be idle on return.
  while (PGresult* r = PQgetResult(raw)) {
    ExecStatusType rest = PQresultStatus(r);
    PQclear(r);
    if (rest == PGRES_COPY_IN || rest == PGRES_COPY_OUT || rest == PGRES_COPY_BOTH) break;
  }
  return status;
}

CopyIn::CopyIn(CopyIn&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)), sql_(std::move(other.sql_)) {}

CopyIn& CopyIn::operator=(CopyIn&& other) noexcept {
  if (this != &other) {
    if (active()) (void)Abort("CopyIn replaced before Finish");
    conn_ = std::exchange(other.conn_, nullptr);
    sql_ = std::move(other.sql_);
  }
  return *this;
}

CopyIn::~CopyIn() {
  if (!active()) return;
  Status st = Abort("CopyIn destroyed before Finish");
  if (!st.ok()) spdlog::debug("[pg] aborting an unfinished COPY: {}", st.ToString());
}

Status CopyIn::Write(std::string_view bytes) {
  if (!active())
    return Status::InvalidState(internal::SqlForMessage(sql_) + ": COPY is not active");
  PGconn* raw = conn_->raw();
  while (!bytes.empty()) {
    const size_t n = std::min(bytes.size(), kMaxPutBytes);
    // The connection is blocking, so PQputCopyData never returns 0 ("would block"): 1 = queued
    // or sent, -1 = failed.
    if (PQputCopyData(raw, bytes.data(), static_cast<int>(n)) != 1) {
      return internal::StatusFromConnection(raw, sql_);
    }
    bytes.remove_prefix(n);
  }
  return Status::Ok();
}

Result<uint64_t> CopyIn::Finish() {
  if (!active())
    return Status::InvalidState(internal::SqlForMessage(sql_) + ": COPY is not active");
  PGconn* raw = std::exchange(conn_, nullptr)->raw();
  if (PQputCopyEnd(raw, nullptr) != 1) return internal::StatusFromConnection(raw, sql_);
  return CollectCopyResults(raw, sql_);
}

Status CopyIn::Abort(std::string_view reason) {
  if (!active())
    return Status::InvalidState(internal::SqlForMessage(sql_) + ": COPY is not active");
  PGconn* raw = std::exchange(conn_, nullptr)->raw();
  const std::string message(reason.empty() ? "aborted" : reason);
  if (PQputCopyEnd(raw, message.c_str()) != 1) return internal::StatusFromConnection(raw, sql_);
  Result<uint64_t> rows = CollectCopyResults(raw, sql_);
  // The server answers CopyFail with 57014 "COPY from stdin failed: <reason>" (or with the data
  // error it had already met): either way nothing was applied, which is the abort's success.
  // A dead session is the caller's business; a completed COPY cannot follow a CopyFail.
  if (rows.ok())
    return Status::Internal(internal::SqlForMessage(sql_) + ": completed despite abort");
  if (rows.status().IsConnectionError()) return rows.status();
  return Status::Ok();
}

}  // namespace opendms::pg

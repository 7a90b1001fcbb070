// Connection and QueryResult: the RAII layer on PGconn and PGresult.
#include <libpq-fe.h>

#include <cctype>
#include <climits>
#include <cstdlib>
#include <string>

#include "pg/errors.h"
#include "pg/pg.h"

namespace opendms::pg {

namespace {

constexpr int kMaxParams = 65535;  // the protocol's limit (Int16 parameter count)

void NoticeToLog(void* /*arg*/, const char* message) {
  if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("[pg] {}", internal::OneLine(message));
  }
}

// Replaces every occurrence of `secret` in `text`. Only for secrets of 4+ bytes: a shorter one
// would garble the message more than it protects (and libpq never echoes a parsed password).
void Redact(std::string& text, std::string_view secret) {
  if (secret.size() < 4) return;
  for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3)) {
    text.replace(at, secret.size(), "***");
  }
}

// A failed login's SQLSTATE, recognised from libpq's text: libpq keeps no error fields for a
// connection attempt. Empty when the failure is not one the server refused on purpose.
std::string_view LoginFailureSqlState(std::string_view message) {
  if (message.find("password authentication failed") != std::string_view::npos ||
      message.find("no password supplied") != std::string_view::npos ||
      message.find("SCRAM authentication") != std::string_view::npos) {
    return "28P01";
  }
  if (message.find("pg_hba.conf") != std::string_view::npos ||
      (message.find("role \"") != std::string_view::npos &&
       message.find("does not exist") != std::string_view::npos)) {
    return "28000";
  }
  if (message.find("database \"") != std::string_view::npos &&
      message.find("does not exist") != std::string_view::npos) {
    return "3D000";
  }
  return {};
}

bool ContainsNoCase(std::string_view text, std::string_view word) {
  auto lower = [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  for (size_t i = 0; i + word.size() <= text.size(); ++i) {
    size_t j = 0;
    while (j < word.size() && lower(text[i + j]) == word[j]) ++j;
    if (j == word.size()) return true;
  }
  return false;
}

// Reads and frees every pending result. Returns the first failure, if any. Stops at a COPY state
// (PQgetResult would return it forever); the caller has put the session back in order first.
Status DrainResults(PGconn* conn, std::string_view sql) {
  Status first = Status::Ok();
  while (PGresult* r = PQgetResult(conn)) {
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
      PQclear(r);
      if (first.ok()) first = internal::StatusFromConnection(conn, sql);
      break;
    }
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY && first.ok()) {
      first = internal::StatusFromResult(conn, r, sql);
    }
    PQclear(r);
  }
  return first;
}

// A statement entered COPY mode outside CopyIn. COPY FROM STDIN is ended with an error (the
// server rolls it back) and refused; COPY TO STDOUT's rows are read and dropped.
Status LeaveCopyMode(PGconn* conn, ExecStatusType st, std::string_view sql) {
  if (st == PGRES_COPY_OUT) {
    char* buffer = nullptr;
    while (PQgetCopyData(conn, &buffer, 0) > 0) PQfreemem(buffer);
    return DrainResults(conn, sql);
  }
  if (st == PGRES_COPY_IN) {
    if (PQputCopyEnd(conn, "COPY FROM STDIN must go through pg::CopyIn") == 1) {
      (void)DrainResults(conn, sql);  // the expected "COPY from stdin failed" error
    }
    return Status::InvalidArgument(internal::SqlForMessage(sql) +
                                   ": COPY FROM STDIN must go through pg::CopyIn");
  }
  // COPY BOTH (replication) is never used by opendms; the session cannot be put back in order.
  return Status::InvalidArgument(internal::SqlForMessage(sql) + ": COPY BOTH is not supported");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// QueryResult
// ---------------------------------------------------------------------------------------------

void QueryResult::Deleter::operator()(PGresult* r) const { PQclear(r); }

int QueryResult::rows() const { return PQntuples(result_.get()); }
int QueryResult::columns() const { return PQnfields(result_.get()); }

bool QueryResult::IsNull(int row, int col) const {
  return PQgetisnull(result_.get(), row, col) != 0;
}

std::string_view QueryResult::Get(int row, int col) const {
  return std::string_view(PQgetvalue(result_.get(), row, col),
                          static_cast<size_t>(PQgetlength(result_.get(), row, col)));
}

std::string_view QueryResult::ColumnName(int col) const {
  const char* name = PQfname(result_.get(), col);
  return name ? std::string_view(name) : std::string_view();
}

int QueryResult::ColumnIndex(std::string_view name) const {
  for (int c = 0; c < columns(); ++c) {
    if (ColumnName(c) == name) return c;
  }
  return -1;
}

uint64_t QueryResult::AffectedRows() const {
  const char* text = PQcmdTuples(result_.get());
  if (text == nullptr || text[0] == '\0') return 0;
  return std::strtoull(text, nullptr, 10);
}

// ---------------------------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------------------------

Result<Connection> Connection::Open(const ConnectionParams& params) {
  return OpenConnInfo(params.ToConnInfo(), params.Describe(), params.password);
}

Result<Connection> Connection::Open(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    std::string message = "connection string is not valid";
    // libpq's parse errors can quote a piece of the string, which may be the password.
    if (ContainsNoCase(conninfo, "password") || conninfo.find('@') != std::string::npos) {
      message += " (details withheld: they could quote the password)";
    } else if (error != nullptr) {
      message += ": " + internal::OneLine(error);
    }
    if (error != nullptr) PQfreemem(error);
    return Status::InvalidArgument(std::move(message));
  }
  ConnectionParams described;
  std::string password;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    std::string_view keyword = o->keyword;
    if (keyword == "host") described.host = o->val;
    if (keyword == "port") described.port = std::atoi(o->val);
    if (keyword == "dbname") described.dbname = o->val;
    if (keyword == "user") described.user = o->val;
    if (keyword == "password") password = o->val;
  }
  PQconninfoFree(options);
  return OpenConnInfo(conninfo, described.Describe(), password);
}

Result<Connection> Connection::OpenConnInfo(const std::string& conninfo, std::string description,
                                            std::string_view password) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (conn == nullptr) {
    return Status::ConnectionError("connect to " + description + ": libpq is out of memory");
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message =
        "connect to " + description + ": " + internal::OneLine(PQerrorMessage(conn));
    PQfinish(conn);
    Redact(message, password);
    std::string_view sqlstate = LoginFailureSqlState(message);
    if (!sqlstate.empty()) {
      message.append(" (SQLSTATE ").append(sqlstate).append(")");
      return Status::DatabaseError(std::move(message));
    }
    return Status::ConnectionError(std::move(message));
  }
  PQsetNoticeProcessor(conn, NoticeToLog, nullptr);
  // ToConnInfo asks for UTF8 already; a caller's own connection string may not.
  if (std::string_view(pg_encoding_to_char(PQclientEncoding(conn))) != "UTF8" &&
      PQsetClientEncoding(conn, "UTF8") != 0) {
    Status st = internal::StatusFromConnection(conn, "SET client_encoding TO 'UTF8'");
    PQfinish(conn);
    return st.WithContext("connect to " + description);
  }
  // The session's own view of where it is, which includes libpq's defaults (PGUSER, …).
  ConnectionParams actual;
  actual.user = PQuser(conn) ? PQuser(conn) : "";
  actual.host = PQhost(conn) ? PQhost(conn) : "";
  actual.port = PQport(conn) ? std::atoi(PQport(conn)) : 0;
  actual.dbname = PQdb(conn) ? PQdb(conn) : "";
  return Connection(conn, actual.Describe());
}

Connection::Connection(Connection&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)), description_(std::move(other.description_)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = std::exchange(other.conn_, nullptr);
    description_ = std::move(other.description_);
  }
  return *this;
}

Connection::~Connection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

bool Connection::IsHealthy() const { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }

Status Connection::Execute(std::string_view sql) {
  if (conn_ == nullptr) return Status::InvalidState("the connection is closed");
  const std::string text(sql);
  // PQexec returns the last statement's result, or the first failing one's.
  std::unique_ptr<PGresult, QueryResult::Deleter> result(PQexec(conn_, text.c_str()));
  ExecStatusType st = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  switch (st) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
      return Status::Ok();
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH:
      result.reset();
      return LeaveCopyMode(conn_, st, sql);
    default:
      return internal::StatusFromResult(conn_, result.get(), sql);
  }
}

Result<QueryResult> Connection::Query(std::string_view sql,
                                      const std::vector<std::optional<std::string>>& params) {
  if (conn_ == nullptr) return Status::InvalidState("the connection is closed");
  if (params.size() > static_cast<size_t>(kMaxParams)) {
    return Status::InvalidArgument(internal::SqlForMessage(sql) + ": " +
                                   std::to_string(params.size()) + " parameters; at most " +
                                   std::to_string(kMaxParams));
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  const std::string text(sql);
  PGresult* raw = PQexecParams(conn_, text.c_str(), static_cast<int>(values.size()),
                               /*paramTypes=*/nullptr, values.data(), /*paramLengths=*/nullptr,
                               /*paramFormats=*/nullptr, /*resultFormat=*/0);
  QueryResult result(raw);
  ExecStatusType st = raw ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  switch (st) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
      return result;
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH: {
      result.result_.reset();
      Status left = LeaveCopyMode(conn_, st, sql);
      if (!left.ok()) return left;
      return Status::InvalidArgument(internal::SqlForMessage(sql) +
                                     ": COPY TO STDOUT is not supported by Query");
    }
    default:
      return internal::StatusFromResult(conn_, raw, sql);
  }
}

Status Connection::Prepare(const std::string& name, std::string_view sql) {
  if (conn_ == nullptr) return Status::InvalidState("the connection is closed");
  const std::string text(sql);
  QueryResult result(PQprepare(conn_, name.c_str(), text.c_str(), 0, nullptr));
  PGresult* raw = result.result_.get();
  if (raw && PQresultStatus(raw) == PGRES_COMMAND_OK) return Status::Ok();
  return internal::StatusFromResult(conn_, raw, sql);
}

Result<uint64_t> Connection::ExecutePrepared(const std::string& name,
                                             std::span<const BinaryParam> params) {
  if (conn_ == nullptr) return Status::InvalidState("the connection is closed");
  constexpr size_t kInline = 64;
  const char* values_inline[kInline];
  int lengths_inline[kInline];
  int formats_inline[kInline];
  std::vector<const char*> values_heap;
  std::vector<int> lengths_heap, formats_heap;
  const char** values = values_inline;
  int* lengths = lengths_inline;
  int* formats = formats_inline;
  if (params.size() > kInline) {
    values_heap.resize(params.size());
    lengths_heap.resize(params.size());
    formats_heap.resize(params.size());
    values = values_heap.data();
    lengths = lengths_heap.data();
    formats = formats_heap.data();
  }
  for (size_t i = 0; i < params.size(); ++i) {
    values[i] = params[i].data;
    lengths[i] = params[i].size;
    formats[i] = 1;
  }
  QueryResult result(PQexecPrepared(conn_, name.c_str(), static_cast<int>(params.size()), values,
                                    lengths, formats, /*resultFormat=*/0));
  PGresult* raw = result.result_.get();
  if (raw && (PQresultStatus(raw) == PGRES_COMMAND_OK || PQresultStatus(raw) == PGRES_TUPLES_OK)) {
    return result.AffectedRows();
  }
  return internal::StatusFromResult(conn_, raw, "EXECUTE " + name);
}

}  // namespace opendms::pg

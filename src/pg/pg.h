// pg: opendms's only door to PostgreSQL. It owns
//   - quoting: the one way identifiers and literals reach SQL text (QuoteIdentifier, QuoteLiteral);
//   - a thin move-only RAII layer on libpq (Connection, QueryResult) whose failures are Statuses
//     carrying the SQL and the server's message with its SQLSTATE;
//   - COPY … FROM STDIN as a protocol object with named stages (CopyIn);
//   - the local cluster supervisor (LocalCluster: initdb, start, stop, kill, databases) that the
//     server uses for its catalog and RDS clusters, and tests use for their throwaway server.
//
// Start reading at Connection. Errors: a statement the server refused is Status::DatabaseError;
// a server that cannot be reached, went away, or is shutting down (SQLSTATE class 08, 57P01-57P03,
// or a dead connection) is Status::ConnectionError, which callers may retry on a new connection.
// No message produced here ever contains a connection password.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/core.h"

// libpq's handle types, so that users of this header need not include libpq-fe.h.
typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace opendms::pg {

// ---------------------------------------------------------------------------------------------
// Quoting: the ONLY way identifiers and literals reach SQL in this project.
// ---------------------------------------------------------------------------------------------

// Always double-quoted, inner quotes doubled: `a"b` → `"a""b"`. Case and every other byte are
// kept as given (so `Sales` names the table "Sales", not "sales"). Names longer than 63 bytes are
// silently truncated by PostgreSQL; check with ValidateIdentifier where names come from users.
std::string QuoteIdentifier(std::string_view name);

// `"schema"."table"`.
std::string QualifiedName(std::string_view schema, std::string_view table);

// `'it''s'`; a value containing a backslash becomes an E'' literal with backslashes doubled, so the
// result means the same whatever standard_conforming_strings says. A NUL byte cannot be part of
// a PostgreSQL text value; callers must reject such values before quoting.
std::string QuoteLiteral(std::string_view value);

// InvalidArgument unless `name` can name a PostgreSQL object exactly: not empty, no NUL byte,
// at most 63 bytes (NAMEDATALEN - 1; longer names would be truncated and could collide).
Status ValidateIdentifier(std::string_view name);

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

// The five-character SQLSTATE a Status made by this module carries ("22P02"), or "" if none
// (e.g. an ok Status, a client-side failure, or a Status from another module).
std::string_view SqlState(const Status& status);
// True for errors of the environment rather than of the statement: the connection is gone
// (ConnectionError, SQLSTATE class 08) or the server is shutting down, starting up or restarting
// (57P01, 57P02, 57P03). The same work on a new connection later may succeed.
bool IsTransientError(const Status& status);

// ---------------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------------

struct ConnectionParams {
  std::string
      host;  // host name, IP, or a unix-socket directory (starts with '/'); "" = libpq default
  int port = 5432;
  std::string dbname, user, password;
  std::string application_name = "opendms";
  int connect_timeout_seconds = 10;

  // keyword='value' pairs with every value quoted and escaped for libpq, plus
  // client_encoding='UTF8'. Empty host/dbname/user/password are left out (libpq defaults).
  // CONTAINS THE PASSWORD: never log it.
  std::string ToConnInfo() const;
  // "user@host:port/db": for messages and logs; never contains the password.
  std::string Describe() const;
};

// The rows of one statement: a move-only owner of a PGresult. Values are text format. Accessors
// take 0-based indexes and assume they are in range (an out-of-range index is a bug).
class QueryResult {
 public:
  QueryResult(QueryResult&&) noexcept = default;
  QueryResult& operator=(QueryResult&&) noexcept = default;
  QueryResult(const QueryResult&) = delete;
  QueryResult& operator=(const QueryResult&) = delete;
  ~QueryResult() = default;

  int rows() const;
  int columns() const;
  bool IsNull(int row, int col) const;
  // The value as text; "" for NULL (check IsNull). Valid while this QueryResult lives.
  std::string_view Get(int row, int col) const;
  std::string_view ColumnName(int col) const;
  // Exact, case-sensitive match of the column's name; -1 if absent. (Unlike PQfnumber, which
  // folds unquoted names to lower case.)
  int ColumnIndex(std::string_view name) const;
  // Rows inserted/updated/deleted/copied/selected by the statement (PQcmdTuples); 0 if the
  // statement reports none.
  uint64_t AffectedRows() const;

 private:
  friend class Connection;
  struct Deleter {
    void operator()(PGresult* r) const;
  };
  explicit QueryResult(PGresult* result) : result_(result) {}
  std::unique_ptr<PGresult, Deleter> result_;
};

// An open session: a move-only owner of a PGconn, closed on destruction. Blocking. Not
// thread-safe: use one Connection per thread. After a ConnectionError the Connection is dead
// (IsHealthy() is false); open a new one to retry.
class Connection {
 public:
  // Connects, sets client_encoding to UTF8, and routes server NOTICEs to the debug log.
  // ConnectionError when the server cannot be reached; DatabaseError (with SQLSTATE 28P01,
  // 28000 or 3D000 when recognised) when it refuses the login or the database is absent.
  static Result<Connection> Open(const ConnectionParams& params);
  // A libpq connection string or URI. InvalidArgument when it does not parse (libpq's details
  // are withheld if the string could hold a password, since they may quote it).
  static Result<Connection> Open(const std::string& conninfo);

  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Runs one or more ;-separated statements (simple query protocol); result rows are ignored.
  // Stops at the first failing statement. Statements before it in the same string are committed
  // unless the string runs inside an explicit transaction. COPY … FROM STDIN is refused: use
  // CopyIn.
  Status Execute(std::string_view sql);
  // Runs one statement with $1, $2… bound to `params` as text (nullopt = NULL), and returns its
  // rows (empty for statements that return none).
  Result<QueryResult> Query(std::string_view sql,
                            const std::vector<std::optional<std::string>>& params = {});

  // A binary-format parameter: `size` bytes at `data` in the type's binary send format;
  // data == nullptr is NULL.
  struct BinaryParam {
    const char* data = nullptr;
    int size = 0;
  };
  // Prepares `sql` as the named statement of this session (parameter types inferred).
  Status Prepare(const std::string& name, std::string_view sql);
  // Runs a prepared statement with binary parameters; returns its affected rows (PQcmdTuples).
  Result<uint64_t> ExecutePrepared(const std::string& name, std::span<const BinaryParam> params);

  bool IsHealthy() const;  // PQstatus == CONNECTION_OK
  // "user@host:port/db" of this session; no password.
  const std::string& description() const { return description_; }
  // For the COPY stream only (CopyIn). The Connection keeps ownership.
  PGconn* raw() { return conn_; }

 private:
  Connection(PGconn* conn, std::string description)
      : conn_(conn), description_(std::move(description)) {}
  static Result<Connection> OpenConnInfo(const std::string& conninfo, std::string description,
                                         std::string_view password);

  PGconn* conn_ = nullptr;  // owned; null once moved from
  std::string description_;
};

// ---------------------------------------------------------------------------------------------
// COPY … FROM STDIN
// ---------------------------------------------------------------------------------------------

// One COPY … FROM STDIN in flight on a Connection. Stages: Begin → Write* → Finish (or Abort).
// Destroyed before Finish() means aborted: PQputCopyEnd with an error message and the results
// drained, so the server rolls the COPY back and nothing is half-applied; outside an explicit
// transaction the connection is usable again afterwards (inside one, the transaction is failed
// and the caller must ROLLBACK).
//
// The Connection must outlive the CopyIn and must not be used for anything else until
// Finish/Abort. Move-only; not thread-safe. A bad row is reported by Finish(), not by Write():
// the server reads the stream asynchronously and answers at the end.
class CopyIn {
 public:
  // Sends `copy_sql` (a COPY … FROM STDIN statement); DatabaseError if the server does not enter
  // COPY IN mode, e.g. for a missing table or a statement that is not COPY FROM STDIN.
  static Result<CopyIn> Begin(Connection& conn, std::string_view copy_sql);

  CopyIn(CopyIn&& other) noexcept;
  CopyIn& operator=(CopyIn&& other) noexcept;
  CopyIn(const CopyIn&) = delete;
  CopyIn& operator=(const CopyIn&) = delete;
  ~CopyIn();

  // Sends `bytes` as-is (text, CSV or binary COPY data; rows may span calls) with one
  // PQputCopyData call per 1 GiB. ConnectionError if the connection broke.
  Status Write(std::string_view bytes);
  // Ends the stream and returns the number of rows the server copied. DatabaseError (with the
  // server's line/column CONTEXT) when it rejected the data; the COPY is then rolled back.
  Result<uint64_t> Finish();
  // Ends the stream with `reason` as the error, so the server rolls the COPY back. Ok when the
  // server acknowledged the abort; ConnectionError if the connection broke.
  Status Abort(std::string_view reason);

  bool active() const { return conn_ != nullptr; }

 private:
  CopyIn(Connection& conn, std::string sql) : conn_(&conn), sql_(std::move(sql)) {}

  Connection* conn_ = nullptr;  // not owned; null once finished, aborted or moved from
  std::string sql_;             // for error messages
};

// ---------------------------------------------------------------------------------------------
// Local clusters
// ---------------------------------------------------------------------------------------------

// The newest /usr/lib/postgresql/<major>/bin holding initdb and postgres; NotFound if none.
Result<std::string> FindPostgresBinDir();

// Supervises one local PostgreSQL cluster: initdb, start, stop, kill, databases. The postmaster
// runs as a child process of this one (so Kill() and crash detection need no pid-file guessing,
// and the exited server is reaped even where PID 1 reaps nothing, as in containers). When this
// process runs as root, PostgreSQL (which refuses root) runs as the unprivileged OS user
// `os_user` and the data, socket and log paths are chowned to it; every parent directory of
// them must be traversable by that user.
//
// Configuration lives in <data_dir>/opendms.conf, rewritten at every start from Options and
// included from postgresql.conf, so `pg_ctl -D <data_dir> start` by hand behaves the same.
// Methods may be called from any thread; they are serialised internally.
class LocalCluster {
 public:
  struct Options {
    std::string data_dir;    // PGDATA; initdb'ed when empty/missing. Made absolute.
    int port = 0;            // 0 = pick a free TCP port on 127.0.0.1 (at every Start)
    bool listen_tcp = true;  // false = unix socket only
    // Default: <parent of data_dir>/sock-<basename of data_dir>, or a fresh directory under /tmp
    // when that is too long for a socket path. At most 100 characters.
    std::string socket_dir;
    std::string superuser = "postgres";
    // Empty = trust authentication everywhere. Else the superuser gets this password at initdb
    // (an existing cluster keeps its own) and TCP logins use scram-sha-256; the unix socket
    // stays trust (it is reachable only by the OS user and root).
    std::string superuser_password;
    // Extra postgresql.conf settings (name, value), after opendms's defaults so they override
    // them: max_connections=100, shared_buffers=128MB, fsync=on. Values are quoted here.
    std::vector<std::pair<std::string, std::string>> settings;
    std::string log_file;              // server's stderr; default <data_dir>/server.log
    std::string bin_dir;               // default: FindPostgresBinDir()
    std::string os_user = "postgres";  // the OS user the server runs as when we are root
    int start_timeout_seconds = 60;    // to wait for the server to accept connections
    // SIGQUIT (immediate shutdown) the server when the thread that started it exits, so that a
    // crashed test binary leaves no server behind. Only for servers started and restarted from a
    // thread that lives as long as the process (a test's main thread); off for the service.
    bool stop_with_parent = false;
  };

  // initdb if needed, remove a stale postmaster.pid (a dead or foreign pid, or a leftover
  // postmaster of an earlier opendms, which is stopped), start, and wait until the server accepts
  // connections. Fails with the tail of the server log in the message.
  static Result<std::unique_ptr<LocalCluster>> Start(Options options);
  // Only the initdb part of Start (nothing if data_dir is already initialised), without
  // starting a server: e.g. to prepare a template data directory that is then copied.
  static Status Initialize(Options options);

  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;
  ~LocalCluster();  // stops the server if it is running

  // Fast shutdown (SIGINT, like pg_ctl stop -m fast): rolls back open transactions, disconnects
  // clients, checkpoints, and waits for the postmaster to exit. Ok if already stopped.
  Status Stop();
  // Stop (if running), then start again on the same port and socket directory. After Kill() it
  // is crash recovery: it waits for the killed server's backends to exit first.
  Status Restart();
  // SIGKILL the postmaster (crash tests) and reap it. Its backends notice and exit on their own;
  // committed data survives (fsync is on). Start again with Restart().
  Status Kill();

  bool running() const;
  int port() const { return options_.port; }
  const std::string& socket_dir() const { return options_.socket_dir; }
  const std::string& data_dir() const { return options_.data_dir; }
  const std::string& log_file() const { return options_.log_file; }
  pid_t pid() const;  // the postmaster's pid; 0 when not running
  // The last `max_bytes` of the server log (for failure messages).
  std::string LogTail(size_t max_bytes = 4000) const;

  // TCP 127.0.0.1:port with the superuser's password when listening on TCP; else SocketParams.
  ConnectionParams Params(std::string_view dbname) const;
  // The unix socket (trust authentication): for administration from this host.
  ConnectionParams SocketParams(std::string_view dbname) const;

  // CREATE DATABASE; AlreadyExists (42P04) if it exists.
  Status CreateDatabase(std::string_view name);
  // DROP DATABASE … WITH (FORCE): terminates its sessions first. NotFound (3D000) if absent.
  Status DropDatabase(std::string_view name);

 private:
  explicit LocalCluster(Options options) : options_(std::move(options)) {}
  Status Launch();                  // mutex_ held; starts the postmaster, waits ready
  Status StopLocked();              // mutex_ held
  bool ReapIfExitedLocked() const;  // mutex_ held; true if the postmaster is gone
  Status WaitForExitLocked(int timeout_ms) const;  // mutex_ held

  Options options_;  // resolved (absolute paths, chosen port); constant after Start
  uid_t uid_ = 0;    // the OS user the server runs as
  gid_t gid_ = 0;
  bool owns_socket_dir_ = false;  // socket_dir was made by Start under /tmp: removed at the end

  mutable std::mutex mutex_;
  mutable pid_t pid_ = 0;  // guarded by mutex_; the running postmaster, 0 if none
};

}  // namespace opendms::pg

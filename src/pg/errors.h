// Internal to pg: how libpq failures become Statuses. One place, so every message has the same
// shape: "<sql>: <SEVERITY>: <message>[ DETAIL: …][ HINT: …][ CONTEXT: …] (SQLSTATE xxxxx)".
#pragma once

#include <libpq-fe.h>

#include <string>
#include <string_view>

#include "core/core.h"

namespace opendms::pg::internal {

// The SQL as it may appear in a message: one line, at most ~500 bytes (cut on a UTF-8 boundary),
// and the literal after any PASSWORD keyword replaced by '***'.
std::string SqlForMessage(std::string_view sql);

// One line: newlines and tabs become spaces, runs of spaces collapse, ends trimmed.
std::string OneLine(std::string_view text);

// True for SQLSTATEs that mean the session is gone or going: class 08 (connection exception),
// 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now.
bool IsConnectionSqlState(std::string_view sqlstate);

// The Status for a statement whose result (possibly null) is not the one expected. `conn` is
// consulted for libpq's own message and whether the session died.
Status StatusFromResult(PGconn* conn, const PGresult* result, std::string_view sql);

// The Status for a failed libpq call that produced no result (PQputCopyData, PQputCopyEnd, …):
// libpq's message, ConnectionError if the session is dead, else DatabaseError.
Status StatusFromConnection(PGconn* conn, std::string_view sql);

}  // namespace opendms::pg::internal

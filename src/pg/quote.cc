// Quoting of identifiers and literals, connection strings, and the SQLSTATE reader.
#include <string>

#include "pg/pg.h"

namespace opendms::pg {

namespace {

// PostgreSQL's NAMEDATALEN is 64, including the terminating NUL.
constexpr size_t kMaxIdentifierBytes = 63;

// A libpq connection-string value: always single-quoted, with ' and \ escaped by a backslash
// (libpq's rule), so spaces, quotes and empty strings survive.
void AppendConnInfoValue(std::string& out, std::string_view keyword, std::string_view value) {
  if (!out.empty()) out += ' ';
  out += keyword;
  out += "='";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  out += '\'';
}

}  // namespace

std::string QuoteIdentifier(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out += '"';
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string QualifiedName(std::string_view schema, std::string_view table) {
  return QuoteIdentifier(schema) + "." + QuoteIdentifier(table);
}

std::string QuoteLiteral(std::string_view value) {
  const bool has_backslash = value.find('\\') != std::string_view::npos;
  std::string out;
  out.reserve(value.size() + 3);
  // In an E'' literal a backslash is an escape whatever standard_conforming_strings says; in a
  // plain literal it is one only when that setting is off. E'' with doubled backslashes is the
  // form that means the same under both.
  if (has_backslash) out += 'E';
  out += '\'';
  for (char c : value) {
    if (c == '\'') out += '\'';
    if (c == '\\') out += '\\';
    out += c;
  }
  out += '\'';
  return out;
}

Status ValidateIdentifier(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("an identifier cannot be empty");
  if (name.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("an identifier cannot contain a NUL byte");
  }
  if (name.size() > kMaxIdentifierBytes) {
    return Status::InvalidArgument("identifier \"" + std::string(name.substr(0, 20)) + "...\" is " +
                                   std::to_string(name.size()) +
                                   " bytes long; PostgreSQL keeps at most " +
                                   std::to_string(kMaxIdentifierBytes));
  }
  return Status::Ok();
}

std::string_view SqlState(const Status& status) {
  static constexpr std::string_view kMarker = "(SQLSTATE ";
  const std::string& message = status.message();
  size_t at = message.rfind(kMarker);
  if (at == std::string::npos) return {};
  std::string_view code = std::string_view(message).substr(at + kMarker.size());
  if (code.size() < 6 || code[5] != ')') return {};
  return code.substr(0, 5);
}

bool IsTransientError(const Status& status) {
  if (status.code() == ErrorCode::kConnectionError) return true;
  const std::string_view state = SqlState(status);
  return state.substr(0, 2) == "08" || state == "57P01" || state == "57P02" || state == "57P03";
}

std::string ConnectionParams::ToConnInfo() const {
  std::string out;
  if (!host.empty()) AppendConnInfoValue(out, "host", host);
  AppendConnInfoValue(out, "port", std::to_string(port));
  if (!dbname.empty()) AppendConnInfoValue(out, "dbname", dbname);
  if (!user.empty()) AppendConnInfoValue(out, "user", user);
  if (!password.empty()) AppendConnInfoValue(out, "password", password);
  if (!application_name.empty()) AppendConnInfoValue(out, "application_name", application_name);
  AppendConnInfoValue(out, "connect_timeout", std::to_string(connect_timeout_seconds));
  AppendConnInfoValue(out, "client_encoding", "UTF8");
  return out;
}

std::string ConnectionParams::Describe() const {
  return user + "@" + host + ":" + std::to_string(port) + "/" + dbname;
}

}  // namespace opendms::pg

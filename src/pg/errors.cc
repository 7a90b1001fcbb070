#include "pg/errors.h"

#include <cctype>

namespace opendms::pg::internal {

namespace {

constexpr size_t kMaxSqlInMessage = 500;

bool StartsWithNoCase(std::string_view text, size_t at, std::string_view word) {
  if (text.size() - at < word.size()) return false;
  for (size_t i = 0; i < word.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[at + i])) != word[i]) return false;
  }
  return true;
}

bool IsIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}

// Copies `sql`, replacing the string literal that follows each PASSWORD keyword (CREATE ROLE …
// PASSWORD '…', ALTER USER … WITH PASSWORD E'…') by '***'. Other text is kept.
std::string RedactPasswords(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  size_t i = 0;
  while (i < sql.size()) {
    const bool word_start = i == 0 || !IsIdentChar(sql[i - 1]);
    if (word_start && StartsWithNoCase(sql, i, "password") &&
        (i + 8 == sql.size() || !IsIdentChar(sql[i + 8]))) {
      size_t j = i + 8;
      while (j < sql.size() && std::isspace(static_cast<unsigned char>(sql[j]))) ++j;
      bool escaped_form = false;
      if (j < sql.size() && (sql[j] == 'E' || sql[j] == 'e') && j + 1 < sql.size() &&
          sql[j + 1] == '\'') {
        escaped_form = true;
        ++j;
      }
      if (j < sql.size() && sql[j] == '\'') {
        size_t k = j + 1;  // find the closing quote
        while (k < sql.size()) {
          if (escaped_form && sql[k] == '\\') {
            k += 2;
            continue;
          }
          if (sql[k] == '\'') {
            if (k + 1 < sql.size() && sql[k + 1] == '\'') {
              k += 2;
              continue;
            }
            break;
          }
          ++k;
        }
        out.append(sql.substr(i, 8));
        out += " '***'";
        i = k < sql.size() ? k + 1 : sql.size();
        continue;
      }
    }
    out += sql[i];
    ++i;
  }
  return out;
}

}  // namespace

std::string OneLine(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string SqlForMessage(std::string_view sql) {
  std::string text = OneLine(RedactPasswords(sql));
  if (text.size() <= kMaxSqlInMessage) return text;
  size_t cut = kMaxSqlInMessage;
  // Back off UTF-8 continuation bytes so the message stays valid UTF-8.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  text += "...";
  return text;
}

bool IsConnectionSqlState(std::string_view sqlstate) {
  return sqlstate.substr(0, 2) == "08" || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03";
}

Status StatusFromResult(PGconn* conn, const PGresult* result, std::string_view sql) {
  auto field = [&](int code) -> std::string_view {
    const char* v = result ? PQresultErrorField(result, code) : nullptr;
    return v ? std::string_view(v) : std::string_view();
  };
  const std::string_view sqlstate = field(PG_DIAG_SQLSTATE);
  const std::string_view primary = field(PG_DIAG_MESSAGE_PRIMARY);

  std::string message = SqlForMessage(sql) + ": ";
  if (!primary.empty()) {
    std::string_view severity = field(PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity.empty()) severity = field(PG_DIAG_SEVERITY);
    if (!severity.empty()) message.append(severity).append(": ");
    message += OneLine(primary);
    if (auto v = field(PG_DIAG_MESSAGE_DETAIL); !v.empty()) message += " DETAIL: " + OneLine(v);
    if (auto v = field(PG_DIAG_MESSAGE_HINT); !v.empty()) message += " HINT: " + OneLine(v);
    if (auto v = field(PG_DIAG_CONTEXT); !v.empty()) message += " CONTEXT: " + OneLine(v);
  } else if (result && PQresultErrorMessage(result)[0] != '\0') {
    message += OneLine(PQresultErrorMessage(result));
  } else if (conn && PQerrorMessage(conn)[0] != '\0') {
    message += OneLine(PQerrorMessage(conn));
  } else if (result) {
    message += "unexpected result ";
    message += PQresStatus(PQresultStatus(result));
  } else {
    message += "no result (out of memory or connection lost)";
  }
  if (!sqlstate.empty()) message.append(" (SQLSTATE ").append(sqlstate).append(")");

  const bool dead = conn == nullptr || PQstatus(conn) == CONNECTION_BAD;
  if (dead || IsConnectionSqlState(sqlstate) || (result == nullptr && sqlstate.empty())) {
    return Status::ConnectionError(std::move(message));
  }
  return Status::DatabaseError(std::move(message));
}

Status StatusFromConnection(PGconn* conn, std::string_view sql) {
  std::string message = SqlForMessage(sql) + ": ";
  const char* text = conn ? PQerrorMessage(conn) : nullptr;
  message += (text && text[0] != '\0') ? OneLine(text) : "connection failed";
  if (conn == nullptr || PQstatus(conn) == CONNECTION_BAD) {
    return Status::ConnectionError(std::move(message));
  }
  return Status::DatabaseError(std::move(message));
}

}  // namespace opendms::pg::internal

// core: what every module shares — Status/Result (expected failures as values), the JSON type,
// time (with a settable offset, for simulated weeks), and logging.
//
// Start reading at Status. No module below this one exists; every module may include this header.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace opendms {

// ---------------------------------------------------------------------------------------------
// Status and Result<T>
// ---------------------------------------------------------------------------------------------

// Kinds of expected failure. The api module (later) maps each kind to an AWS error code and an
// HTTP status in one table; the engine maps them to task outcomes.
enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,  // the caller's input is wrong (a request field, a JSON document, a flag)
  kNotFound,         // a bucket, key, table or resource does not exist
  kAlreadyExists,    // a resource with that name exists
  kInvalidState,     // the operation is not allowed in the resource's current state
  kIoError,          // the local file system failed
  kDataError,        // a source value or row is bad (bucket, key, line and column in the message)
  kDatabaseError,    // PostgreSQL refused a statement (the SQL and server message in the message)
  kConnectionError,  // PostgreSQL or a remote service could not be reached: worth retrying
  kCancelled,        // the work was stopped on request
  kCorruption,       // stored state does not verify (checksum, format)
  kInternal,         // a bug
};

std::string_view ErrorCodeName(ErrorCode code);

// The result of an operation that can fail in an expected way. Cheap to copy when ok.
class [[nodiscard]] Status {
 public:
  Status() = default;

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return {ErrorCode::kInvalidArgument, std::move(msg)};
  }
  static Status NotFound(std::string msg) { return {ErrorCode::kNotFound, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) {
    return {ErrorCode::kAlreadyExists, std::move(msg)};
  }
  static Status InvalidState(std::string msg) { return {ErrorCode::kInvalidState, std::move(msg)}; }
  static Status IoError(std::string msg) { return {ErrorCode::kIoError, std::move(msg)}; }
  static Status DataError(std::string msg) { return {ErrorCode::kDataError, std::move(msg)}; }
  static Status DatabaseError(std::string msg) {
    return {ErrorCode::kDatabaseError, std::move(msg)};
  }
  static Status ConnectionError(std::string msg) {
    return {ErrorCode::kConnectionError, std::move(msg)};
  }
  static Status Cancelled(std::string msg) { return {ErrorCode::kCancelled, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {ErrorCode::kCorruption, std::move(msg)}; }
  static Status Internal(std::string msg) { return {ErrorCode::kInternal, std::move(msg)}; }
  // errno-based I/O error: "<what>: <strerror(err)>".
  static Status FromErrno(std::string_view what, int err);

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  bool IsInvalidArgument() const { return code_ == ErrorCode::kInvalidArgument; }
  bool IsNotFound() const { return code_ == ErrorCode::kNotFound; }
  bool IsAlreadyExists() const { return code_ == ErrorCode::kAlreadyExists; }
  bool IsInvalidState() const { return code_ == ErrorCode::kInvalidState; }
  bool IsIoError() const { return code_ == ErrorCode::kIoError; }
  bool IsDataError() const { return code_ == ErrorCode::kDataError; }
  bool IsDatabaseError() const { return code_ == ErrorCode::kDatabaseError; }
  bool IsConnectionError() const { return code_ == ErrorCode::kConnectionError; }
  bool IsCancelled() const { return code_ == ErrorCode::kCancelled; }

  // "NotFound: no such key" — or "OK".
  std::string ToString() const;

  // A copy with "<context>: " in front of the message; the kind is kept.
  Status WithContext(std::string_view context) const;

 private:
  Status(ErrorCode code, std::string msg) : code_(code), message_(std::move(msg)) {}
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

// A value or the Status saying why there is none. Constructing from an ok Status is a bug.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit on purpose, like std::expected
  Result(Status status) : v_(std::move(status)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<1>(v_);
  }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

#define OPENDMS_CONCAT_INNER(a, b) a##b
#define OPENDMS_CONCAT(a, b) OPENDMS_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function when `expr` is not ok.
#define RETURN_IF_ERROR(expr)       \
  do {                              \
    ::opendms::Status _st = (expr); \
    if (!_st.ok()) return _st;      \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, MakeX());` — declares x from the Result, or returns its Status.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(OPENDMS_CONCAT(_result_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

// Key order is kept as inserted, so documents read back as the user wrote them and documents we
// produce have a stable, DMS-like order.
using Json = nlohmann::ordered_json;

// Parses `text`; on failure the message names `what` and the byte offset.
Result<Json> ParseJson(std::string_view text, std::string_view what);

// Reads a whole file (small files only: configuration documents).
Result<std::string> ReadSmallFile(const std::string& path);

// AWS documents often carry numbers and booleans as JSON strings ("TableCount": "1",
// "ColumnIsPk": "true"). These accept both forms; `field` names the value in error messages.
Result<int64_t> JsonToInt(const Json& v, std::string_view field);
Result<bool> JsonToBool(const Json& v, std::string_view field);
Result<std::string> JsonToString(const Json& v, std::string_view field);

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

using TimePoint = std::chrono::system_clock::time_point;

// The wall clock every module reads. It carries a settable offset so that tests and demos can
// simulate days passing (rotation schedules) without waiting. Thread-safe.
class Clock {
 public:
  static TimePoint Now();
  static void SetOffset(std::chrono::seconds offset);
  static std::chrono::seconds Offset();

 private:
  static std::atomic<int64_t> offset_seconds_;
};

// Epoch seconds with a fraction (the AWS JSON protocols' timestamp form).
double ToEpochSeconds(TimePoint t);
TimePoint FromEpochSeconds(double seconds);
// "2026-11-30T08:13:05.123Z"
std::string FormatIso8601(TimePoint t);

// ---------------------------------------------------------------------------------------------
// Logging
// ---------------------------------------------------------------------------------------------

// Structured log lines through spdlog: "<time> <level> [<component>] <message>". Everything logs
// to stderr; stdout is kept for the documents commands print. Secrets never reach a log: types
// that carry them format redacted.
void InitLogging(std::string_view level);  // "trace" … "off"; unknown names mean "info"

}  // namespace opendms

// core: what every module shares — Status/Result (expected failures as values, optionally
// carrying the AWS error code a client sees), the JSON type, time (with a settable offset, for
// simulated weeks), logging, and the byte-level helpers of the AWS protocols: hashes, HMAC,
// base64, CRC32, URI encoding, random ids and SigV4's signing primitives.
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
#include <vector>

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

  // A copy with "<context>: " in front of the message; the kind and AWS code are kept.
  Status WithContext(std::string_view context) const;

  // The AWS error code a client should see ("ResourceNotFoundException", "NoSuchKey",
  // "InvalidResourceStateFault"), or "" to let the api module derive one from code().
  const std::string& aws_code() const { return aws_code_; }
  // A copy carrying `aws_code`; the kind and message are kept.
  Status WithAwsCode(std::string aws_code) const;
  // Shorthand: Status::Aws(ErrorCode::kNotFound, "ResourceNotFoundException", "…").
  static Status Aws(ErrorCode code, std::string aws_code, std::string msg) {
    Status s(code, std::move(msg));
    s.aws_code_ = std::move(aws_code);
    return s;
  }

 private:
  Status(ErrorCode code, std::string msg) : code_(code), message_(std::move(msg)) {}
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
  std::string aws_code_;
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
// Bytes: hashes, encodings, random ids (crypto.cc; OpenSSL and zlib underneath)
// ---------------------------------------------------------------------------------------------

std::string HexEncode(std::string_view bytes);  // lowercase
std::string Base64Encode(std::string_view bytes);
// Standard alphabet with padding; whitespace is not accepted. InvalidArgument naming `what`.
Result<std::string> Base64Decode(std::string_view text, std::string_view what = "base64 value");
std::string Sha256(std::string_view data);  // 32 raw bytes
std::string Sha256Hex(std::string_view data);
std::string HmacSha256(std::string_view key, std::string_view data);  // 32 raw bytes

// Incremental SHA-256, for bodies that stream.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;
  void Update(std::string_view data);
  std::string FinishHex();  // once
 private:
  void* ctx_;  // EVP_MD_CTX
};

// MD5, for S3's ETags and Content-MD5 (not for security). 16 raw bytes.
std::string Md5(std::string_view data);
class Md5Hasher {
 public:
  Md5Hasher();
  ~Md5Hasher();
  Md5Hasher(const Md5Hasher&) = delete;
  Md5Hasher& operator=(const Md5Hasher&) = delete;
  void Update(std::string_view data);
  std::string Finish();  // 16 raw bytes; once
 private:
  void* ctx_;  // EVP_MD_CTX
};

// CRC32 with zlib's (IEEE) polynomial; start with crc = 0 and feed the bytes in order.
uint32_t Crc32(uint32_t crc, std::string_view data);
// The 4 bytes big-endian, base64: S3's x-amz-checksum-crc32 form ("GfDGtA==").
std::string Crc32ToBase64(uint32_t crc);

// Equal without an early exit, for comparing signatures and MACs.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

std::string RandomBytes(size_t n);  // from the OS CSPRNG (OpenSSL RAND_bytes)
std::string RandomUuid();           // version 4, lowercase, 36 chars
// n characters drawn uniformly from `alphabet` (<= 256 chars).
std::string RandomString(size_t n, std::string_view alphabet);
inline constexpr std::string_view kUpperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

// RFC 3986 percent-encoding as SigV4 and S3 use it: unreserved A-Z a-z 0-9 - _ . ~ kept, every
// other byte %XX (uppercase hex); '/' kept unless encode_slash.
std::string UriEncode(std::string_view text, bool encode_slash = true);
// %XX decoded (and '+' as space when plus_as_space, as in form/query values). InvalidArgument
// on a malformed escape.
Result<std::string> UriDecode(std::string_view text, bool plus_as_space = false);

// ---------------------------------------------------------------------------------------------
// SigV4 (AWS Signature Version 4): the primitives both the server (verifying) and the S3 client
// (signing) build requests' signatures from. See ../shared/reference/cfn-secrets-ssm.md §1.2.
// ---------------------------------------------------------------------------------------------
namespace sigv4 {

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
inline constexpr std::string_view kStreamingUnsignedPayloadTrailer =
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

// The raw query string as sent (without '?'): items split on '&', each at its first '=' (a
// missing value is empty), sorted by key then value, joined again. Values stay as sent.
std::string CanonicalQueryString(std::string_view raw_query);
// Leading/trailing whitespace removed and inner runs of spaces squeezed to one.
std::string CanonicalHeaderValue(std::string_view value);

struct CanonicalRequest {
  std::string method;          // "PUT"
  std::string canonical_uri;   // S3: the path as sent; others: URI-encoded normalised path
  std::string canonical_query; // CanonicalQueryString(...)
  // (lowercase name, value) for each signed header, sorted by name; repeated headers already
  // joined with ','. Values are canonicalised here.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload_hash;  // hex SHA-256, or UNSIGNED-PAYLOAD / STREAMING-…
  std::string ToString() const;  // the 6-part canonical request
  std::string SignedHeaders() const;  // "host;x-amz-date"
};

// "20261130/us-east-1/s3/aws4_request"
std::string Scope(std::string_view date, std::string_view region, std::string_view service);
std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);
// HMAC chain "AWS4"+secret → date → region → service → "aws4_request" (raw bytes).
std::string SigningKey(std::string_view secret_key, std::string_view date,
                       std::string_view region, std::string_view service);
// Hex HMAC-SHA256 of string_to_sign under signing_key.
std::string Signature(std::string_view signing_key, std::string_view string_to_sign);

}  // namespace sigv4

// ---------------------------------------------------------------------------------------------
// AWS services that speak JSON 1.1 (Secrets Manager, SSM, DMS): the contract between a service
// module and the api module, which does HTTP, SigV4 and the wire format around it. CloudFormation
// calls the same services through it.
// ---------------------------------------------------------------------------------------------

// Who is calling and where: ARNs are built from region and account_id.
struct CallContext {
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
  std::string request_id;
  std::string access_key_id;
};

class JsonService {
 public:
  virtual ~JsonService() = default;
  // The X-Amz-Target prefix before '.': "secretsmanager", "AmazonSSM", "AmazonDMSv20160101".
  virtual std::string_view target_prefix() const = 0;
  // Runs one operation. Errors carry the AWS error code the client sees (Status::Aws), e.g.
  // ResourceNotFoundException; a Status without one is mapped from its ErrorCode by the api.
  // An unknown operation is InvalidArgument with aws code "UnknownOperationException".
  virtual Result<Json> Call(std::string_view operation, const Json& input,
                            const CallContext& context) = 0;
};

// ---------------------------------------------------------------------------------------------
// Logging
// ---------------------------------------------------------------------------------------------

// Structured log lines through spdlog: "<time> <level> [<component>] <message>". Everything logs
// to stderr; stdout is kept for the documents commands print. Secrets never reach a log: types
// that carry them format redacted.
void InitLogging(std::string_view level);  // "trace" … "off"; unknown names mean "info"

}  // namespace opendms

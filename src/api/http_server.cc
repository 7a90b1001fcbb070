// The HTTP layer: libmicrohttpd with a thread per connection (handlers block on PostgreSQL),
// SigV4 verification, aws-chunked decoding, payload hash and checksum checks, routing to the
// protocol handlers, and one log line per request.
//
// A request's life (libmicrohttpd calls):
//   URI log callback     → a RequestState, owned by its connection's ConnectionContext
//   access handler, 1st  → Begin: parse, authenticate, route; answer now or wait for the body
//                          (returning without a response makes MHD send "100 Continue")
//   access handler, data → OnUpload: decode, hash, hand the payload to the Exchange
//   access handler, last → Complete: verify what needs the whole body, OnComplete, answer
//   completed callback   → OnAbort if the Exchange never completed, log line
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdarg>
#include <cstring>
#include <mutex>

#include "api/api.h"
#include "api/aws_chunked.h"
#include "api/json_protocol.h"
#include "api/sigv4_verify.h"
#include "api/wire.h"

namespace opendms::api {
namespace {

constexpr size_t kConnectionMemory = 256 * 1024;  // MHD's per-connection buffer: bounds chunks
constexpr size_t kResponseBlock = 256 * 1024;      // streamed response read size

std::string Lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool IsHex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

// Content-Encoding without the aws-chunked token ("aws-chunked,gzip" → "gzip").
std::string WithoutAwsChunked(std::string_view encoding, bool* had_it) {
  std::string out;
  *had_it = false;
  size_t start = 0;
  while (start <= encoding.size()) {
    size_t comma = encoding.find(',', start);
    if (comma == std::string_view::npos) comma = encoding.size();
    std::string_view token = encoding.substr(start, comma - start);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    if (Lowercase(token) == "aws-chunked") {
      *had_it = true;
    } else if (!token.empty()) {
      if (!out.empty()) out += ',';
      out.append(token);
    }
    start = comma + 1;
  }
  return out;
}

Status Unsupported(std::string message) {
  return Status::Aws(ErrorCode::kInvalidArgument, "InvalidRequest", std::move(message));
}

// A flexible checksum the layer verifies: x-amz-checksum-crc32 or -sha256, from a header or an
// aws-chunked trailer.
enum class ChecksumKind { kNone, kCrc32, kSha256 };

Result<ChecksumKind> ChecksumKindOf(std::string_view header_name) {
  if (header_name == "x-amz-checksum-crc32") return ChecksumKind::kCrc32;
  if (header_name == "x-amz-checksum-sha256") return ChecksumKind::kSha256;
  return Unsupported("checksum " + std::string(header_name) +
                     " is not supported by this server; use CRC32 or SHA256");
}

}  // namespace

// Everything about one request, from its first line to the completed callback.
struct RequestState {
  explicit RequestState(std::string uri) : raw_uri(std::move(uri)) {}

  const std::string raw_uri;
  const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  bool begun = false;      // the access handler ran once (counted in flight)
  bool answered = false;   // a response was queued
  // An answer decided in Begin for a request without a body, queued at the access handler's
  // last call: MHD closes the connection after a response queued in the first call.
  std::optional<HttpResponse> pending;
  int status = 0;          // the status queued
  HttpRequest request;
  Protocol protocol = Protocol::kRestXml;
  Handler* handler = nullptr;
  std::unique_ptr<Exchange> exchange;
  bool exchange_completed = false;

  // Non-S3 services sign the body's SHA-256, so their signature is verified after the body; the
  // body (bounded by max_buffered_body) waits here and the handler sees nothing before.
  std::optional<SigV4Claim> deferred_claim;
  std::string deferred_body;

  // The payload pipeline.
  std::optional<AwsChunkedDecoder> chunked;
  std::optional<uint64_t> decoded_length;  // x-amz-decoded-content-length
  uint64_t payload_bytes = 0;
  std::unique_ptr<Sha256Hasher> payload_sha256;  // over the decoded payload
  std::string expected_payload_sha256;           // S3: x-amz-content-sha256 (hex)
  ChecksumKind checksum = ChecksumKind::kNone;
  std::string checksum_name;      // "x-amz-checksum-crc32"
  std::string checksum_expected;  // from the header; empty when it comes in the trailer
  bool checksum_in_trailer = false;
  uint32_t crc32 = 0;
  std::unique_ptr<Sha256Hasher> checksum_sha256;
  std::optional<Status> failure;  // the body pipeline failed: the rest is discarded
};

// Owned by MHD's per-connection socket context; holds the connection's current request.
struct ConnectionContext {
  std::unique_ptr<RequestState> current;
};

class Server::Impl {
 public:
  explicit Impl(ServerOptions opts)
      : options(std::move(opts)), json(options.account_id, options.max_buffered_body) {}

  Status Start();
  void Stop();

  // MHD callbacks.
  static void* OnUri(void* cls, const char* uri, MHD_Connection* connection);
  static MHD_Result OnAccess(void* cls, MHD_Connection* connection, const char* url,
                             const char* method, const char* version, const char* upload_data,
                             size_t* upload_data_size, void** req_cls);
  static void OnCompleted(void* cls, MHD_Connection* connection, void** req_cls,
                          MHD_RequestTerminationCode toe);
  static void OnConnection(void* cls, MHD_Connection* connection, void** socket_context,
                           MHD_ConnectionNotificationCode toe);
  static void OnMhdLog(void* cls, const char* format, va_list args);

  ServerOptions options;
  JsonProtocol json;
  Handler* s3 = nullptr;
  Handler* query = nullptr;
  MHD_Daemon* daemon = nullptr;
  int bound_port = 0;
  std::atomic<bool> stopping{false};
  bool stopped = false;  // Stop() ran; guarded by the caller's thread (Start/Stop not concurrent)

  std::mutex mu;
  std::condition_variable idle;
  int in_flight = 0;  // requests begun and not yet completed; guarded by mu

 private:
  std::optional<HttpResponse> Begin(RequestState& st, MHD_Connection* connection);
  void OnUpload(RequestState& st, std::string_view data);
  HttpResponse Complete(RequestState& st);

  Status ParseTarget(RequestState& st);
  Status Authenticate(RequestState& st);
  Status SetUpPayload(RequestState& st);
  Status ConsumePayload(RequestState& st, std::string_view chunk);
  Status VerifyPayload(RequestState& st);
  std::optional<HttpResponse> CallBegin(RequestState& st);
  HttpResponse CallComplete(RequestState& st);
  void Fail(RequestState& st, Status error);
  HttpResponse Error(const RequestState& st, const Status& error) const {
    return ErrorResponse(st.protocol, error, st.request);
  }
  MHD_Result Queue(RequestState& st, MHD_Connection* connection, HttpResponse response);
  void Log(const RequestState& st) const;
};

// ---------------------------------------------------------------------------------------------
// Begin: the request line and headers are in.
// ---------------------------------------------------------------------------------------------

Status Server::Impl::ParseTarget(RequestState& st) {
  std::string_view uri = st.raw_uri;
  const size_t question = uri.find('?');
  HttpRequest& r = st.request;
  r.raw_path = std::string(uri.substr(0, question));
  r.raw_query = question == std::string_view::npos ? "" : std::string(uri.substr(question + 1));
  if (r.raw_path.empty() || r.raw_path.front() != '/') {
    return Status::Aws(ErrorCode::kInvalidArgument, "InvalidURI",
                       "the request target must be an absolute path, got '" + r.raw_path + "'");
  }
  Result<std::string> path = UriDecode(r.raw_path);
  if (!path.ok()) {
    return Status::Aws(ErrorCode::kInvalidArgument, "InvalidURI",
                       "the request path is not validly percent-encoded: " +
                           path.status().message());
  }
  r.path = std::move(path).value();
  size_t start = 0;
  while (start < r.raw_query.size()) {
    size_t amp = r.raw_query.find('&', start);
    if (amp == std::string::npos) amp = r.raw_query.size();
    std::string_view item = std::string_view(r.raw_query).substr(start, amp - start);
    start = amp + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    Result<std::string> key = UriDecode(item.substr(0, eq));
    Result<std::string> value =
        eq == std::string_view::npos ? Result<std::string>(std::string()) : UriDecode(item.substr(eq + 1));
    if (!key.ok() || !value.ok()) {
      return Status::Aws(ErrorCode::kInvalidArgument, "InvalidURI",
                         "query parameter '" + std::string(item.substr(0, eq)) +
                             "' is not validly percent-encoded");
    }
    r.query.emplace_back(std::move(key).value(), std::move(value).value());
  }
  return Status::Ok();
}

Status Server::Impl::Authenticate(RequestState& st) {
  HttpRequest& r = st.request;
  if (st.protocol == Protocol::kRestXml && HasSigV2Query(r) && !r.HasQuery("X-Amz-Credential")) {
    // A SigV2 presigned URL (boto3's default for S3 in us-east-1). Its payload is unsigned.
    ASSIGN_OR_RETURN(SigV2QueryClaim v2, ParseSigV2Query(r));
    if (!ConstantTimeEquals(v2.access_key_id, options.root.access_key_id)) {
      return UnknownAccessKey(st.protocol, v2.access_key_id);
    }
    RETURN_IF_ERROR(VerifySigV2Query(r, v2, options.root.secret_access_key, Clock::Now()));
    r.access_key_id = v2.access_key_id;
    r.service = "s3";
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(SigV4Claim claim, ParseSigV4(r, st.protocol));
  if (!ConstantTimeEquals(claim.access_key_id, options.root.access_key_id)) {
    return UnknownAccessKey(st.protocol, claim.access_key_id);
  }
  RETURN_IF_ERROR(CheckSigV4Time(claim, Clock::Now(), options.max_clock_skew, st.protocol));
  r.access_key_id = claim.access_key_id;
  r.region = claim.region;
  r.service = claim.service;
  if (claim.service != "s3") {
    st.deferred_claim = std::move(claim);  // verified over the body's hash in Complete
    return Status::Ok();
  }
  // S3 signs the literal x-amz-content-sha256; the body is checked against it at the end.
  std::string payload_hash;
  if (const std::string* declared = r.Header("x-amz-content-sha256")) {
    payload_hash = *declared;
  } else if (claim.presigned) {
    payload_hash = std::string(sigv4::kUnsignedPayload);
  } else {
    return Status::Aws(ErrorCode::kInvalidArgument, "InvalidRequest",
                       "Missing required header for this request: x-amz-content-sha256");
  }
  RETURN_IF_ERROR(VerifySigV4(claim, BuildCanonicalRequest(r, claim, payload_hash),
                              options.root.secret_access_key, st.protocol));
  if (IsHex64(payload_hash)) {
    st.expected_payload_sha256 = Lowercase(payload_hash);
    st.payload_sha256 = std::make_unique<Sha256Hasher>();
  } else if (payload_hash == sigv4::kStreamingUnsignedPayloadTrailer) {
    const std::string* encoding = r.Header("content-encoding");
    if (encoding == nullptr || Lowercase(*encoding).find("aws-chunked") == std::string::npos) {
      // botocore always sends it; be lenient and decode anyway, as S3 does.
      r.headers["content-encoding"] =
          encoding == nullptr ? "aws-chunked" : "aws-chunked," + *encoding;
    }
  } else if (payload_hash != sigv4::kUnsignedPayload) {
    return Status::Aws(ErrorCode::kInvalidArgument, "InvalidArgument",
                       "x-amz-content-sha256 must be a hex SHA-256, UNSIGNED-PAYLOAD or "
                       "STREAMING-UNSIGNED-PAYLOAD-TRAILER (signed streaming is not supported), "
                       "got '" + payload_hash + "'");
  }
  return Status::Ok();
}

Status Server::Impl::SetUpPayload(RequestState& st) {
  HttpRequest& r = st.request;
  if (auto it = r.headers.find("content-encoding"); it != r.headers.end()) {
    bool had_aws_chunked = false;
    std::string rest = WithoutAwsChunked(it->second, &had_aws_chunked);
    if (had_aws_chunked) {
      st.chunked.emplace();
      if (rest.empty()) {
        r.headers.erase(it);
      } else {
        it->second = std::move(rest);
      }
    }
  }
  if (const std::string* length = r.Header("x-amz-decoded-content-length")) {
    char* end = nullptr;
    errno = 0;
    unsigned long long n = std::strtoull(length->c_str(), &end, 10);
    if (length->empty() || *end != '\0' || errno != 0) {
      return Status::Aws(ErrorCode::kInvalidArgument, "InvalidArgument",
                         "x-amz-decoded-content-length must be a number, got '" + *length + "'");
    }
    st.decoded_length = n;
  } else if (st.chunked) {
    return Status::Aws(ErrorCode::kInvalidArgument, "MissingContentLength",
                       "an aws-chunked body needs the x-amz-decoded-content-length header");
  }
  if (st.chunked) {
    r.payload_length = st.decoded_length;
  } else if (const std::string* length = r.Header("content-length")) {
    r.payload_length = std::strtoull(length->c_str(), nullptr, 10);
  } else if (!r.Header("transfer-encoding")) {
    r.payload_length = 0;
  }

  // Flexible checksums: at most one, from a header or (aws-chunked) the trailer.
  for (const auto& [name, value] : r.headers) {
    if (!StartsWith(name, "x-amz-checksum-") || name == "x-amz-checksum-mode" ||
        name == "x-amz-checksum-algorithm" || name == "x-amz-checksum-type") {
      continue;
    }
    ASSIGN_OR_RETURN(st.checksum, ChecksumKindOf(name));
    st.checksum_name = name;
    st.checksum_expected = value;
  }
  if (const std::string* trailer = r.Header("x-amz-trailer")) {
    if (!st.chunked) {
      return Unsupported("x-amz-trailer needs an aws-chunked body (Content-Encoding: aws-chunked)");
    }
    std::string name = Lowercase(*trailer);
    if (name.find(',') != std::string::npos) {
      return Unsupported("only one trailer is supported, got x-amz-trailer '" + *trailer + "'");
    }
    ASSIGN_OR_RETURN(st.checksum, ChecksumKindOf(name));
    st.checksum_name = std::move(name);
    st.checksum_expected.clear();
    st.checksum_in_trailer = true;
  }
  if (st.checksum == ChecksumKind::kSha256) st.checksum_sha256 = std::make_unique<Sha256Hasher>();
  return Status::Ok();
}

std::optional<HttpResponse> Server::Impl::CallBegin(RequestState& st) {
  if (st.handler == nullptr) {
    if (st.protocol == Protocol::kQuery) {
      return Error(st, Status::Aws(ErrorCode::kInvalidArgument, "InvalidAction",
                                   "the Query protocol (CloudFormation, RDS) is not served yet"));
    }
    return Error(st, Status::Aws(ErrorCode::kInvalidArgument, "NotImplemented",
                                 "S3 is not served by this server yet"));
  }
  try {
    Begun begun = st.handler->Begin(st.request);
    if (begun.response) return std::move(begun.response);
    if (!begun.exchange) return Error(st, Status::Internal("the handler took no body and gave no answer"));
    st.exchange = std::move(begun.exchange);
    return std::nullopt;
  } catch (const std::exception& e) {
    spdlog::error("[api] {} handler failed: {}", st.request.request_id, e.what());
    return Error(st, Status::Internal("internal error"));
  }
}

std::optional<HttpResponse> Server::Impl::Begin(RequestState& st, MHD_Connection* connection) {
  HttpRequest& r = st.request;
  MHD_get_connection_values(
      connection, MHD_HEADER_KIND,
      [](void* cls, MHD_ValueKind, const char* key, const char* value) -> MHD_Result {
        auto& headers = *static_cast<std::map<std::string, std::string>*>(cls);
        std::string name = Lowercase(key);
        auto [it, inserted] = headers.try_emplace(std::move(name), value ? value : "");
        if (!inserted) (it->second += ',') += value ? value : "";
        return MHD_YES;
      },
      &r.headers);

  if (r.Header("x-amz-target")) {
    st.protocol = Protocol::kJson11;
    st.handler = json.empty() ? nullptr : &json;
  } else if (r.method == "POST" &&
             StartsWith(Lowercase(r.HeaderOr("content-type")), "application/x-www-form-urlencoded")) {
    st.protocol = Protocol::kQuery;
    st.handler = query;
  } else {
    st.protocol = Protocol::kRestXml;
    st.handler = s3;
  }
  r.request_id = st.protocol == Protocol::kRestXml ? RandomString(16, "0123456789ABCDEF")
                                                     : RandomUuid();
  if (st.protocol == Protocol::kJson11 && st.handler == nullptr) {
    return Error(st, Status::Aws(ErrorCode::kInvalidArgument, "UnknownOperationException",
                                 "no JSON 1.1 service is served"));
  }
  if (stopping.load()) {
    return Error(st, Status::Aws(ErrorCode::kCancelled, "ServiceUnavailable",
                                 "the server is shutting down"));
  }
  if (Status target = ParseTarget(st); !target.ok()) return Error(st, target);
  if (Status auth = Authenticate(st); !auth.ok()) return Error(st, auth);
  if (Status payload = SetUpPayload(st); !payload.ok()) return Error(st, payload);
  if (st.deferred_claim) return std::nullopt;  // authenticated after the body
  return CallBegin(st);
}

// ---------------------------------------------------------------------------------------------
// The body.
// ---------------------------------------------------------------------------------------------

void Server::Impl::Fail(RequestState& st, Status error) {
  if (st.failure) return;
  st.failure = std::move(error);
  if (st.exchange) {
    st.exchange->OnAbort();
    st.exchange.reset();
  }
}

Status Server::Impl::ConsumePayload(RequestState& st, std::string_view chunk) {
  st.payload_bytes += chunk.size();
  if (st.decoded_length && st.payload_bytes > *st.decoded_length) {
    return Status::Aws(ErrorCode::kInvalidArgument, "IncompleteBody",
                       "the decoded body is longer than x-amz-decoded-content-length (" +
                           std::to_string(*st.decoded_length) + " bytes)");
  }
  if (st.payload_sha256) st.payload_sha256->Update(chunk);
  if (st.checksum == ChecksumKind::kCrc32) st.crc32 = Crc32(st.crc32, chunk);
  if (st.checksum_sha256) st.checksum_sha256->Update(chunk);
  if (st.deferred_claim) {
    if (chunk.size() > options.max_buffered_body - st.deferred_body.size()) {
      return Status::Aws(ErrorCode::kInvalidArgument,
                         st.protocol == Protocol::kJson11 ? "SerializationException"
                                                          : "ValidationError",
                         "the request body is larger than the " +
                             std::to_string(options.max_buffered_body) + " bytes accepted");
    }
    st.deferred_body.append(chunk);
    return Status::Ok();
  }
  if (!st.exchange) return Status::Ok();
  try {
    return st.exchange->OnBody(chunk);
  } catch (const std::exception& e) {
    spdlog::error("[api] {} body handler failed: {}", st.request.request_id, e.what());
    return Status::Internal("internal error");
  }
}

void Server::Impl::OnUpload(RequestState& st, std::string_view data) {
  if (st.failure) return;  // discard the rest of a refused body
  Status status = st.chunked
                      ? st.chunked->Feed(data, [&](std::string_view c) { return ConsumePayload(st, c); })
                      : ConsumePayload(st, data);
  if (!status.ok()) Fail(st, std::move(status));
}

Status Server::Impl::VerifyPayload(RequestState& st) {
  if (st.chunked) RETURN_IF_ERROR(st.chunked->Finish());
  if (st.decoded_length && st.payload_bytes != *st.decoded_length) {
    return Status::Aws(ErrorCode::kInvalidArgument, "IncompleteBody",
                       "You did not provide the number of bytes specified by "
                       "x-amz-decoded-content-length (" +
                           std::to_string(*st.decoded_length) + "); got " +
                           std::to_string(st.payload_bytes));
  }
  if (st.payload_sha256 &&
      !ConstantTimeEquals(st.payload_sha256->FinishHex(), st.expected_payload_sha256)) {
    return Status::Aws(ErrorCode::kInvalidArgument, "XAmzContentSHA256Mismatch",
                       "The provided 'x-amz-content-sha256' header does not match what was "
                       "computed.");
  }
  if (st.checksum != ChecksumKind::kNone) {
    std::string expected = st.checksum_expected;
    if (st.checksum_in_trailer) {
      const std::string* value = st.chunked->Trailer(st.checksum_name);
      if (value == nullptr) {
        return Status::Aws(ErrorCode::kInvalidArgument, "InvalidRequest",
                           "x-amz-trailer announced " + st.checksum_name +
                               " but the body's trailer does not carry it");
      }
      expected = *value;
    }
    const bool crc = st.checksum == ChecksumKind::kCrc32;
    std::string computed, claimed;
    if (crc) {
      computed = Crc32ToBase64(st.crc32);
      claimed = expected;
    } else {
      // Compared as hex: the hasher gives hex, the header base64 of the raw digest.
      computed = st.checksum_sha256->FinishHex();
      Result<std::string> raw = Base64Decode(expected, st.checksum_name);
      if (raw.ok()) claimed = HexEncode(*raw);
    }
    if (claimed.empty() || !ConstantTimeEquals(computed, claimed)) {
      return Status::Aws(ErrorCode::kInvalidArgument, "BadDigest",
                         std::string("The ") + (crc ? "CRC32" : "SHA256") +
                             " you specified did not match the calculated checksum.");
    }
  }
  return Status::Ok();
}

HttpResponse Server::Impl::CallComplete(RequestState& st) {
  try {
    HttpResponse response = st.exchange->OnComplete();
    st.exchange_completed = true;
    return response;
  } catch (const std::exception& e) {
    spdlog::error("[api] {} handler failed: {}", st.request.request_id, e.what());
    st.exchange->OnAbort();
    st.exchange_completed = true;
    return Error(st, Status::Internal("internal error"));
  }
}

HttpResponse Server::Impl::Complete(RequestState& st) {
  if (!st.failure) {
    if (Status verified = VerifyPayload(st); !verified.ok()) Fail(st, std::move(verified));
  }
  if (st.failure) return Error(st, *st.failure);
  if (st.deferred_claim) {
    const SigV4Claim& claim = *st.deferred_claim;
    Status signature = VerifySigV4(
        claim, BuildCanonicalRequest(st.request, claim, Sha256Hex(st.deferred_body)),
        options.root.secret_access_key, st.protocol);
    if (!signature.ok()) return Error(st, signature);
    if (std::optional<HttpResponse> answer = CallBegin(st)) return std::move(*answer);
    Status fed = Status::Ok();
    if (!st.deferred_body.empty()) {
      try {
        fed = st.exchange->OnBody(st.deferred_body);
      } catch (const std::exception& e) {
        spdlog::error("[api] {} body handler failed: {}", st.request.request_id, e.what());
        fed = Status::Internal("internal error");
      }
    }
    std::string().swap(st.deferred_body);
    if (!fed.ok()) {
      Fail(st, fed);
      return Error(st, fed);
    }
  }
  return CallComplete(st);
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

namespace {

struct BodySource {
  std::function<Result<size_t>(char*, size_t)> read;
  std::string request_id;
};

ssize_t ReadBody(void* cls, uint64_t /*pos*/, char* buf, size_t max) {
  auto* source = static_cast<BodySource*>(cls);
  Result<size_t> n = source->read(buf, max);
  if (!n.ok()) {
    spdlog::warn("[api] {} response body failed after the headers went out: {}",
                 source->request_id, n.status().ToString());
    return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  if (*n == 0) return MHD_CONTENT_READER_END_OF_STREAM;
  return static_cast<ssize_t>(*n);
}

void FreeBody(void* cls) { delete static_cast<BodySource*>(cls); }

ssize_t NoBody(void*, uint64_t, char*, size_t) { return MHD_CONTENT_READER_END_WITH_ERROR; }

}  // namespace

MHD_Result Server::Impl::Queue(RequestState& st, MHD_Connection* connection,
                               HttpResponse response) {
  const HttpRequest& r = st.request;
  if (st.protocol == Protocol::kRestXml) {
    response.SetHeader("x-amz-request-id", r.request_id);
    response.SetHeader("x-amz-id-2", HostIdFor(r.request_id));
  } else {
    response.SetHeader("x-amzn-RequestId", r.request_id);
  }
  const bool head = r.method == "HEAD";
  if (response.body_source && !response.content_length) {
    spdlog::error("[api] {} handler streamed a body without a content length", r.request_id);
    response = Error(st, Status::Internal("internal error"));
  }
  MHD_Response* mhd = nullptr;
  if (head) {
    const uint64_t size = response.content_length.value_or(response.body.size());
    mhd = MHD_create_response_from_callback(size, 4096, &NoBody, nullptr, nullptr);
  } else if (response.body_source) {
    auto* source = new BodySource{std::move(response.body_source), r.request_id};
    mhd = MHD_create_response_from_callback(*response.content_length, kResponseBlock, &ReadBody,
                                            source, &FreeBody);
    if (mhd == nullptr) delete source;
  } else {
    mhd = MHD_create_response_from_buffer(response.body.size(), response.body.data(),
                                          MHD_RESPMEM_MUST_COPY);
  }
  if (mhd == nullptr) return MHD_NO;
  for (const auto& [name, value] : response.headers) {
    const std::string lower = Lowercase(name);
    // MHD writes the framing headers itself.
    if (lower == "content-length" || lower == "transfer-encoding" || lower == "connection") continue;
    MHD_add_response_header(mhd, name.c_str(), value.c_str());
  }
  if (stopping.load()) MHD_add_response_header(mhd, "Connection", "close");
  MHD_Result queued = MHD_queue_response(connection, static_cast<unsigned>(response.status), mhd);
  MHD_destroy_response(mhd);
  st.answered = true;
  st.status = response.status;
  return queued;
}

void Server::Impl::Log(const RequestState& st) const {
  if (!spdlog::should_log(spdlog::level::info)) return;
  const HttpRequest& r = st.request;
  // Query values may be secrets (presigned signatures, tokens): only their names are logged.
  std::string query_names;
  for (const auto& [key, value] : r.query) {
    query_names += query_names.empty() ? '?' : '&';
    query_names += key;
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - st.started)
                      .count();
  const std::string target = r.HeaderOr("x-amz-target");
  spdlog::info("[api] {} {}{}{}{} {} {}ms request_id={}", r.method, r.raw_path, query_names,
               target.empty() ? "" : " ", target,
               st.answered ? std::to_string(st.status) : std::string("aborted"), ms,
               r.request_id);
}

// ---------------------------------------------------------------------------------------------
// MHD callbacks
// ---------------------------------------------------------------------------------------------

void Server::Impl::OnConnection(void*, MHD_Connection*, void** socket_context,
                                MHD_ConnectionNotificationCode toe) {
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    *socket_context = new ConnectionContext();
  } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
    delete static_cast<ConnectionContext*>(*socket_context);
    *socket_context = nullptr;
  }
}

void* Server::Impl::OnUri(void*, const char* uri, MHD_Connection* connection) {
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  auto* context = static_cast<ConnectionContext*>(info ? info->socket_context : nullptr);
  if (context == nullptr) return nullptr;
  context->current = std::make_unique<RequestState>(uri ? uri : "");
  return context->current.get();
}

MHD_Result Server::Impl::OnAccess(void* cls, MHD_Connection* connection, const char*,
                                  const char* method, const char*, const char* upload_data,
                                  size_t* upload_data_size, void** req_cls) {
  auto* self = static_cast<Impl*>(cls);
  auto* st = static_cast<RequestState*>(*req_cls);
  if (st == nullptr) return MHD_NO;
  if (!st->begun) {
    st->begun = true;
    {
      std::lock_guard lock(self->mu);
      ++self->in_flight;
    }
    st->request.method = method;
    std::optional<HttpResponse> answer = self->Begin(*st, connection);
    if (!answer) return MHD_YES;  // no response yet: MHD sends "100 Continue" if asked
    const HttpRequest& r = st->request;
    const bool has_body = r.Header("transfer-encoding") != nullptr ||
                          (r.Header("content-length") && r.HeaderOr("content-length") != "0");
    // A refused body is not read: answering now makes MHD close the connection after it.
    if (has_body) return self->Queue(*st, connection, std::move(*answer));
    st->pending = std::move(answer);
    return MHD_YES;
  }
  if (*upload_data_size != 0) {
    self->OnUpload(*st, std::string_view(upload_data, *upload_data_size));
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (st->answered) return MHD_YES;
  if (st->pending) return self->Queue(*st, connection, std::move(*st->pending));
  return self->Queue(*st, connection, self->Complete(*st));
}

void Server::Impl::OnCompleted(void* cls, MHD_Connection* connection, void** req_cls,
                               MHD_RequestTerminationCode) {
  auto* self = static_cast<Impl*>(cls);
  auto* st = static_cast<RequestState*>(*req_cls);
  if (st == nullptr) return;
  if (st->exchange && !st->exchange_completed) st->exchange->OnAbort();
  st->exchange.reset();
  if (st->begun) {
    self->Log(*st);
    std::lock_guard lock(self->mu);
    if (--self->in_flight == 0) self->idle.notify_all();
  }
  *req_cls = nullptr;
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  auto* context = static_cast<ConnectionContext*>(info ? info->socket_context : nullptr);
  if (context != nullptr && context->current.get() == st) context->current.reset();
}

void Server::Impl::OnMhdLog(void*, const char* format, va_list args) {
  char buf[512];
  std::vsnprintf(buf, sizeof buf, format, args);
  std::string_view text(buf);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  spdlog::debug("[api] libmicrohttpd: {}", text);
}

// ---------------------------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------------------------

Status Server::Impl::Start() {
  RETURN_IF_ERROR(options.Validate());
  if (daemon != nullptr || stopped) return Status::InvalidState("the server was already started");
  const std::string address = options.host + ":" + std::to_string(options.port);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(options.port));
  const std::string host = options.host == "localhost" ? "127.0.0.1" : options.host;
  if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
    return Status::InvalidArgument("listen address '" + options.host +
                                   "' is not an IPv4 address");
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("creating the listening socket for " + address, errno);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd, 128) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::FromErrno("cannot listen on " + address, err);
  }
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  bound_port = ntohs(sa.sin_port);

  daemon = MHD_start_daemon(
      MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
          MHD_USE_ERROR_LOG,
      0, nullptr, nullptr, &Impl::OnAccess, this,
      MHD_OPTION_LISTEN_SOCKET, fd,
      MHD_OPTION_URI_LOG_CALLBACK, &Impl::OnUri, this,
      MHD_OPTION_NOTIFY_COMPLETED, &Impl::OnCompleted, this,
      MHD_OPTION_NOTIFY_CONNECTION, &Impl::OnConnection, this,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, kConnectionMemory,
      MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(options.idle_timeout.count()),
      MHD_OPTION_EXTERNAL_LOGGER, &Impl::OnMhdLog, this,
      MHD_OPTION_END);
  if (daemon == nullptr) {
    ::close(fd);
    bound_port = 0;
    return Status::IoError("cannot start the HTTP server on " + address);
  }
  spdlog::info("[api] listening on http://{}:{}", options.host, bound_port);
  return Status::Ok();
}

void Server::Impl::Stop() {
  if (daemon == nullptr) return;
  stopping = true;
  if (MHD_socket fd = MHD_quiesce_daemon(daemon); fd != MHD_INVALID_SOCKET) ::close(fd);
  {
    std::unique_lock lock(mu);
    if (!idle.wait_for(lock, options.shutdown_grace, [&] { return in_flight == 0; })) {
      spdlog::warn("[api] {} requests still running after {} ms; closing their connections",
                   in_flight, options.shutdown_grace.count());
    }
  }
  MHD_stop_daemon(daemon);
  daemon = nullptr;
  stopped = true;
  spdlog::info("[api] stopped");
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

Status ServerOptions::Validate() const {
  if (host.empty()) return Status::InvalidArgument("listen host is empty");
  if (port < 0 || port > 65535) {
    return Status::InvalidArgument("listen port " + std::to_string(port) + " is out of range");
  }
  if (root.access_key_id.empty() || root.secret_access_key.empty()) {
    return Status::InvalidArgument("root credentials: access key id and secret are required");
  }
  if (region.empty()) return Status::InvalidArgument("region is empty");
  if (account_id.size() != 12 ||
      !std::all_of(account_id.begin(), account_id.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Status::InvalidArgument("account id must be 12 digits, got '" + account_id + "'");
  }
  if (max_buffered_body == 0) return Status::InvalidArgument("max_buffered_body must be > 0");
  return Status::Ok();
}

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Server::~Server() { Stop(); }
void Server::RegisterJsonService(JsonService& service) { impl_->json.Register(service); }
void Server::SetS3Handler(Handler& handler) { impl_->s3 = &handler; }
void Server::SetQueryHandler(Handler& handler) { impl_->query = &handler; }
Status Server::Start() { return impl_->Start(); }
void Server::Stop() { impl_->Stop(); }
int Server::port() const { return impl_->bound_port; }
std::string Server::endpoint() const {
  return "http://" + impl_->options.host + ":" + std::to_string(impl_->bound_port);
}

}  // namespace opendms::api

#include "objectstore/s3_http.h"

#include <curl/curl.h>
#include <pugixml.hpp>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <random>
#include <thread>

#include "objectstore/store_rules.h"

namespace opendms::objectstore {
namespace {

std::string Lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// Where an upload body is in its sending.
struct BodyCursor {
  std::string_view body;
  size_t pos = 0;
};

size_t ReadBodyCallback(char* dst, size_t size, size_t count, void* cursor_ptr) {
  auto* cursor = static_cast<BodyCursor*>(cursor_ptr);
  const size_t n = std::min(size * count, cursor->body.size() - cursor->pos);
  std::memcpy(dst, cursor->body.data() + cursor->pos, n);
  cursor->pos += n;
  return n;
}

// Parses one header line into `response`: a status line starts a new answer (after "100
// Continue" the headers start again); returns true on the blank line ending a final answer's
// headers.
bool TakeHeaderLine(std::string_view line, S3Response& response) {
  if (line.starts_with("HTTP/")) {
    response.headers.clear();
    const size_t space = line.find(' ');
    response.status =
        space == std::string_view::npos
            ? 0
            : std::strtol(std::string(line.substr(space + 1, 3)).c_str(), nullptr, 10);
    return false;
  }
  std::string_view trimmed = Trim(line);
  if (trimmed.empty()) return response.status >= 200;
  const size_t colon = trimmed.find(':');
  if (colon == std::string_view::npos) return false;
  response.headers[Lowercase(Trim(trimmed.substr(0, colon)))] =
      std::string(Trim(trimmed.substr(colon + 1)));
  return false;
}

size_t CollectHeader(char* data, size_t size, size_t count, void* response) {
  TakeHeaderLine(std::string_view(data, size * count), *static_cast<S3Response*>(response));
  return size * count;
}

size_t CollectBody(char* data, size_t size, size_t count, void* body) {
  static_cast<std::string*>(body)->append(data, size * count);
  return size * count;
}

bool IsTransientCurlError(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:  // a DNS hiccup; a wrong name fails after the retries
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

struct SlistFree {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistFree>;

Slist MakeSlist(const std::vector<std::string>& lines) {
  curl_slist* list = nullptr;
  for (const std::string& line : lines) list = curl_slist_append(list, line.c_str());
  return Slist(list);
}

// The settings every request shares: URL, method, headers, timeouts, header collection.
void Configure(CURL* curl, const S3ClientOptions& options, const S3Request& request,
               const std::string& url, curl_slist* headers, S3Response& response) {
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  // Keys are sent exactly as signed: no "/./" or "/../" squashing.
  curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options.connect_timeout.count()));
  // The idle timeout: fewer than 1 byte/s for that long. Paused transfers are not checked.
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(
      curl, CURLOPT_LOW_SPEED_TIME,
      std::max(
          1L, static_cast<long>(
                  std::chrono::duration_cast<std::chrono::seconds>(options.idle_timeout).count())));
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, CollectHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response);
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT" || request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    if (request.method == "POST") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "POST");
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
}

// "20261130T081305Z". The real wall clock, not Clock::Now(): Clock may be offset to simulate
// days passing, and S3 refuses signatures more than 15 minutes off.
std::string AmzDate() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace

std::string S3Request::Describe() const {
  if (bucket.empty()) return method + " /";
  return method + " " + (key.empty() ? "s3://" + bucket : ObjectUrl(bucket, key));
}

const std::string& S3Response::Header(const std::string& lowercase_name) const {
  static const std::string kEmpty;
  auto it = headers.find(lowercase_name);
  return it == headers.end() ? kEmpty : it->second;
}

S3Error ParseS3Error(const S3Response& response) {
  S3Error error;
  pugi::xml_document doc;
  if (!response.body.empty() && doc.load_buffer(response.body.data(), response.body.size())) {
    pugi::xml_node root = doc.child("Error");
    error.code = root.child_value("Code");
    error.message = root.child_value("Message");
  }
  if (error.code.empty()) {
    error.code = std::to_string(response.status);
    switch (response.status) {
      case 400:
        error.message = "Bad Request";
        break;
      case 403:
        error.message = "Forbidden";
        break;
      case 404:
        error.message = "Not Found";
        break;
      case 412:
        error.message = "Precondition Failed";
        break;
      case 416:
        error.message = "Requested Range Not Satisfiable";
        break;
      default:
        error.message = "HTTP status " + std::to_string(response.status);
        break;
    }
  }
  return error;
}

bool IsTransientAnswer(const S3Response& response) {
  switch (response.status) {
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
    case 509:
      return true;
    case 400:
      return ParseS3Error(response).code == "RequestTimeout";
    default:
      return false;
  }
}

S3Http::S3Http(S3ClientOptions options) : options_(std::move(options)) {
  std::string_view url = options_.endpoint_url;
  const size_t sep = url.find("://");
  scheme_ = Lowercase(url.substr(0, sep));
  std::string_view rest = url.substr(sep + 3);
  while (rest.ends_with('/')) rest.remove_suffix(1);
  host_port_ = Lowercase(rest);
}

S3Http::~S3Http() {
  for (void* handle : idle_handles_) curl_easy_cleanup(static_cast<CURL*>(handle));
}

void* S3Http::AcquireHandle() {
  {
    std::lock_guard lock(mu_);
    if (!idle_handles_.empty()) {
      void* handle = idle_handles_.back();
      idle_handles_.pop_back();
      return handle;
    }
  }
  return curl_easy_init();
}

void S3Http::ReleaseHandle(void* handle) {
  // Reset clears the options but keeps the handle's open connections for the next request.
  curl_easy_reset(static_cast<CURL*>(handle));
  std::lock_guard lock(mu_);
  idle_handles_.push_back(handle);
}

void S3Http::Backoff(int attempt) const {
  thread_local std::mt19937_64 random{std::random_device{}()};
  const double base = static_cast<double>(options_.retry_base_delay.count()) *
                      static_cast<double>(1ULL << std::min(attempt - 1, 20));
  const double capped = std::min(base, 20'000.0);
  const double jittered = capped * std::uniform_real_distribution<double>(0.5, 1.0)(random);
  std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>(jittered * 1000)));
}

S3Http::Target S3Http::TargetOf(const S3Request& request) const {
  Target target;
  std::string path;
  if (request.bucket.empty()) {
    path = "/";
    target.host = host_port_;
  } else if (options_.path_style) {
    path = "/" + request.bucket;
    if (!request.key.empty()) path += "/" + UriEncode(request.key, /*encode_slash=*/false);
    target.host = host_port_;
  } else {
    path = "/" + UriEncode(request.key, /*encode_slash=*/false);
    target.host = request.bucket + "." + host_port_;
  }
  std::string query;
  for (const auto& [name, value] : request.query) {
    if (!query.empty()) query += '&';
    query += UriEncode(name);
    if (value) query += "=" + UriEncode(*value);
  }
  target.canonical_uri = path;
  target.canonical_query = sigv4::CanonicalQueryString(query);
  target.url = scheme_ + "://" + target.host + path + (query.empty() ? "" : "?" + query);
  return target;
}

std::vector<std::string> S3Http::SignedHeaderLines(const S3Request& request,
                                                   const Target& target) const {
  const std::string amz_date = AmzDate();
  const std::string date = amz_date.substr(0, 8);
  sigv4::CanonicalRequest canonical;
  canonical.method = request.method;
  canonical.canonical_uri = target.canonical_uri;
  canonical.canonical_query = target.canonical_query;
  canonical.payload_hash =
      request.content_sha256.empty() ? Sha256Hex(request.body) : request.content_sha256;
  // SigV4 signs lowercase names in lowercase order; callers may name headers as HTTP spells
  // them ("Cache-Control"), so they are folded here, where the canonical form is made.
  for (const auto& [name, value] : request.headers) {
    canonical.headers.emplace_back(Lowercase(name), value);
  }
  canonical.headers.emplace_back("host", target.host);
  canonical.headers.emplace_back("x-amz-content-sha256", canonical.payload_hash);
  canonical.headers.emplace_back("x-amz-date", amz_date);
  if (!options_.session_token.empty()) {
    canonical.headers.emplace_back("x-amz-security-token", options_.session_token);
  }
  std::sort(canonical.headers.begin(), canonical.headers.end());

  const std::string scope = sigv4::Scope(date, options_.region, "s3");
  const std::string signature =
      sigv4::Signature(sigv4::SigningKey(options_.secret_access_key, date, options_.region, "s3"),
                       sigv4::StringToSign(amz_date, scope, canonical.ToString()));

  std::vector<std::string> lines;
  for (const auto& [name, value] : canonical.headers) lines.push_back(name + ": " + value);
  lines.push_back("Authorization: " + std::string(sigv4::kAlgorithm) +
                  " Credential=" + options_.access_key_id + "/" + scope +
                  ", SignedHeaders=" + canonical.SignedHeaders() + ", Signature=" + signature);
  // No "Expect: 100-continue" round trip (not every S3 clone answers it promptly), and no
  // Content-Type of curl's choosing: an unset one must stay unset.
  lines.push_back("Expect:");
  if (std::none_of(canonical.headers.begin(), canonical.headers.end(),
                   [](const auto& h) { return h.first == "content-type"; })) {
    lines.push_back("Content-Type:");
  }
  return lines;
}

Result<S3Response> S3Http::Send(const S3Request& request) {
  const Target target = TargetOf(request);
  std::string last_failure;
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) Backoff(attempt);
    // Signed anew each attempt: the date moves on.
    Slist headers = MakeSlist(SignedHeaderLines(request, target));
    S3Response response;
    BodyCursor cursor{request.body};
    CURL* curl = static_cast<CURL*>(AcquireHandle());
    if (!curl) return Status::Internal("curl_easy_init failed");
    Configure(curl, options_, request, target.url, headers.get(), response);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadBodyCallback);
    curl_easy_setopt(curl, CURLOPT_READDATA, &cursor);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, CollectBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
    SPDLOG_DEBUG("s3: {} (attempt {})", request.Describe(), attempt + 1);
    const CURLcode code = curl_easy_perform(curl);
    ReleaseHandle(curl);
    if (code != CURLE_OK) {
      last_failure = std::string(curl_easy_strerror(code));
      if (!IsTransientCurlError(code)) {
        return Status::ConnectionError(request.Describe() + " at " + options_.endpoint_url + ": " +
                                       last_failure);
      }
    } else if (IsTransientAnswer(response)) {
      const S3Error error = ParseS3Error(response);
      last_failure =
          "HTTP " + std::to_string(response.status) + " " + error.code + ": " + error.message;
    } else {
      return response;
    }
    if (attempt >= options_.max_retries) {
      return Status::ConnectionError(request.Describe() + " at " + options_.endpoint_url +
                                     " failed after " + std::to_string(attempt + 1) +
                                     " attempts: " + last_failure);
    }
    spdlog::warn("s3: {} at {}: {}; retrying", request.Describe(), options_.endpoint_url,
                 last_failure);
  }
}

// ---------------------------------------------------------------------------------------------
// S3Stream
// ---------------------------------------------------------------------------------------------

S3Stream::S3Stream(S3Http& http, std::string description)
    : http_(http), description_(std::move(description)) {}

S3Stream::~S3Stream() {
  if (multi_) {
    curl_multi_remove_handle(static_cast<CURLM*>(multi_), static_cast<CURL*>(handle_));
    curl_multi_cleanup(static_cast<CURLM*>(multi_));
  }
  if (handle_) http_.ReleaseHandle(handle_);
  curl_slist_free_all(static_cast<curl_slist*>(header_list_));
}

size_t S3Stream::OnHeader(char* data, size_t size, size_t count, void* self_ptr) {
  auto* self = static_cast<S3Stream*>(self_ptr);
  if (TakeHeaderLine(std::string_view(data, size * count), self->response_)) {
    self->headers_done_ = true;
  }
  return size * count;
}

size_t S3Stream::OnBody(char* data, size_t size, size_t count, void* self_ptr) {
  auto* self = static_cast<S3Stream*>(self_ptr);
  const size_t n = size * count;
  self->headers_done_ = true;
  // Compact once the unread part is small, so the buffer never grows past its capacity (plus
  // one curl write, at most CURL_MAX_WRITE_SIZE).
  if (self->read_pos_ > 0 && self->read_pos_ == self->buffer_.size()) {
    self->buffer_.clear();
    self->read_pos_ = 0;
  } else if (self->read_pos_ >= kBufferCapacity / 2) {
    self->buffer_.erase(0, self->read_pos_);
    self->read_pos_ = 0;
  }
  if (self->buffer_.size() - self->read_pos_ >= kBufferCapacity) {
    self->paused_ = true;
    return CURL_WRITEFUNC_PAUSE;  // curl keeps this data and offers it again on unpause
  }
  self->buffer_.append(data, n);
  return n;
}

Status S3Stream::Pump() {
  auto* multi = static_cast<CURLM*>(multi_);
  const bool had_headers = headers_done_;
  const size_t had_bytes = buffer_.size() - read_pos_;
  int running = 0;
  CURLMcode mc = curl_multi_perform(multi, &running);
  if (mc != CURLM_OK) {
    return Status::Internal("curl_multi_perform: " + std::string(curl_multi_strerror(mc)));
  }
  if (running == 0) {
    int pending = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &pending)) {
      if (msg->msg == CURLMSG_DONE) curl_result_ = msg->data.result;
    }
    done_ = true;
    return Status::Ok();
  }
  // Wait for the socket only when this round brought nothing new.
  if (headers_done_ != had_headers || buffer_.size() - read_pos_ != had_bytes || paused_) {
    return Status::Ok();
  }
  mc = curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  if (mc != CURLM_OK) {
    return Status::Internal("curl_multi_poll: " + std::string(curl_multi_strerror(mc)));
  }
  return Status::Ok();
}

Status S3Stream::TransferError() const {
  return Status::ConnectionError(description_ + " at " + http_.options().endpoint_url + ": " +
                                 curl_easy_strerror(static_cast<CURLcode>(curl_result_)));
}

Result<size_t> S3Stream::Read(char* dst, size_t capacity) {
  while (read_pos_ == buffer_.size()) {
    if (done_) {
      if (curl_result_ != CURLE_OK) return TransferError();
      return size_t{0};
    }
    if (paused_) {
      paused_ = false;
      // May call OnBody at once with the data held back.
      curl_easy_pause(static_cast<CURL*>(handle_), CURLPAUSE_CONT);
      continue;
    }
    RETURN_IF_ERROR(Pump());
  }
  const size_t n = std::min(capacity, buffer_.size() - read_pos_);
  std::memcpy(dst, buffer_.data() + read_pos_, n);
  read_pos_ += n;
  return n;
}

Status S3Stream::ReadBody() {
  std::string body;
  char chunk[16384];
  while (true) {
    ASSIGN_OR_RETURN(size_t n, Read(chunk, sizeof chunk));
    if (n == 0) break;
    if (body.size() < (1 << 20)) body.append(chunk, n);
  }
  response_.body = std::move(body);
  return Status::Ok();
}

Result<std::unique_ptr<S3Stream>> S3Http::OpenStream(const S3Request& request) {
  const Target target = TargetOf(request);
  std::string last_failure;
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) Backoff(attempt);
    std::unique_ptr<S3Stream> stream(new S3Stream(*this, request.Describe()));
    stream->header_list_ = MakeSlist(SignedHeaderLines(request, target)).release();
    stream->handle_ = AcquireHandle();
    stream->multi_ = curl_multi_init();
    if (!stream->handle_ || !stream->multi_) return Status::Internal("curl init failed");
    CURL* curl = static_cast<CURL*>(stream->handle_);
    Configure(curl, options_, request, target.url, static_cast<curl_slist*>(stream->header_list_),
              stream->response_);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, S3Stream::OnHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, stream.get());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, S3Stream::OnBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, stream.get());
    curl_multi_add_handle(static_cast<CURLM*>(stream->multi_), curl);
    SPDLOG_DEBUG("s3: {} streaming (attempt {})", request.Describe(), attempt + 1);
    while (!stream->headers_done_ && !stream->done_) RETURN_IF_ERROR(stream->Pump());
    if (stream->done_ && stream->curl_result_ != CURLE_OK) {
      const auto code = static_cast<CURLcode>(stream->curl_result_);
      last_failure = curl_easy_strerror(code);
      if (!IsTransientCurlError(code)) return stream->TransferError();
    } else if (stream->status() >= 200 && stream->status() < 300) {
      return stream;
    } else {
      RETURN_IF_ERROR(stream->ReadBody());
      if (!IsTransientAnswer(stream->response())) return stream;
      const S3Error error = ParseS3Error(stream->response());
      last_failure =
          "HTTP " + std::to_string(stream->status()) + " " + error.code + ": " + error.message;
    }
    if (attempt >= options_.max_retries) {
      return Status::ConnectionError(request.Describe() + " at " + options_.endpoint_url +
                                     " failed after " + std::to_string(attempt + 1) +
                                     " attempts: " + last_failure);
    }
    spdlog::warn("s3: {} at {}: {}; retrying", request.Describe(), options_.endpoint_url,
                 last_failure);
  }
}

}  // namespace opendms::objectstore

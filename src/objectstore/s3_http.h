// objectstore (internal): the HTTP side of S3Client — requests built, SigV4-signed and sent with
// libcurl, retried with exponential backoff on transient failures, and a streaming GET whose
// body is read incrementally (curl's multi interface, paused while the reader's buffer is full).
// Nothing here knows ObjectStore semantics; s3_client.cc maps answers to them.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/core.h"
#include "objectstore/objectstore.h"

namespace opendms::objectstore {

struct S3Request {
  std::string method;  // GET, HEAD, PUT, POST, DELETE
  std::string bucket;  // empty: the service itself (ListBuckets)
  std::string key;     // empty: the bucket
  // Decoded names and values; nullopt = a bare name ("?uploads").
  std::vector<std::pair<std::string, std::optional<std::string>>> query;
  // Lowercase names. All are signed (as botocore signs every header it sets).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view body;  // must outlive Send
  // x-amz-content-sha256; empty = the hex SHA-256 of body.
  std::string content_sha256;

  // "GET s3://bucket/key" for messages and logs.
  std::string Describe() const;
};

struct S3Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;

  // The header's value, or "" when absent.
  const std::string& Header(const std::string& lowercase_name) const;
};

// The S3 error an answer carries: <Error><Code/><Message/></Error>, or for a body-less answer
// (HEAD) the HTTP status as code, as botocore does ("404", "Not Found").
struct S3Error {
  std::string code, message;
};
S3Error ParseS3Error(const S3Response& response);

// Whether an answer is worth retrying: 429, 500, 502, 503, 504, 509, or 400 RequestTimeout.
bool IsTransientAnswer(const S3Response& response);

class S3Stream;

// Thread-safe. Keeps a pool of curl handles so that connections are reused between calls.
class S3Http {
 public:
  // `options` must have passed Validate().
  explicit S3Http(S3ClientOptions options);
  ~S3Http();
  S3Http(const S3Http&) = delete;
  S3Http& operator=(const S3Http&) = delete;

  const S3ClientOptions& options() const { return options_; }

  // Sends `request`, retrying transient failures. Returns the final answer whatever its status
  // (the caller maps S3 errors), or ConnectionError when the server could not be reached or kept
  // answering with transient errors through every retry.
  Result<S3Response> Send(const S3Request& request);

  // Sends a GET (retrying transient failures until its headers arrive) and returns the open
  // stream once the final answer's headers are in; the body is then read through the stream.
  Result<std::unique_ptr<S3Stream>> OpenStream(const S3Request& request);

  // Sleeps before retry number `attempt` (1-based): retry_base_delay * 2^(attempt-1), jittered.
  void Backoff(int attempt) const;

 private:
  friend class S3Stream;
  struct Target {
    std::string url, host, canonical_uri, canonical_query;
  };
  Target TargetOf(const S3Request& request) const;
  // "Name: value" lines for curl, the signed headers among them (Host, X-Amz-*, Authorization).
  std::vector<std::string> SignedHeaderLines(const S3Request& request, const Target& target) const;

  void* AcquireHandle();
  void ReleaseHandle(void* handle);

  S3ClientOptions options_;
  std::string scheme_, host_port_;  // from endpoint_url
  std::mutex mu_;
  std::vector<void*> idle_handles_;  // CURL*; guarded by mu_
};

// One GET whose body arrives as it is read. Not thread-safe. Destroying it before the end of the
// body abandons the connection.
class S3Stream {
 public:
  ~S3Stream();
  S3Stream(const S3Stream&) = delete;
  S3Stream& operator=(const S3Stream&) = delete;

  long status() const { return response_.status; }
  const S3Response& response() const { return response_; }  // headers; body only via ReadBody

  // Up to `capacity` bytes of the body; 0 = the body ended cleanly. ConnectionError if the
  // transfer broke (connection lost, idle timeout).
  Result<size_t> Read(char* dst, size_t capacity);
  // The rest of the body (for error answers; at most 1 MiB is kept) as response().body.
  Status ReadBody();

 private:
  friend class S3Http;
  explicit S3Stream(S3Http& http, std::string description);
  // Runs curl once, then, if that brought nothing new, waits up to 1 s for the socket; sets
  // done_ when the transfer ended.
  Status Pump();
  Status TransferError() const;
  static size_t OnBody(char* data, size_t size, size_t count, void* self);
  static size_t OnHeader(char* data, size_t size, size_t count, void* self);

  static constexpr size_t kBufferCapacity = 1 << 20;

  S3Http& http_;
  std::string description_;
  void* multi_ = nullptr;        // CURLM*
  void* handle_ = nullptr;       // CURL*, from http_'s pool
  void* header_list_ = nullptr;  // curl_slist*
  S3Response response_;
  bool headers_done_ = false;
  bool paused_ = false;
  bool done_ = false;
  int curl_result_ = 0;  // CURLcode once done_
  std::string buffer_;   // received, not yet read: buffer_[read_pos_, size)
  size_t read_pos_ = 0;
};

}  // namespace opendms::objectstore

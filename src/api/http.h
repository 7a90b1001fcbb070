// api (inside): the contract between the HTTP layer (http_server.cc: libmicrohttpd, SigV4,
// aws-chunked decoding, checksums) and the protocol handlers (s3_handler.cc, json_protocol.cc).
//
// A request is handled in two phases, so that bodies stream (a 5 GiB PutObject never sits in
// memory) and a request refused on its headers is answered before its body is sent (the client
// waits for "100 Continue"):
//   1. Begin(request): headers are in and the signature over them is verified. The handler
//      answers at once (a response) or returns an Exchange that will take the body.
//   2. Exchange::OnBody(chunk)* — the DECODED payload (aws-chunked framing removed), in order.
//      Then the HTTP layer checks what it can only check at the end (the payload's SHA-256
//      against x-amz-content-sha256, the CRC32 against x-amz-checksum-crc32 from a header or an
//      aws-chunked trailer). If all is well it calls OnComplete() and sends what it returns;
//      otherwise it calls OnAbort() and answers with the error. Nothing is committed before
//      OnComplete().
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/core.h"

namespace opendms::api {

// Which wire protocol's error format a failure must be written in.
enum class Protocol { kRestXml, kJson11, kQuery };

struct HttpRequest {
  std::string method;     // "GET", "PUT", …
  std::string raw_path;   // as sent, still percent-encoded, without the query ("/b/sp%20ace")
  std::string path;       // percent-decoded raw_path ("/b/sp ace")
  std::string raw_query;  // as sent, without '?'
  // Query parameters percent-decoded ('+' stays '+', as S3 does), in the order sent. A parameter
  // without '=' ("?uploads") has an empty value.
  std::vector<std::pair<std::string, std::string>> query;
  // Header names lowercased; repeated headers joined with ','.
  std::map<std::string, std::string> headers;

  // Filled by the HTTP layer from the verified signature.
  std::string access_key_id;
  std::string region;   // from the credential scope
  std::string service;  // signing name from the credential scope: "s3", "dms", …
  std::string request_id;  // generated per request; echoed in x-amz-request-id / x-amzn-RequestId

  // Length of the decoded payload when known in advance (Content-Length, or
  // x-amz-decoded-content-length for aws-chunked bodies); nullopt when not.
  std::optional<uint64_t> payload_length;

  const std::string* Header(std::string_view lowercase_name) const;
  std::string HeaderOr(std::string_view lowercase_name, std::string fallback = "") const;
  const std::string* Query(std::string_view name) const;
  bool HasQuery(std::string_view name) const { return Query(name) != nullptr; }
};

// A response. Either `body` (small documents) or `body_source` (streamed, e.g. GetObject) is
// sent; with body_source, content_length must be set. For HEAD requests only the headers go out
// (Content-Length still tells the size).
struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // Content-Type among them
  std::string body;
  // Fills up to `capacity` bytes and returns how many; 0 = end. An error after headers went out
  // can only cut the connection: the client sees a short body and retries.
  std::function<Result<size_t>(char*, size_t)> body_source;
  std::optional<uint64_t> content_length;  // required with body_source

  void SetHeader(std::string name, std::string value);
};

// Takes a request's body after Begin accepted it. Called from one thread at a time.
class Exchange {
 public:
  virtual ~Exchange() = default;
  // A chunk of the decoded payload. A failing Status stops the upload: the layer answers with
  // it (the protocol's error format) and calls OnAbort.
  virtual Status OnBody(std::string_view chunk) = 0;
  // The whole payload arrived and verified: do the work, answer.
  virtual HttpResponse OnComplete() = 0;
  // The request failed or the client went away: release anything staged, commit nothing.
  virtual void OnAbort() {}
};

// What Begin decides: answer now, or take the body through an Exchange.
struct Begun {
  std::optional<HttpResponse> response;
  std::unique_ptr<Exchange> exchange;
};

// Collects a small body into memory (bounded), then calls `complete` with it. Bodies over
// `limit` bytes are refused with `too_large` (e.g. S3's EntityTooLarge / MalformedXML).
std::unique_ptr<Exchange> BufferBody(size_t limit, Status too_large,
                                     std::function<HttpResponse(std::string body)> complete);

// A protocol handler: one per protocol family. The HTTP layer routes by request shape:
// X-Amz-Target → JSON 1.1; form-encoded POST with Action= → Query; everything else → S3.
class Handler {
 public:
  virtual ~Handler() = default;
  virtual Begun Begin(HttpRequest& request) = 0;
};

// Writes `error` (its aws_code(), or one derived from its ErrorCode, and message) in the
// protocol's error format, with the HTTP status AWS uses for that code. For S3 `resource` is the
// <Resource>/<Key>/<BucketName> detail where there is one.
HttpResponse ErrorResponse(Protocol protocol, const Status& error, const HttpRequest& request);

}  // namespace opendms::api

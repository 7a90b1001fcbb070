// api: the AWS endpoint — an HTTP server (libmicrohttpd, a thread per connection) that verifies
// SigV4 on every request, decodes aws-chunked bodies and checks payload hashes and checksums,
// and routes each request to a protocol handler: X-Amz-Target → JSON 1.1 (Secrets Manager, SSM,
// DMS: JsonService), a form-encoded POST → Query (CloudFormation, RDS), everything else → S3
// (REST-XML). Errors are written in each protocol's own format (http.h ErrorResponse).
//
// Start reading at Server. The handler contract (two-phase, streaming bodies) is in http.h.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "api/http.h"
#include "core/core.h"

namespace opendms::api {

// An access key pair. The secret never reaches a log or an error message.
struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
};

struct ServerOptions {
  std::string host = "127.0.0.1";  // an IPv4 address or "localhost"
  int port = 4566;                 // 0: any free port (see Server::port())
  Credentials root;                // required: the only key the server accepts
  std::string region = "us-east-1";         // for requests whose scope carries none (never, today)
  std::string account_id = "000000000000";  // in every CallContext
  // Largest body accepted by the buffered protocols (JSON 1.1, Query); larger is refused (400).
  size_t max_buffered_body = 16 << 20;
  // How far a header-signed request's X-Amz-Date may be from the server's clock (AWS: 15 min).
  std::chrono::seconds max_clock_skew = std::chrono::minutes(15);
  // Stop() waits this long for requests in flight before closing their connections.
  std::chrono::milliseconds shutdown_grace = std::chrono::seconds(30);
  // An idle keep-alive connection is closed after this long.
  std::chrono::seconds idle_timeout = std::chrono::seconds(120);

  // InvalidArgument naming the field.
  Status Validate() const;
};

// The HTTP endpoint. Register services and handlers, then Start(); they must outlive the Server
// and be thread-safe (requests run concurrently, one thread per connection).
class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();  // Stop()s
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Routes JSON 1.1 requests whose X-Amz-Target starts with "<service.target_prefix()>.".
  // Before Start() only.
  void RegisterJsonService(JsonService& service);
  // The REST-XML (S3) handler: every request that is neither JSON 1.1 nor Query. Until one is
  // set, such requests get S3's NotImplemented (501). Before Start() only.
  void SetS3Handler(Handler& handler);
  // The Query-protocol handler (CloudFormation, RDS): form-encoded POSTs. Until one is set they
  // get a Query-format InvalidAction (400). Before Start() only.
  void SetQueryHandler(Handler& handler);

  // Binds and starts serving. InvalidArgument for bad options; IoError naming host:port when
  // the address cannot be bound (e.g. the port is taken).
  Status Start();
  // Stops accepting connections, lets requests in flight finish (up to shutdown_grace), then
  // closes every connection. Idempotent; after it the Server cannot be started again.
  void Stop();
  // The port bound (the real one when options.port was 0); 0 before Start().
  int port() const;
  // "http://127.0.0.1:4566"
  std::string endpoint() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace opendms::api

// The HTTP layer end to end: a real api::Server on a free port, with a test-only JsonService
// (prefix "secretsmanager") and a test-only S3 Handler that report what reached them, driven by
// real clients — boto3/botocore and urllib (clients.py) and raw sockets for what clients hide
// (100-continue timing, body chunk sizes, clock skew).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <thread>

#include "api/api.h"
#include "core/core.h"

namespace opendms::api {
namespace {

constexpr char kAccessKey[] = "AKIAOPENDMSTEST00001";
constexpr char kSecret[] = "tEsTsEcReT/with+chars0123456789abcdefghij";

// ---------------------------------------------------------------------------------------------
// Test-only service and handler
// ---------------------------------------------------------------------------------------------

// Echoes what the JSON layer gave it, in fields botocore's ListSecrets/GetSecretValue shapes keep.
class EchoSecrets final : public JsonService {
 public:
  std::string_view target_prefix() const override { return "secretsmanager"; }
  Result<Json> Call(std::string_view operation, const Json& input,
                    const CallContext& context) override {
    if (operation == "ListSecrets") {
      auto entry = [](std::string name, std::string description) {
        return Json{{"Name", std::move(name)}, {"Description", std::move(description)}};
      };
      Json list = Json::array();
      list.push_back(entry("max-results", input.value("MaxResults", Json(0)).dump()));
      list.push_back(entry("region", context.region));
      list.push_back(entry("account", context.account_id));
      list.push_back(entry("access-key", context.access_key_id));
      list.push_back(entry("request-id", context.request_id));
      return Json{{"SecretList", list},
                  {"NextToken", "echo:" + input.value("NextToken", std::string())}};
    }
    if (operation == "GetSecretValue") {
      std::string id = input.value("SecretId", std::string());
      if (id == "missing") {
        return Status::Aws(ErrorCode::kNotFound, "ResourceNotFoundException",
                           "Secrets Manager can't find the specified secret: " + id);
      }
      return Json{{"Name", id}, {"SecretString", "value-of-" + id}};
    }
    return Status::Aws(ErrorCode::kInvalidArgument, "UnknownOperationException",
                       "unknown operation " + std::string(operation));
  }
};

// What the S3 test handler saw of uploads.
struct UploadStats {
  std::mutex mu;
  uint64_t bytes = 0;      // guarded by mu
  size_t max_chunk = 0;    // guarded by mu
  int completed = 0;       // guarded by mu
  int aborted = 0;         // guarded by mu
};

class CountingExchange final : public Exchange {
 public:
  CountingExchange(UploadStats& stats, HttpRequest request)
      : stats_(stats), request_(std::move(request)) {}
  Status OnBody(std::string_view chunk) override {
    bytes_ += chunk.size();
    sha_.Update(chunk);
    std::lock_guard lock(stats_.mu);
    stats_.bytes += chunk.size();
    stats_.max_chunk = std::max(stats_.max_chunk, chunk.size());
    return Status::Ok();
  }
  HttpResponse OnComplete() override {
    {
      std::lock_guard lock(stats_.mu);
      ++stats_.completed;
    }
    HttpResponse r;
    r.SetHeader("ETag", "\"test\"");
    r.SetHeader("x-test-bytes", std::to_string(bytes_));
    r.SetHeader("x-test-sha256", sha_.FinishHex());
    r.SetHeader("x-test-content-encoding", request_.HeaderOr("content-encoding", "(none)"));
    r.SetHeader("x-test-payload-length",
                request_.payload_length ? std::to_string(*request_.payload_length) : "(unknown)");
    return r;
  }
  void OnAbort() override {
    std::lock_guard lock(stats_.mu);
    ++stats_.aborted;
  }

 private:
  UploadStats& stats_;
  HttpRequest request_;
  uint64_t bytes_ = 0;
  Sha256Hasher sha_;
};

// Answers GET/HEAD from the path and takes PUT bodies through CountingExchange.
class TestS3Handler final : public Handler {
 public:
  UploadStats stats;

  Begun Begin(HttpRequest& request) override {
    if (request.method == "PUT" || request.method == "POST") {
      return {std::nullopt, std::make_unique<CountingExchange>(stats, request)};
    }
    if (request.path == "/bucket/notfound") {
      return {ErrorResponse(Protocol::kRestXml,
                            Status::Aws(ErrorCode::kNotFound, "NoSuchKey",
                                        "The specified key does not exist."),
                            request),
              nullptr};
    }
    HttpResponse r;
    r.SetHeader("Content-Type", "application/octet-stream");
    r.SetHeader("x-test-raw-path", request.raw_path);
    std::string query;
    for (const auto& [k, v] : request.query) query += k + "=" + v + ";";
    r.SetHeader("x-test-query", query);
    if (request.path == "/bucket/sized") {
      r.content_length = 1234;
    } else if (request.path == "/bucket/stream") {
      auto offset = std::make_shared<uint64_t>(0);  // shared: the std::function is copyable
      const uint64_t total = 3 << 20;
      r.content_length = total;
      r.body_source = [offset, total](char* buf, size_t cap) -> Result<size_t> {
        size_t n = static_cast<size_t>(std::min<uint64_t>(cap, total - *offset));
        for (size_t i = 0; i < n; ++i) buf[i] = static_cast<char>((*offset + i) & 0xff);
        *offset += n;
        return n;
      };
    } else if (request.query.empty() || request.HasQuery("X-Amz-Signature") ||
               request.HasQuery("Signature")) {  // presigned (SigV4 or SigV2)
      r.body = "hello " + request.path;
    } else {
      r.SetHeader("Content-Type", "application/xml");
      r.body = "<ListBucketResult><Name>bucket</Name><KeyCount>0</KeyCount>"
               "<IsTruncated>false</IsTruncated></ListBucketResult>";
    }
    return {std::move(r), nullptr};
  }
};

// ---------------------------------------------------------------------------------------------
// Raw HTTP over a socket, signed with core's SigV4 primitives
// ---------------------------------------------------------------------------------------------

class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  }
  ~RawConnection() { ::close(fd_); }
  bool connected() const { return connected_; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  // The next whole response (an interim 100 Continue counts as one); its body length is in
  // Content-Length. Consumes it.
  std::string ReadResponse(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    size_t end;
    while ((end = received_.find("\r\n\r\n", consumed_)) == std::string::npos) {
      if (!ReadSome(deadline)) return received_.substr(consumed_);
    }
    std::string head = received_.substr(consumed_, end + 4 - consumed_);
    size_t cl = head.find("Content-Length: ");
    size_t length = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 16));
    if (head.find(" 100 Continue") != std::string::npos) length = 0;
    while (received_.size() < end + 4 + length) {
      if (!ReadSome(deadline)) break;
    }
    std::string response = received_.substr(consumed_, end + 4 + length - consumed_);
    consumed_ = std::min(received_.size(), end + 4 + length);
    return response;
  }

 private:
  bool ReadSome(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    received_.append(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string received_;
  size_t consumed_ = 0;  // bytes of received_ returned by ReadResponse
};

std::string AmzDate(TimePoint t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// A request's head, signed for `service` with the test key. `extra` headers are signed too.
std::string SignedHead(int port, std::string method, std::string path, std::string service,
                       std::string payload_hash,
                       std::vector<std::pair<std::string, std::string>> extra,
                       TimePoint when = Clock::Now()) {
  const std::string amz_date = AmzDate(when);
  const std::string date = amz_date.substr(0, 8);
  std::vector<std::pair<std::string, std::string>> headers = {
      {"host", "127.0.0.1:" + std::to_string(port)}, {"x-amz-date", amz_date}};
  if (service == "s3") headers.emplace_back("x-amz-content-sha256", payload_hash);
  for (auto& h : extra) headers.push_back(h);
  std::sort(headers.begin(), headers.end());
  sigv4::CanonicalRequest canonical{method, path, "", headers, payload_hash};
  const std::string scope = sigv4::Scope(date, "us-east-1", service);
  const std::string signature =
      sigv4::Signature(sigv4::SigningKey(kSecret, date, "us-east-1", service),
                       sigv4::StringToSign(amz_date, scope, canonical.ToString()));
  std::string head = method + " " + path + " HTTP/1.1\r\n";
  for (const auto& [name, value] : headers) head += name + ": " + value + "\r\n";
  head += "Authorization: AWS4-HMAC-SHA256 Credential=" + std::string(kAccessKey) + "/" + scope +
          ", SignedHeaders=" + canonical.SignedHeaders() + ", Signature=" + signature + "\r\n";
  return head;
}

// ---------------------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------------------

class ApiServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ServerOptions options;
    options.port = 0;
    options.root = {kAccessKey, kSecret};
    options.max_buffered_body = 1 << 20;
    options.shutdown_grace = std::chrono::seconds(5);
    server_ = new Server(options);
    secrets_ = new EchoSecrets();
    s3_ = new TestS3Handler();
    server_->RegisterJsonService(*secrets_);
    server_->SetS3Handler(*s3_);
    Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started.ToString();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete s3_;
    delete secrets_;
  }

  // Runs clients.py's `scenario`; "" when it passed, else its output.
  static std::string RunClients(const std::string& scenario) {
    std::string command = "python3 " OPENDMS_SOURCE_DIR "/tests/api/clients.py " +
                          server_->endpoint() + " " + kAccessKey + " '" + kSecret + "' " +
                          scenario + " 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return "cannot run python3";
    std::string output;
    std::array<char, 4096> buf;
    while (size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) output.append(buf.data(), n);
    int rc = ::pclose(pipe);
    return rc == 0 ? "" : output;
  }

  static Server* server_;
  static EchoSecrets* secrets_;
  static TestS3Handler* s3_;
};

Server* ApiServer::server_ = nullptr;
EchoSecrets* ApiServer::secrets_ = nullptr;
TestS3Handler* ApiServer::s3_ = nullptr;

TEST_F(ApiServer, Boto3CallsAJsonServiceAndReadsItsErrors) { EXPECT_EQ(RunClients("json_ok"), ""); }
TEST_F(ApiServer, JsonWrongSecretIsInvalidSignature) {
  EXPECT_EQ(RunClients("json_wrong_secret"), "");
}
TEST_F(ApiServer, JsonUnknownKeyIsUnrecognizedClient) {
  EXPECT_EQ(RunClients("json_unknown_key"), "");
}
TEST_F(ApiServer, JsonUnsignedIsRefusedWithJsonError) { EXPECT_EQ(RunClients("json_unsigned"), ""); }
TEST_F(ApiServer, Boto3S3RequestsReachTheHandler) { EXPECT_EQ(RunClients("s3_get"), ""); }
TEST_F(ApiServer, Boto3PutObjectWithCrc32) { EXPECT_EQ(RunClients("s3_put"), ""); }
TEST_F(ApiServer, Boto3AwsChunkedUploadWithTrailer) {
  EXPECT_EQ(RunClients("s3_put_chunked"), "");
}
TEST_F(ApiServer, S3WrongSecretUnknownKeyAndAnonymous) {
  EXPECT_EQ(RunClients("s3_wrong_secret"), "");
}
TEST_F(ApiServer, PresignedUrlsValidTamperedExpired) { EXPECT_EQ(RunClients("s3_presigned"), ""); }

TEST_F(ApiServer, ExpectContinueIsAnsweredBeforeTheBody) {
  RawConnection c(server_->port());
  ASSERT_TRUE(c.connected());
  const std::string body = "0123456789";
  std::string head = SignedHead(server_->port(), "PUT", "/bucket/continue", "s3",
                                std::string(sigv4::kUnsignedPayload), {});
  head += "Content-Length: " + std::to_string(body.size()) + "\r\nExpect: 100-continue\r\n\r\n";
  auto sent = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.Send(head));
  std::string got = c.ReadResponse(std::chrono::milliseconds(200));
  auto waited = std::chrono::steady_clock::now() - sent;
  ASSERT_EQ(got.rfind("HTTP/1.1 100 Continue\r\n", 0), 0u) << got;
  EXPECT_LT(waited, std::chrono::milliseconds(200));
  ASSERT_TRUE(c.Send(body));
  got = c.ReadResponse();
  EXPECT_NE(got.find("HTTP/1.1 200"), std::string::npos) << got;
  EXPECT_NE(got.find("x-test-bytes: 10"), std::string::npos) << got;
}

TEST_F(ApiServer, ExpectContinueRefusedAtOnceWithoutContinue) {
  RawConnection c(server_->port());
  ASSERT_TRUE(c.connected());
  std::string head = SignedHead(server_->port(), "PUT", "/bucket/k", "s3",
                                std::string(sigv4::kUnsignedPayload), {});
  head = head.substr(0, head.find("Signature=") + 10) + std::string(64, '0') + "\r\n";
  head += "Content-Length: 10\r\nExpect: 100-continue\r\n\r\n";
  ASSERT_TRUE(c.Send(head));
  std::string got = c.ReadResponse(std::chrono::seconds(2));
  EXPECT_EQ(got.rfind("HTTP/1.1 403", 0), 0u) << got;
  EXPECT_EQ(got.find("100 Continue"), std::string::npos) << got;
  EXPECT_NE(got.find("<Code>SignatureDoesNotMatch</Code>"), std::string::npos) << got;
}

TEST_F(ApiServer, LargeUploadStreamsInBoundedChunks) {
  {
    std::lock_guard lock(s3_->stats.mu);
    s3_->stats.bytes = 0;
    s3_->stats.max_chunk = 0;
  }
  constexpr size_t kTotal = 50u << 20;
  RawConnection c(server_->port());
  ASSERT_TRUE(c.connected());
  std::string head = SignedHead(server_->port(), "PUT", "/bucket/big", "s3",
                                std::string(sigv4::kUnsignedPayload), {});
  head += "Content-Length: " + std::to_string(kTotal) + "\r\n\r\n";
  ASSERT_TRUE(c.Send(head));
  std::string block(1 << 20, 'z');
  for (size_t sent = 0; sent < kTotal; sent += block.size()) ASSERT_TRUE(c.Send(block));
  std::string got = c.ReadResponse(std::chrono::seconds(60));
  EXPECT_NE(got.find("x-test-bytes: " + std::to_string(kTotal)), std::string::npos) << got;
  std::lock_guard lock(s3_->stats.mu);
  EXPECT_EQ(s3_->stats.bytes, kTotal);
  EXPECT_LE(s3_->stats.max_chunk, 256u * 1024);  // the connection buffer, never the body
  EXPECT_GT(s3_->stats.max_chunk, 0u);
}

TEST_F(ApiServer, WrongPayloadHashIsRefusedAndTheExchangeAborted) {
  int aborted_before;
  {
    std::lock_guard lock(s3_->stats.mu);
    aborted_before = s3_->stats.aborted;
  }
  RawConnection c(server_->port());
  ASSERT_TRUE(c.connected());
  const std::string body = "actual body";
  std::string head =
      SignedHead(server_->port(), "PUT", "/bucket/k", "s3", Sha256Hex("another body"), {});
  head += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_TRUE(c.Send(head));
  std::string got = c.ReadResponse();
  EXPECT_EQ(got.rfind("HTTP/1.1 400", 0), 0u) << got;
  EXPECT_NE(got.find("<Code>XAmzContentSHA256Mismatch</Code>"), std::string::npos) << got;
  std::lock_guard lock(s3_->stats.mu);
  EXPECT_EQ(s3_->stats.aborted, aborted_before + 1);
}

TEST_F(ApiServer, ClockSkewIsRefusedPerProtocol) {
  const TimePoint old = Clock::Now() - std::chrono::minutes(20);
  {
    RawConnection c(server_->port());
    std::string head = SignedHead(server_->port(), "GET", "/bucket/k", "s3",
                                  std::string(sigv4::kUnsignedPayload), {}, old);
    ASSERT_TRUE(c.Send(head + "\r\n"));
    std::string got = c.ReadResponse();
    EXPECT_EQ(got.rfind("HTTP/1.1 403", 0), 0u) << got;
    EXPECT_NE(got.find("<Code>RequestTimeTooSkewed</Code>"), std::string::npos) << got;
  }
  {
    RawConnection c(server_->port());
    std::string head =
        SignedHead(server_->port(), "POST", "/", "secretsmanager", Sha256Hex("{}"),
                   {{"x-amz-target", "secretsmanager.ListSecrets"},
                    {"content-type", "application/x-amz-json-1.1"}},
                   old);
    ASSERT_TRUE(c.Send(head + "Content-Length: 2\r\n\r\n{}"));
    std::string got = c.ReadResponse();
    EXPECT_EQ(got.rfind("HTTP/1.1 403", 0), 0u) << got;
    EXPECT_NE(got.find("\"__type\":\"InvalidSignatureException\""), std::string::npos) << got;
    EXPECT_NE(got.find("Signature expired"), std::string::npos) << got;
  }
}

TEST_F(ApiServer, JsonSignatureCoversTheBody) {
  RawConnection c(server_->port());
  std::string head = SignedHead(server_->port(), "POST", "/", "secretsmanager", Sha256Hex("{}"),
                                {{"x-amz-target", "secretsmanager.ListSecrets"},
                                 {"content-type", "application/x-amz-json-1.1"}});
  ASSERT_TRUE(c.Send(head + "Content-Length: 3\r\n\r\n{ }"));
  std::string got = c.ReadResponse();
  EXPECT_EQ(got.rfind("HTTP/1.1 403", 0), 0u) << got;
  EXPECT_NE(got.find("\"__type\":\"InvalidSignatureException\""), std::string::npos) << got;
}

TEST_F(ApiServer, MalformedJsonIsSerializationException) {
  RawConnection c(server_->port());
  std::string head = SignedHead(server_->port(), "POST", "/", "secretsmanager", Sha256Hex("{"),
                                {{"x-amz-target", "secretsmanager.ListSecrets"},
                                 {"content-type", "application/x-amz-json-1.1"}});
  ASSERT_TRUE(c.Send(head + "Content-Length: 1\r\n\r\n{"));
  std::string got = c.ReadResponse();
  EXPECT_EQ(got.rfind("HTTP/1.1 400", 0), 0u) << got;
  EXPECT_NE(got.find("\"__type\":\"SerializationException\""), std::string::npos) << got;
}

TEST_F(ApiServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  RawConnection c(server_->port());
  for (int i = 0; i < 3; ++i) {
    std::string head = SignedHead(server_->port(), "GET", "/bucket/k" + std::to_string(i), "s3",
                                  std::string(sigv4::kUnsignedPayload), {});
    ASSERT_TRUE(c.Send(head + "\r\n"));
    std::string got = c.ReadResponse();
    EXPECT_NE(got.find("hello /bucket/k" + std::to_string(i)), std::string::npos) << got;
  }
}

TEST(ApiServerLifecycle, PortInUseIsNamed) {
  ServerOptions options;
  options.port = 0;
  options.root = {kAccessKey, kSecret};
  Server first(options);
  ASSERT_TRUE(first.Start().ok());
  options.port = first.port();
  Server second(options);
  Status st = second.Start();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("127.0.0.1:" + std::to_string(first.port())), std::string::npos)
      << st.ToString();
}

TEST(ApiServerLifecycle, StopWaitsForARequestInFlight) {
  ServerOptions options;
  options.port = 0;
  options.root = {kAccessKey, kSecret};
  Server server(options);
  TestS3Handler handler;
  server.SetS3Handler(handler);
  ASSERT_TRUE(server.Start().ok());
  RawConnection c(server.port());
  std::string head = SignedHead(server.port(), "PUT", "/bucket/slow", "s3",
                                std::string(sigv4::kUnsignedPayload), {});
  ASSERT_TRUE(c.Send(head + "Content-Length: 4\r\n\r\nab"));  // half the body
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::thread finisher([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    c.Send("cd");
  });
  auto t0 = std::chrono::steady_clock::now();
  server.Stop();
  finisher.join();
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(250));
  std::string got = c.ReadResponse(std::chrono::seconds(2));
  EXPECT_NE(got.find("x-test-bytes: 4"), std::string::npos) << got;
  RawConnection refused(server.port());
  EXPECT_FALSE(refused.connected());
}

}  // namespace
}  // namespace opendms::api

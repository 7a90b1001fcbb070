// S3Client against a real S3 service (moto_server, or OPENDMS_TEST_S3_ENDPOINT): what the
// conformance suite does not cover — large streams in bounded memory, multipart, ranges, paging
// past 1,000 keys, keys that need encoding, and the errors of a remote service.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "objectstore/md5.h"
#include "objectstore/objectstore.h"
#include "objectstore/s3_http.h"
#include "store_test_helpers.h"
#include "support/s3_test_server.h"

namespace opendms::objectstore {
namespace {

using testing::KeysOf;
using testing::ListEverything;
using testing::ReadAll;

// Resident memory of this process, in bytes.
int64_t ResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) return std::stoll(line.substr(6)) * 1024;
  }
  return 0;
}

// Byte i of the test pattern: varied enough that a misplaced window shows.
char PatternByte(uint64_t i) { return static_cast<char>((i * 2654435761u) >> 13); }

// A TCP proxy in front of the endpoint that can cut one connection after a number of bytes of
// answer, as a flaky network would. Each connection is forwarded on a thread of its own: a
// server that keeps connections alive (AWS, opendms) holds an idle one open while the client
// opens the next.
class CuttingProxy {
 public:
  explicit CuttingProxy(const std::string& upstream_url) {
    upstream_port_ = std::stoi(upstream_url.substr(upstream_url.rfind(':') + 1));
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = Loopback(0);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listener_, 16), 0);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~CuttingProxy() {
    stop_ = true;
    thread_.join();
    for (std::thread& t : forwarders_) t.join();
    ::close(listener_);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The next connection whose answer passes `bytes` bytes is cut there.
  void CutNextAnswerAfter(uint64_t bytes) { cut_after_ = static_cast<int64_t>(bytes); }
  int connections() const { return connections_; }
  int cuts() const { return cuts_; }

 private:
  static sockaddr_in Loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
  }

  void Serve() {
    while (!stop_) {
      pollfd pfd{listener_, POLLIN, 0};
      if (::poll(&pfd, 1, 50) <= 0) continue;
      const int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0) continue;
      ++connections_;
      forwarders_.emplace_back([this, client] {
        const int server = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr = Loopback(upstream_port_);
        if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
          Forward(client, server);
        }
        ::close(server);
        ::close(client);
      });
    }
  }

  void Forward(int client, int server) {
    int64_t answered = 0;
    char buf[16384];
    while (!stop_) {
      pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (::poll(fds, 2, 50) <= 0) continue;
      if (fds[0].revents) {
        const ssize_t n = ::recv(client, buf, sizeof buf, 0);
        if (n <= 0 || ::send(server, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) return;
      }
      if (fds[1].revents) {
        ssize_t n = ::recv(server, buf, sizeof buf, 0);
        if (n <= 0) return;
        int64_t cut = cut_after_;
        if (cut >= 0 && answered + n > cut && cut_after_.compare_exchange_strong(cut, -1)) {
          n = static_cast<ssize_t>(cut - answered);
          if (n > 0) (void)::send(client, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
          ++cuts_;
          return;
        }
        answered += n;
        if (::send(client, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) return;
      }
    }
  }

  int listener_ = -1;
  int port_ = 0, upstream_port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> cut_after_{-1};
  std::atomic<int> connections_{0}, cuts_{0};
  std::thread thread_;                   // accepts
  std::vector<std::thread> forwarders_;  // one per connection; only thread_ adds to it
};

class S3ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<opendms::testing::TestS3Endpoint> endpoint = opendms::testing::SharedTestS3Endpoint();
    if (!endpoint.ok()) {
      if (!endpoint.status().IsNotFound()) FAIL() << endpoint.status().ToString();
      GTEST_SKIP() << "no S3 endpoint: " << endpoint.status().message();
    }
    endpoint_ = *endpoint;
    Status reset = opendms::testing::ResetTestS3(endpoint_);
    ASSERT_TRUE(reset.ok()) << reset.ToString();
    Result<std::unique_ptr<ObjectStore>> store = OpenS3Client(endpoint_.ClientOptions());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    Status created = store_->CreateBucket("bkt");
    ASSERT_TRUE(created.ok()) << created.ToString();
  }

  opendms::testing::TestS3Endpoint endpoint_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(S3ClientTest, FortyMegabytesStreamInAsMultipartAndOutInBoundedMemory) {
  constexpr uint64_t kSize = 40'000'000;
  constexpr size_t kPart = 8 << 20;
  const int64_t baseline = ResidentBytes();
  int64_t peak = baseline;
  // The expected multipart ETag: MD5 of the parts' binary MD5s, then "-<parts>".
  std::string part_md5s;
  Md5 part_md5;
  uint64_t produced = 0;
  ByteSource source = [&](char* dst, size_t capacity) -> Result<size_t> {
    const size_t n = static_cast<size_t>(std::min<uint64_t>({capacity, kSize - produced, 100'003}));
    for (size_t i = 0; i < n; ++i) dst[i] = PatternByte(produced + i);
    // Hash in slices that end at part boundaries.
    for (size_t done = 0; done < n;) {
      const uint64_t at = produced + done;
      const size_t slice = static_cast<size_t>(std::min<uint64_t>(n - done, kPart - at % kPart));
      part_md5.Update(dst + done, slice);
      done += slice;
      if ((at + slice) % kPart == 0 || at + slice == kSize) {
        std::string hex = part_md5.HexDigest();
        for (size_t h = 0; h < hex.size(); h += 2) {
          part_md5s.push_back(static_cast<char>(std::stoi(hex.substr(h, 2), nullptr, 16)));
        }
        part_md5 = Md5();
      }
    }
    produced += n;
    peak = std::max(peak, ResidentBytes());
    return n;
  };
  Result<ObjectInfo> put = store_->PutStream("bkt", "big/data.bin", source, {"text/plain", {}});
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->size, kSize);
  EXPECT_EQ(put->etag, Md5Hex(part_md5s) + "-5");  // 40 MB in 8 MiB parts
  EXPECT_EQ(put->content_type, "text/plain");
  EXPECT_LT(peak - baseline, 24 << 20) << "PutStream held too much of the object in memory";

  Result<ObjectInfo> head = store_->Head("bkt", "big/data.bin");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->etag, put->etag);
  EXPECT_EQ(head->size, kSize);

  // Read back in odd-sized reads, checking every byte, with memory sampled all along.
  peak = ResidentBytes();
  const int64_t read_baseline = peak;
  Result<std::unique_ptr<ObjectReader>> reader = store_->Get("bkt", "big/data.bin");
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->info().size, kSize);
  EXPECT_EQ((*reader)->info().etag, put->etag);
  std::vector<char> buf(77'777);
  uint64_t offset = 0;
  uint64_t mismatches = 0;
  while (true) {
    Result<size_t> n = (*reader)->Read(buf.data(), buf.size());
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    if (*n == 0) break;
    for (size_t i = 0; i < *n; ++i) mismatches += buf[i] != PatternByte(offset + i);
    offset += *n;
    if (offset % (4 << 20) < buf.size()) peak = std::max(peak, ResidentBytes());
  }
  EXPECT_EQ(offset, kSize);
  EXPECT_EQ(mismatches, 0u);
  EXPECT_LT(peak - read_baseline, 16 << 20) << "Get held too much of the object in memory";

  // Ranges across a part boundary, at the end, and as a suffix.
  struct Case {
    ByteRange range;
    uint64_t first, length;
  };
  const Case cases[] = {
      {{kPart - 10, kPart + 9}, kPart - 10, 20}, {{kSize - 5, std::nullopt}, kSize - 5, 5},
      {{kSize - 5, kSize + 100}, kSize - 5, 5},  {{0, std::nullopt, 1000}, kSize - 1000, 1000},
      {{12'345'678, 12'345'678}, 12'345'678, 1},
  };
  for (const Case& c : cases) {
    Result<std::unique_ptr<ObjectReader>> ranged = store_->Get("bkt", "big/data.bin", c.range);
    ASSERT_TRUE(ranged.ok()) << ranged.status().ToString();
    EXPECT_EQ((*ranged)->range_first(), c.first);
    EXPECT_EQ((*ranged)->range_length(), c.length);
    EXPECT_EQ((*ranged)->info().size, kSize);
    std::string expected;
    for (uint64_t i = 0; i < c.length; ++i) expected.push_back(PatternByte(c.first + i));
    EXPECT_EQ(ReadAll(**ranged, 7), expected) << c.first;
  }
  Result<std::unique_ptr<ObjectReader>> past =
      store_->Get("bkt", "big/data.bin", ByteRange{kSize, std::nullopt});
  EXPECT_TRUE(past.status().IsInvalidArgument()) << past.status().ToString();
}

TEST_F(S3ClientTest, AFailingLargeSourceAbortsItsMultipartUpload) {
  uint64_t produced = 0;
  ByteSource failing = [&](char* dst, size_t capacity) -> Result<size_t> {
    if (produced >= 10'000'000) return Status::IoError("disk went away");
    const size_t n = std::min<size_t>(capacity, 1 << 20);
    std::memset(dst, 'x', n);
    produced += n;
    return n;
  };
  Result<ObjectInfo> put = store_->PutStream("bkt", "partial.bin", failing);
  ASSERT_TRUE(put.status().IsIoError()) << put.status().ToString();
  EXPECT_TRUE(store_->Head("bkt", "partial.bin").status().IsNotFound());
  // No upload is left behind (ListMultipartUploads).
  S3Http http(endpoint_.ClientOptions());
  S3Request uploads;
  uploads.method = "GET";
  uploads.bucket = "bkt";
  uploads.query.emplace_back("uploads", std::nullopt);
  Result<S3Response> listed = http.Send(uploads);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->status, 200) << listed->body;
  EXPECT_EQ(listed->body.find("<Upload>"), std::string::npos) << listed->body;
}

TEST_F(S3ClientTest, ListingPagesPastAThousandKeys) {
  constexpr int kKeys = 1010;
  std::vector<std::string> expected;
  for (int i = 0; i < kKeys; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "%s/k%05d.csv", i % 2 ? "odd" : "even", i);
    expected.push_back(key);
  }
  // Four writers at once: the client is shared between threads.
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&] {
      for (int i = next++; i < kKeys; i = next++) {
        if (!store_->Put("bkt", expected[i], "x").ok()) ++failures;
      }
    });
  }
  for (std::thread& w : writers) w.join();
  ASSERT_EQ(failures, 0);
  std::sort(expected.begin(), expected.end());

  Result<ListResult> first = store_->List("bkt", {});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->objects.size(), 1000u);
  EXPECT_TRUE(first->truncated);
  EXPECT_EQ(first->next_start_after, expected[999]);
  int pages = 0;
  EXPECT_EQ(ListEverything(*store_, "bkt", {}, &pages), expected);
  EXPECT_EQ(pages, 2);
  ListOptions by_folder;
  by_folder.delimiter = "/";
  EXPECT_EQ(ListEverything(*store_, "bkt", by_folder),
            (std::vector<std::string>{"P:even/", "P:odd/"}));
  ListOptions odd;
  odd.prefix = "odd/";
  odd.max_keys = 300;
  std::vector<std::string> odd_keys = ListEverything(*store_, "bkt", odd, &pages);
  EXPECT_EQ(odd_keys.size(), 505u);
  EXPECT_EQ(pages, 2);
  // Continuing after a common prefix skips everything rolled up into it, with one request to S3
  // however many keys it holds.
  by_folder.start_after = "even/";
  EXPECT_EQ(ListEverything(*store_, "bkt", by_folder), (std::vector<std::string>{"P:odd/"}));
}

TEST_F(S3ClientTest, KeysThatNeedEncodingRoundTrip) {
  const std::vector<std::string> keys = {
      "sp ace/a b.csv",
      "plus+sign.csv",
      "per%cent%20.csv",
      "\xC3\xBCn\xC3\xAF/c\xC3\xB6"
      "d\xC3\xA9 \xE2\x82\xAC.csv",  // "ünï/cödé €.csv"
      "amp&eq=q?hash#.csv",
      "tilde~star*(paren)'quote\".csv",
      "semi;colon:comma,at@.csv",
  };
  for (const std::string& key : keys) {
    Result<ObjectInfo> put = store_->Put("bkt", key, "body of " + key);
    ASSERT_TRUE(put.ok()) << key << ": " << put.status().ToString();
    EXPECT_EQ(put->key, key);
  }
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(ListEverything(*store_, "bkt", {}), sorted);
  for (const std::string& key : keys) {
    Result<std::unique_ptr<ObjectReader>> reader = store_->Get("bkt", key);
    ASSERT_TRUE(reader.ok()) << key << ": " << reader.status().ToString();
    EXPECT_EQ(ReadAll(**reader), "body of " + key);
    Result<ObjectInfo> head = store_->Head("bkt", key);
    ASSERT_TRUE(head.ok()) << key;
    EXPECT_EQ(head->size, key.size() + 8);
  }
  ListOptions options;
  options.prefix = "\xC3\xBCn\xC3\xAF/";
  EXPECT_EQ(KeysOf(*store_->List("bkt", options)), (std::vector<std::string>{keys[3]}));
  options.prefix = "";
  options.delimiter = " ";
  EXPECT_EQ(ListEverything(*store_, "bkt", options),
            (std::vector<std::string>{"amp&eq=q?hash#.csv", "per%cent%20.csv", "plus+sign.csv",
                                      "semi;colon:comma,at@.csv", "P:sp ",
                                      "tilde~star*(paren)'quote\".csv",
                                      "P:\xC3\xBCn\xC3\xAF/c\xC3\xB6"
                                      "d\xC3\xA9 "}));
  options.delimiter = "";
  options.start_after = "plus+sign.csv";
  std::vector<std::string> after = ListEverything(*store_, "bkt", options);
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after.front(), "semi;colon:comma,at@.csv");
  for (const std::string& key : keys) EXPECT_TRUE(store_->Delete("bkt", key).ok()) << key;
  EXPECT_TRUE(store_->List("bkt", {})->objects.empty());
}

TEST_F(S3ClientTest, RemoteErrorsMapToStatusKindsNamingTheObject) {
  Result<std::unique_ptr<ObjectReader>> get = store_->Get("missing-bucket", "k.csv");
  ASSERT_TRUE(get.status().IsNotFound()) << get.status().ToString();
  EXPECT_EQ(get.status().aws_code(), "NoSuchBucket");
  EXPECT_NE(get.status().message().find("missing-bucket"), std::string::npos);
  Result<ListResult> list = store_->List("missing-bucket", {});
  ASSERT_TRUE(list.status().IsNotFound()) << list.status().ToString();
  EXPECT_EQ(list.status().aws_code(), "NoSuchBucket");
  get = store_->Get("bkt", "no/such key.csv");
  ASSERT_TRUE(get.status().IsNotFound()) << get.status().ToString();
  EXPECT_EQ(get.status().aws_code(), "NoSuchKey");
  EXPECT_NE(get.status().message().find("s3://bkt/no/such key.csv"), std::string::npos);
  ASSERT_TRUE(store_->Put("bkt", "x", "1").ok());
  Status not_empty = store_->DeleteBucket("bkt");
  EXPECT_TRUE(not_empty.IsInvalidState()) << not_empty.ToString();
  EXPECT_EQ(not_empty.aws_code(), "BucketNotEmpty");
  // Keys S3 allows but the store's write rules do not are still readable.
  EXPECT_TRUE(store_->Head("bkt", "a//b").status().IsNotFound());
}

TEST_F(S3ClientTest, AReadCutMidBodyResumesWhereItStoppedOrFailsIfTheObjectChanged) {
  std::string data(3'000'000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = PatternByte(i);
  ASSERT_TRUE(store_->Put("bkt", "k.bin", data).ok());
  CuttingProxy proxy(endpoint_.url);
  S3ClientOptions options = endpoint_.ClientOptions();
  options.endpoint_url = proxy.url();
  Result<std::unique_ptr<ObjectStore>> flaky = OpenS3Client(options);
  ASSERT_TRUE(flaky.ok());

  proxy.CutNextAnswerAfter(1'000'000);
  Result<std::unique_ptr<ObjectReader>> reader = (*flaky)->Get("bkt", "k.bin");
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_TRUE(ReadAll(**reader, 65536) == data) << "the resumed read differs";
  EXPECT_EQ(proxy.cuts(), 1);
  EXPECT_EQ(proxy.connections(), 2);  // the GET, and its resume

  // A ranged read resumes within its range.
  proxy.CutNextAnswerAfter(700'000);
  reader = (*flaky)->Get("bkt", "k.bin", ByteRange{500'000, 2'499'999});
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_TRUE(ReadAll(**reader, 65536) == data.substr(500'000, 2'000'000));
  EXPECT_EQ(proxy.cuts(), 2);

  // The object is replaced while a reader is cut off: the resume (If-Match) refuses to mix.
  proxy.CutNextAnswerAfter(2'000'000);
  reader = (*flaky)->Get("bkt", "k.bin");
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  char first[100];
  ASSERT_TRUE((*reader)->Read(first, sizeof first).ok());
  ASSERT_TRUE(store_->Put("bkt", "k.bin", std::string(3'000'000, 'z')).ok());
  std::vector<char> buf(65536);
  Status failure;
  uint64_t read = sizeof first;
  while (true) {
    Result<size_t> n = (*reader)->Read(buf.data(), buf.size());
    if (!n.ok()) {
      failure = n.status();
      break;
    }
    if (*n == 0) break;
    for (size_t i = 0; i < *n; ++i) ASSERT_EQ(buf[i], PatternByte(read + i)) << read + i;
    read += *n;
  }
  EXPECT_TRUE(failure.IsConnectionError()) << failure.ToString();
  EXPECT_NE(failure.message().find("changed while it was being read"), std::string::npos)
      << failure.message();
}

TEST_F(S3ClientTest, AnUnreachableEndpointIsAConnectionErrorAfterRetries) {
  S3ClientOptions options = endpoint_.ClientOptions();
  options.endpoint_url = "http://127.0.0.1:9";  // discard: nothing listens
  options.max_retries = 2;
  options.retry_base_delay = std::chrono::milliseconds(10);
  Result<std::unique_ptr<ObjectStore>> store = OpenS3Client(options);
  ASSERT_TRUE(store.ok());
  Result<ObjectInfo> head = (*store)->Head("bkt", "k");
  ASSERT_TRUE(head.status().IsConnectionError()) << head.status().ToString();
  EXPECT_NE(head.status().message().find("after 3 attempts"), std::string::npos)
      << head.status().message();
  EXPECT_NE(head.status().message().find("127.0.0.1:9"), std::string::npos);
  EXPECT_EQ(head.status().message().find(options.secret_access_key), std::string::npos);
  Result<std::unique_ptr<ObjectReader>> get = (*store)->Get("bkt", "k");
  EXPECT_TRUE(get.status().IsConnectionError()) << get.status().ToString();
}

TEST_F(S3ClientTest, BadOptionsAreRefusedNamingTheField) {
  S3ClientOptions options = endpoint_.ClientOptions();
  options.endpoint_url = "127.0.0.1:9000";
  EXPECT_NE(OpenS3Client(options).status().message().find("http://"), std::string::npos);
  options.endpoint_url = "http://host:9000/some/path";
  EXPECT_TRUE(OpenS3Client(options).status().IsInvalidArgument());
  options = endpoint_.ClientOptions();
  options.secret_access_key.clear();
  EXPECT_NE(OpenS3Client(options).status().message().find("secret access key"), std::string::npos);
}

TEST_F(S3ClientTest, WrongCredentialsAreInvalidArgumentWithTheS3Code) {
  if (!endpoint_.checks_signatures) {
    GTEST_SKIP() << "moto_server does not check signatures; run with OPENDMS_TEST_S3_ENDPOINT "
                    "(an opendms server) to test this";
  }
  S3ClientOptions options = endpoint_.ClientOptions();
  options.secret_access_key = "wrong-secret-0123456789";
  Result<std::unique_ptr<ObjectStore>> store = OpenS3Client(options);
  ASSERT_TRUE(store.ok());
  Result<ListResult> list = (*store)->List("bkt", {});
  ASSERT_TRUE(list.status().IsInvalidArgument()) << list.status().ToString();
  EXPECT_EQ(list.status().aws_code(), "SignatureDoesNotMatch");
  EXPECT_EQ(list.status().message().find(options.secret_access_key), std::string::npos);
  options = endpoint_.ClientOptions();
  options.access_key_id = "AKIDNOSUCHKEY0000000";
  store = OpenS3Client(options);
  ASSERT_TRUE(store.ok());
  Result<ObjectInfo> put = (*store)->Put("bkt", "k", "x");
  ASSERT_TRUE(put.status().IsInvalidArgument()) << put.status().ToString();
  EXPECT_EQ(put.status().aws_code(), "InvalidAccessKeyId");
}

}  // namespace
}  // namespace opendms::objectstore

// The S3 handler in process: requests are built as the HTTP layer would hand them over, pushed
// through Begin / OnBody / OnComplete, and the responses and the store are checked.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <regex>

#include "api/api.h"
#include "objectstore/objectstore.h"

namespace opendms::api {
namespace {

struct Answer {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "<none>" : it->second;
  }
  bool Has(std::string_view text) const { return body.find(text) != std::string::npos; }
};

class S3HandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "s3handler-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    auto store = objectstore::OpenDiskStore(dir_ + "/buckets");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    S3Options options;
    options.staging_dir = dir_ + "/staging";
    options.min_part_size = 10;
    options.on_object_written = [this](std::string_view b, std::string_view k) {
      written_.push_back(std::string(b) + "/" + std::string(k));
    };
    auto handler = NewS3Handler(*store_, options);
    ASSERT_TRUE(handler.ok()) << handler.status().ToString();
    handler_ = std::move(handler).value();
    ASSERT_EQ(Call("PUT", "/bkt").status, 200);
  }
  void TearDown() override {
    handler_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // `target` is the raw request target ("/bkt/a%20b?list-type=2"); the body arrives in chunks
  // of `chunk` bytes.
  Answer Call(std::string method, std::string target, std::string body = "",
              std::map<std::string, std::string> headers = {}, size_t chunk = 7) {
    HttpRequest request;
    request.method = method;
    size_t question = target.find('?');
    request.raw_path = target.substr(0, question);
    request.path = *UriDecode(request.raw_path);
    if (question != std::string::npos) {
      request.raw_query = target.substr(question + 1);
      size_t start = 0;
      while (start <= request.raw_query.size()) {
        size_t amp = request.raw_query.find('&', start);
        if (amp == std::string::npos) amp = request.raw_query.size();
        std::string item = request.raw_query.substr(start, amp - start);
        size_t eq = item.find('=');
        std::string name = item.substr(0, eq);
        std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
        if (!name.empty()) request.query.emplace_back(*UriDecode(name), *UriDecode(value));
        start = amp + 1;
      }
    }
    request.headers = headers;
    request.region = region_;
    request.service = "s3";
    request.request_id = "req-1";
    request.payload_length = body.size();
    Begun begun = handler_->Begin(request);
    HttpResponse response;
    if (begun.response) {
      response = std::move(*begun.response);
    } else {
      EXPECT_TRUE(begun.exchange);
      for (size_t at = 0; at < body.size(); at += chunk) {
        Status fed = begun.exchange->OnBody(std::string_view(body).substr(at, chunk));
        if (!fed.ok()) {
          begun.exchange->OnAbort();
          return Answer{ErrorStatusOf(fed), {}, fed.ToString()};
        }
      }
      response = begun.exchange->OnComplete();
    }
    Answer answer;
    answer.status = response.status;
    for (auto& [name, value] : response.headers) {
      std::string lower = name;
      for (char& c : lower) c = static_cast<char>(std::tolower(c));
      answer.headers[lower] = value;
    }
    answer.body = response.body;
    if (response.body_source && method != "HEAD") {
      char buf[5];
      while (true) {
        Result<size_t> n = response.body_source(buf, sizeof buf);
        EXPECT_TRUE(n.ok());
        if (!n.ok() || *n == 0) break;
        answer.body.append(buf, *n);
      }
      EXPECT_EQ(answer.body.size(), response.content_length.value_or(0));
    }
    return answer;
  }
  static int ErrorStatusOf(const Status&) { return 599; }

  std::string ObjectBytes(const std::string& key) {
    auto reader = store_->Get("bkt", key);
    if (!reader.ok()) return "<" + reader.status().ToString() + ">";
    std::string out(reader.value()->range_length(), '\0');
    size_t done = 0;
    while (done < out.size()) done += *(*reader)->Read(out.data() + done, out.size() - done);
    return out;
  }

  static std::string Between(const std::string& text, const std::string& open,
                             const std::string& close) {
    size_t a = text.find(open);
    if (a == std::string::npos) return "<missing " + open + ">";
    a += open.size();
    return text.substr(a, text.find(close, a) - a);
  }

  std::string dir_;
  std::string region_ = "us-east-1";
  std::unique_ptr<objectstore::ObjectStore> store_;
  std::unique_ptr<Handler> handler_;
  std::vector<std::string> written_;
};

TEST_F(S3HandlerTest, BucketLifecycle) {
  EXPECT_EQ(Call("PUT", "/bkt").status, 200);  // re-create in us-east-1: 200, as AWS
  region_ = "eu-west-1";
  Answer again = Call("PUT", "/bkt", "<CreateBucketConfiguration><LocationConstraint>eu-west-1"
                                     "</LocationConstraint></CreateBucketConfiguration>");
  EXPECT_EQ(again.status, 409);
  EXPECT_TRUE(again.Has("<Code>BucketAlreadyOwnedByYou</Code>"));
  EXPECT_TRUE(again.Has("<BucketName>bkt</BucketName>"));
  EXPECT_EQ(Call("PUT", "/other", "<CreateBucketConfiguration><LocationConstraint>us-west-2"
                                  "</LocationConstraint></CreateBucketConfiguration>")
                .status,
            400);
  EXPECT_EQ(Call("PUT", "/other", "<oops").status, 400);
  region_ = "us-east-1";
  EXPECT_TRUE(Call("PUT", "/Bad_Name").Has("<Code>InvalidBucketName</Code>"));

  Answer head = Call("HEAD", "/bkt");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("x-amz-bucket-region"), "us-east-1");
  EXPECT_EQ(Call("HEAD", "/nope").status, 404);
  Answer list = Call("GET", "/");
  EXPECT_TRUE(list.Has("<Bucket><Name>bkt</Name><CreationDate>"));
  EXPECT_TRUE(Call("GET", "/bkt?location").Has("<LocationConstraint xmlns="));

  ASSERT_EQ(Call("PUT", "/bkt/k", "x").status, 200);
  Answer not_empty = Call("DELETE", "/bkt");
  EXPECT_EQ(not_empty.status, 409);
  EXPECT_TRUE(not_empty.Has("<Code>BucketNotEmpty</Code>"));
  EXPECT_EQ(Call("DELETE", "/bkt/k").status, 204);
  EXPECT_EQ(Call("DELETE", "/bkt").status, 204);
  Answer gone = Call("DELETE", "/bkt");
  EXPECT_EQ(gone.status, 404);
  EXPECT_TRUE(gone.Has("<Code>NoSuchBucket</Code>"));
}

TEST_F(S3HandlerTest, PutAndGetKeepTypeMetadataEtagAndChecksum) {
  Answer put = Call("PUT", "/bkt/dir/data.csv", "id,name\n1,foo\n",
                    {{"content-type", "text/csv"},
                     {"x-amz-meta-origin", "lab"},
                     {"x-amz-checksum-crc32", "GfDGtA=="},
                     {"x-amz-sdk-checksum-algorithm", "CRC32"}});
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.Header("etag"), "\"" + HexEncode(Md5("id,name\n1,foo\n")) + "\"");
  EXPECT_EQ(put.Header("x-amz-checksum-crc32"), "GfDGtA==");
  EXPECT_EQ(written_, std::vector<std::string>{"bkt/dir/data.csv"});

  Answer get = Call("GET", "/bkt/dir/data.csv", "", {{"x-amz-checksum-mode", "ENABLED"}});
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "id,name\n1,foo\n");
  EXPECT_EQ(get.Header("content-type"), "text/csv");
  EXPECT_EQ(get.Header("x-amz-meta-origin"), "lab");
  EXPECT_EQ(get.Header("etag"), put.Header("etag"));
  EXPECT_EQ(get.Header("accept-ranges"), "bytes");
  EXPECT_TRUE(std::regex_match(get.Header("last-modified"),
                               std::regex(R"([A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT)")))
      << get.Header("last-modified");
  EXPECT_EQ(get.Header("x-amz-checksum-crc32"), "GfDGtA==");
  // Without checksum mode, no checksum.
  EXPECT_EQ(Call("GET", "/bkt/dir/data.csv").Header("x-amz-checksum-crc32"), "<none>");

  Answer head = Call("HEAD", "/bkt/dir/data.csv");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(head.Header("x-amz-meta-origin"), "lab");

  Answer range = Call("GET", "/bkt/dir/data.csv", "",
                      {{"range", "bytes=3-6"}, {"x-amz-checksum-mode", "ENABLED"}});
  EXPECT_EQ(range.status, 206);
  EXPECT_EQ(range.body, "name");
  EXPECT_EQ(range.Header("content-range"), "bytes 3-6/14");
  EXPECT_EQ(range.Header("x-amz-checksum-crc32"), "<none>");  // not the whole object
  EXPECT_EQ(Call("GET", "/bkt/dir/data.csv", "", {{"range", "bytes=-4"}}).body, "foo\n");
  EXPECT_EQ(Call("GET", "/bkt/dir/data.csv", "", {{"range", "bytes=10-"}}).body, "foo\n");
  Answer unsatisfiable = Call("GET", "/bkt/dir/data.csv", "", {{"range", "bytes=14-20"}});
  EXPECT_EQ(unsatisfiable.status, 416);
  EXPECT_TRUE(unsatisfiable.Has("<Code>InvalidRange</Code>"));

  Answer missing = Call("GET", "/bkt/dir/nope.csv");
  EXPECT_EQ(missing.status, 404);
  EXPECT_TRUE(missing.Has("<Code>NoSuchKey</Code>"));
  EXPECT_TRUE(missing.Has("<Key>dir/nope.csv</Key>"));
  EXPECT_EQ(Call("GET", "/nobucket/k").status, 404);
  EXPECT_TRUE(Call("PUT", "/nobucket/k", "x").Has("<Code>NoSuchBucket</Code>"));
}

TEST_F(S3HandlerTest, BadDigestStoresNothing) {
  Answer bad_crc = Call("PUT", "/bkt/k", "hello", {{"x-amz-checksum-crc32", "AAAAAA=="}});
  EXPECT_EQ(bad_crc.status, 400);
  EXPECT_TRUE(bad_crc.Has("<Code>BadDigest</Code>"));
  Answer bad_md5 = Call("PUT", "/bkt/k", "hello", {{"content-md5", Base64Encode(Md5("other"))}});
  EXPECT_TRUE(bad_md5.Has("<Code>BadDigest</Code>"));
  EXPECT_TRUE(store_->Head("bkt", "k").status().IsNotFound());
  EXPECT_EQ(Call("PUT", "/bkt/k", "hello", {{"content-md5", Base64Encode(Md5("hello"))}}).status,
            200);
  EXPECT_TRUE(written_ == std::vector<std::string>{"bkt/k"});
}

TEST_F(S3HandlerTest, KeysThatCouldEscapeTheBucketAreRefused) {
  for (std::string target : {"/bkt/a/../../etc/passwd", "/bkt/a%00b", "/bkt/.opendms/x",
                             "/bkt/a//b"}) {
    Answer answer = Call("PUT", target, "x");
    EXPECT_EQ(answer.status, 400) << target;
    EXPECT_TRUE(answer.Has("opendms keeps each object as a file")) << answer.body;
  }
  // Such keys name no object here: reads find nothing and deletes have nothing to do, as on S3
  // for a missing key; the store is not asked.
  EXPECT_EQ(Call("GET", "/bkt/..").status, 404);
  EXPECT_TRUE(Call("HEAD", "/bkt/a//b").status == 404);
  EXPECT_TRUE(Call("GET", "/bkt/a/../../etc/passwd").Has("<Code>NoSuchKey</Code>"));
  EXPECT_TRUE(Call("GET", "/nobkt/a//b").Has("<Code>NoSuchBucket</Code>"));
  EXPECT_EQ(Call("DELETE", "/bkt/a/../../etc/passwd").status, 204);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/etc"));
}

TEST_F(S3HandlerTest, ListObjectsV2EncodesKeysWhenAskedAndPages) {
  for (std::string key : {"sales/a b+c%d.csv", "sales/caf\xC3\xA9.csv", "sales/sub/x.csv",
                          "sales/sub/y.csv", "top.csv"}) {
    ASSERT_EQ(Call("PUT", "/bkt/" + UriEncode(key, false), "x").status, 200) << key;
  }
  Answer list = Call("GET", "/bkt?list-type=2&prefix=sales%2F&delimiter=%2F&encoding-type=url");
  ASSERT_EQ(list.status, 200);
  EXPECT_TRUE(list.Has("<EncodingType>url</EncodingType>"));
  EXPECT_TRUE(list.Has("<Key>sales/a%20b%2Bc%25d.csv</Key>")) << list.body;
  EXPECT_TRUE(list.Has("<Key>sales/caf%C3%A9.csv</Key>"));
  EXPECT_TRUE(list.Has("<CommonPrefixes><Prefix>sales/sub/</Prefix></CommonPrefixes>"));
  EXPECT_TRUE(list.Has("<KeyCount>3</KeyCount>"));
  EXPECT_TRUE(list.Has("<ChecksumAlgorithm>") == false);
  // Without encoding-type, raw keys (escaped for XML only) and no EncodingType.
  Answer raw = Call("GET", "/bkt?list-type=2&prefix=sales%2F");
  EXPECT_TRUE(raw.Has("<Key>sales/a b+c%d.csv</Key>"));
  EXPECT_FALSE(raw.Has("EncodingType"));

  // Pages of 2, following NextContinuationToken.
  std::vector<std::string> keys;
  std::string token;
  int pages = 0;
  while (true) {
    std::string target = "/bkt?list-type=2&max-keys=2&fetch-owner=true";
    if (!token.empty()) target += "&continuation-token=" + UriEncode(token);
    Answer page = Call("GET", target);
    ASSERT_EQ(page.status, 200) << page.body;
    EXPECT_TRUE(page.Has("<Owner><ID>"));
    ++pages;
    std::regex key_re("<Key>([^<]*)</Key>");
    for (std::sregex_iterator it(page.body.begin(), page.body.end(), key_re), end; it != end; ++it)
      keys.push_back((*it)[1]);
    if (!page.Has("<IsTruncated>true</IsTruncated>")) break;
    token = Between(page.body, "<NextContinuationToken>", "</NextContinuationToken>");
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(keys.size(), 5u);
  EXPECT_EQ(keys.back(), "top.csv");
  Answer after = Call("GET", "/bkt?list-type=2&start-after=sales%2Fsub%2Fy.csv");
  EXPECT_TRUE(after.Has("<Key>top.csv</Key>"));
  EXPECT_TRUE(after.Has("<KeyCount>1</KeyCount>"));
  EXPECT_TRUE(Call("GET", "/bkt?list-type=2&continuation-token=%21%21").Has("token provided is incorrect"));
  EXPECT_EQ(Call("GET", "/bkt?list-type=2&encoding-type=xml").status, 400);
}

TEST_F(S3HandlerTest, ListObjectsV1GivesNextMarkerOnlyWithADelimiter) {
  for (std::string key : {"a/1", "a/2", "b", "c"}) ASSERT_EQ(Call("PUT", "/bkt/" + key, "x").status, 200);
  Answer plain = Call("GET", "/bkt?max-keys=2");
  EXPECT_TRUE(plain.Has("<IsTruncated>true</IsTruncated>"));
  EXPECT_FALSE(plain.Has("NextMarker"));
  Answer next = Call("GET", "/bkt?max-keys=2&marker=a%2F2");
  EXPECT_TRUE(next.Has("<Key>b</Key>"));
  EXPECT_TRUE(next.Has("<Key>c</Key>"));
  Answer delimited = Call("GET", "/bkt?max-keys=2&delimiter=%2F");
  EXPECT_TRUE(delimited.Has("<CommonPrefixes><Prefix>a/</Prefix></CommonPrefixes>"));
  EXPECT_TRUE(delimited.Has("<NextMarker>b</NextMarker>")) << delimited.body;
}

TEST_F(S3HandlerTest, DeleteObjectsReportsEachKey) {
  ASSERT_EQ(Call("PUT", "/bkt/one", "1").status, 200);
  ASSERT_EQ(Call("PUT", "/bkt/two words", "2").status, 200);
  std::string body =
      "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Object><Key>one</Key></Object>"
      "<Object><Key>two words</Key></Object><Object><Key>absent</Key></Object>"
      "<Object><Key>a/../b</Key></Object></Delete>";
  Answer answer = Call("POST", "/bkt?delete", body);
  ASSERT_EQ(answer.status, 200) << answer.body;
  EXPECT_TRUE(answer.Has("<Deleted><Key>one</Key></Deleted>"));
  EXPECT_TRUE(answer.Has("<Deleted><Key>two words</Key></Deleted>"));
  EXPECT_TRUE(answer.Has("<Deleted><Key>absent</Key></Deleted>"));
  EXPECT_TRUE(answer.Has("<Error><Key>a/../b</Key><Code>InvalidArgument</Code>"));
  EXPECT_TRUE(store_->List("bkt", {})->objects.empty());
  ASSERT_EQ(Call("PUT", "/bkt/three", "3").status, 200);
  Answer quiet = Call("POST", "/bkt?delete",
                      "<Delete><Quiet>true</Quiet><Object><Key>three</Key></Object></Delete>");
  EXPECT_FALSE(quiet.Has("<Deleted>"));
  EXPECT_TRUE(Call("POST", "/bkt?delete", "<Delete></Delete>").Has("MalformedXML"));
}

TEST_F(S3HandlerTest, CopyObjectCopiesOrReplacesMetadata) {
  ASSERT_EQ(Call("PUT", "/bkt/src%20file", "payload",
                 {{"content-type", "text/plain"}, {"x-amz-meta-a", "1"}})
                .status,
            200);
  Answer copy = Call("PUT", "/bkt/dst", "", {{"x-amz-copy-source", "bkt/src%20file"}});
  ASSERT_EQ(copy.status, 200) << copy.body;
  EXPECT_TRUE(copy.Has("<CopyObjectResult"));
  EXPECT_TRUE(copy.Has("<ETag>&quot;" + HexEncode(Md5("payload")) + "&quot;</ETag>"));
  EXPECT_EQ(ObjectBytes("dst"), "payload");
  EXPECT_EQ(store_->Head("bkt", "dst")->content_type, "text/plain");
  EXPECT_EQ(store_->Head("bkt", "dst")->user_metadata.at("a"), "1");
  Answer replace = Call("PUT", "/bkt/dst2", "",
                        {{"x-amz-copy-source", "/bkt/src%20file?versionId=null"},
                         {"x-amz-metadata-directive", "REPLACE"},
                         {"content-type", "text/csv"}});
  ASSERT_EQ(replace.status, 200) << replace.body;
  EXPECT_EQ(store_->Head("bkt", "dst2")->content_type, "text/csv");
  EXPECT_TRUE(store_->Head("bkt", "dst2")->user_metadata.empty());
  EXPECT_TRUE(Call("PUT", "/bkt/dst", "", {{"x-amz-copy-source", "bkt/dst"}})
                  .Has("copy an object to itself"));
  EXPECT_EQ(Call("PUT", "/bkt/x", "", {{"x-amz-copy-source", "bkt/missing"}}).status, 404);
}

TEST_F(S3HandlerTest, MultipartUploadOutOfOrderPartsAssembleWithTheMultipartEtag) {
  Answer created = Call("POST", "/bkt/big.bin?uploads", "",
                        {{"content-type", "application/x-test"}, {"x-amz-checksum-algorithm", "CRC32"}});
  ASSERT_EQ(created.status, 200) << created.body;
  std::string id = Between(created.body, "<UploadId>", "</UploadId>");
  std::vector<std::string> parts = {std::string(12, 'a'), std::string(15, 'b'), "tail"};
  std::vector<std::string> etags(3), crcs(3);
  for (int i : {2, 0, 1}) {  // out of order
    std::string crc = Crc32ToBase64(Crc32(0, parts[i]));
    Answer part = Call("PUT", "/bkt/big.bin?partNumber=" + std::to_string(i + 1) + "&uploadId=" + id,
                       parts[i], {{"x-amz-checksum-crc32", crc}});
    ASSERT_EQ(part.status, 200) << part.body;
    etags[i] = part.Header("etag");
    crcs[i] = crc;
    EXPECT_EQ(etags[i], "\"" + HexEncode(Md5(parts[i])) + "\"");
    EXPECT_EQ(part.Header("x-amz-checksum-crc32"), crc);
  }
  Answer listed = Call("GET", "/bkt/big.bin?uploadId=" + id);
  EXPECT_TRUE(listed.Has("<PartNumber>1</PartNumber>"));
  EXPECT_TRUE(listed.Has("<Size>15</Size>"));
  Answer uploads = Call("GET", "/bkt?uploads");
  EXPECT_TRUE(uploads.Has("<UploadId>" + id + "</UploadId>"));
  EXPECT_TRUE(uploads.Has("<Key>big.bin</Key>"));

  auto complete_body = [&](std::vector<int> order, std::string first_etag) {
    std::string body = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
    for (int i : order) {
      body += "<Part><ETag>" + (i == 0 ? first_etag : etags[i]) + "</ETag><PartNumber>" +
              std::to_string(i + 1) + "</PartNumber><ChecksumCRC32>" + crcs[i] +
              "</ChecksumCRC32></Part>";
    }
    return body + "</CompleteMultipartUpload>";
  };
  std::string target = "/bkt/big.bin?uploadId=" + id;
  EXPECT_TRUE(Call("POST", target, complete_body({1, 0, 2}, etags[0])).Has("InvalidPartOrder"));
  EXPECT_TRUE(Call("POST", target, complete_body({0, 1, 2}, "\"00\"")).Has("InvalidPart"));
  EXPECT_TRUE(Call("POST", target, complete_body({2, 0}, etags[0])).Has("InvalidPartOrder"));
  EXPECT_TRUE(store_->Head("bkt", "big.bin").status().IsNotFound());

  Answer done = Call("POST", target, complete_body({0, 1, 2}, etags[0]));
  ASSERT_EQ(done.status, 200) << done.body;
  std::string md5s = Md5(parts[0]) + Md5(parts[1]) + Md5(parts[2]);
  std::string expected_etag = HexEncode(Md5(md5s)) + "-3";
  EXPECT_TRUE(done.Has("<ETag>&quot;" + expected_etag + "&quot;</ETag>")) << done.body;
  EXPECT_TRUE(done.Has("<Bucket>bkt</Bucket><Key>big.bin</Key>"));
  EXPECT_EQ(ObjectBytes("big.bin"), parts[0] + parts[1] + parts[2]);
  objectstore::ObjectInfo info = *store_->Head("bkt", "big.bin");
  EXPECT_EQ(info.etag, expected_etag);
  EXPECT_EQ(info.content_type, "application/x-test");
  std::string binary_crcs;
  for (const std::string& crc : crcs) binary_crcs += *Base64Decode(crc);
  EXPECT_EQ(info.checksum_crc32, Crc32ToBase64(Crc32(0, binary_crcs)) + "-3");
  EXPECT_EQ(written_, std::vector<std::string>{"bkt/big.bin"});
  // GetObject with checksum mode returns the composite value, which clients skip.
  EXPECT_EQ(Call("GET", "/bkt/big.bin", "", {{"x-amz-checksum-mode", "ENABLED"}})
                .Header("x-amz-checksum-type"),
            "COMPOSITE");
  // The upload is gone.
  EXPECT_TRUE(Call("POST", target, complete_body({0, 1, 2}, etags[0])).Has("NoSuchUpload"));
  EXPECT_FALSE(Call("GET", "/bkt?uploads").Has("<Upload>"));
}

TEST_F(S3HandlerTest, MultipartRulesAbortAndPartCopy) {
  std::string id = Between(Call("POST", "/bkt/k?uploads").body, "<UploadId>", "</UploadId>");
  std::string target = "/bkt/k?uploadId=" + id;
  Answer small = Call("PUT", "/bkt/k?partNumber=1&uploadId=" + id, "tiny");
  ASSERT_EQ(small.status, 200);
  ASSERT_EQ(Call("PUT", "/bkt/k?partNumber=2&uploadId=" + id, "last").status, 200);
  std::string body = "<CompleteMultipartUpload><Part><ETag>" + small.Header("etag") +
                     "</ETag><PartNumber>1</PartNumber></Part><Part><ETag>\"" +
                     HexEncode(Md5("last")) + "\"</ETag><PartNumber>2</PartNumber></Part>"
                     "</CompleteMultipartUpload>";
  Answer too_small = Call("POST", target, body);
  EXPECT_EQ(too_small.status, 400);
  EXPECT_TRUE(too_small.Has("<Code>EntityTooSmall</Code>"));
  EXPECT_EQ(Call("PUT", "/bkt/k?partNumber=0&uploadId=" + id, "x").status, 400);
  EXPECT_EQ(Call("PUT", "/bkt/other?partNumber=1&uploadId=" + id, "x").status, 404);

  // UploadPartCopy with a range, replacing part 1.
  ASSERT_EQ(Call("PUT", "/bkt/source", "0123456789abcdefghij").status, 200);
  Answer copied = Call("PUT", "/bkt/k?partNumber=1&uploadId=" + id, "",
                       {{"x-amz-copy-source", "bkt/source"},
                        {"x-amz-copy-source-range", "bytes=0-11"}});
  ASSERT_EQ(copied.status, 200) << copied.body;
  EXPECT_TRUE(copied.Has("<CopyPartResult"));
  body = "<CompleteMultipartUpload><Part><ETag>\"" + HexEncode(Md5("0123456789ab")) +
         "\"</ETag><PartNumber>1</PartNumber></Part><Part><ETag>\"" + HexEncode(Md5("last")) +
         "\"</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>";
  ASSERT_EQ(Call("POST", target, body).status, 200);
  EXPECT_EQ(ObjectBytes("k"), "0123456789ablast");

  std::string aborted = Between(Call("POST", "/bkt/a?uploads").body, "<UploadId>", "</UploadId>");
  ASSERT_EQ(Call("PUT", "/bkt/a?partNumber=1&uploadId=" + aborted, "bytes").status, 200);
  EXPECT_EQ(Call("DELETE", "/bkt/a?uploadId=" + aborted).status, 204);
  Answer again = Call("DELETE", "/bkt/a?uploadId=" + aborted);
  EXPECT_EQ(again.status, 404);
  EXPECT_TRUE(again.Has("<Code>NoSuchUpload</Code>"));
  EXPECT_EQ(Call("PUT", "/bkt/a?partNumber=1&uploadId=..%2F..%2Fx", "b").status, 404);
  EXPECT_TRUE(std::filesystem::is_empty(dir_ + "/staging/uploads"));
}

TEST_F(S3HandlerTest, UnknownSubresourcesAreNotImplementedByName) {
  Answer tagging = Call("GET", "/bkt/k?tagging");
  EXPECT_EQ(tagging.status, 501);
  EXPECT_TRUE(tagging.Has("GetObjectTagging")) << tagging.body;
  Answer versioning = Call("PUT", "/bkt?versioning", "<VersioningConfiguration/>");
  EXPECT_EQ(versioning.status, 501);
  EXPECT_TRUE(versioning.Has("PutBucketVersioning"));
  EXPECT_TRUE(Call("GET", "/bkt?policy").Has("GetBucketPolicy"));
}

}  // namespace
}  // namespace opendms::api

// S3Client: ObjectStore over any S3's REST-XML API (see objectstore.h for its semantics and
// s3_http.h for signing, retries and streaming).
#include <curl/curl.h>
#include <pugixml.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>

#include "objectstore/list_pager.h"
#include "objectstore/md5.h"
#include "objectstore/objectstore.h"
#include "objectstore/s3_http.h"
#include "objectstore/store_rules.h"

namespace opendms::objectstore {
namespace {

constexpr size_t kPartSize = 8 << 20;  // multipart part size, as the aws CLI uses
constexpr std::string_view kS3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/";

// S3's own rule for keys read, headed or deleted; keys written follow ValidateKey.
Status ValidateReadKey(std::string_view bucket, std::string_view key) {
  RETURN_IF_ERROR(ValidateBucketName(bucket));
  if (key.empty() || key.size() > 1024 || !IsValidUtf8(key)) {
    return Status::InvalidArgument("invalid key \"" + std::string(key.substr(0, 200)) +
                                   "\": S3 keys are 1 to 1024 bytes of UTF-8");
  }
  return Status::Ok();
}

std::string Unquote(std::string_view etag) {
  if (etag.starts_with("W/")) etag.remove_prefix(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return std::string(etag);
}

// "Wed, 12 Oct 2009 17:50:00 GMT" (RFC 1123, S3's Last-Modified header).
TimePoint ParseHttpDate(const std::string& text) {
  const time_t t = curl_getdate(text.c_str(), nullptr);
  return t < 0 ? TimePoint{} : std::chrono::system_clock::from_time_t(t);
}

// "2009-10-12T17:50:30.000Z" (ListObjectsV2, ListBuckets).
TimePoint ParseIso8601(const std::string& text) {
  std::tm tm{};
  int millis = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
    return TimePoint{};
  }
  const size_t dot = text.find('.');
  if (dot != std::string::npos) {
    std::string digits;
    for (size_t i = dot + 1; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]));
         ++i) {
      digits += text[i];
    }
    digits = (digits + "000").substr(0, 3);
    millis = std::atoi(digits.c_str());
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return std::chrono::system_clock::from_time_t(timegm(&tm)) + std::chrono::milliseconds(millis);
}

// What a GET/HEAD answer's headers say of the object.
ObjectInfo InfoFromHeaders(std::string_view key, const S3Response& response, uint64_t size) {
  ObjectInfo info;
  info.key = std::string(key);
  info.size = size;
  info.etag = Unquote(response.Header("etag"));
  info.last_modified = ParseHttpDate(response.Header("last-modified"));
  info.content_type = response.Header("content-type");
  if (info.content_type.empty()) info.content_type = std::string(kDefaultContentType);
  for (const auto& [name, value] : response.headers) {
    if (name.starts_with("x-amz-meta-")) info.user_metadata[name.substr(11)] = value;
  }
  for (std::string_view header : kStoredContentHeaders) {
    std::string lower(header);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const std::string& value = response.Header(lower);
    if (!value.empty()) info.content_headers[std::string(header)] = value;
  }
  return info;
}

Result<uint64_t> ParseUnsigned(std::string_view text, std::string_view what) {
  uint64_t value = 0;
  if (text.empty()) return Status::Internal("S3 answer without " + std::string(what));
  for (char c : text) {
    if (c < '0' || c > '9') {
      return Status::Internal("S3 answer with a bad " + std::string(what) + ": " +
                              std::string(text));
    }
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

std::string RawMd5Base64(std::string_view data) {
  const std::string hex = Md5Hex(data);
  std::string raw;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    raw.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return Base64Encode(raw);
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Answers are read by their root element whatever its name, as botocore does (moto names
// CompleteMultipartUpload's root CompleteMultipartUploadResponse where AWS says ...Result).
Result<pugi::xml_document> ParseXml(const S3Response& response, std::string_view what) {
  pugi::xml_document doc;
  pugi::xml_parse_result parsed = doc.load_buffer(response.body.data(), response.body.size());
  if (!parsed) {
    return Status::Internal("unreadable " + std::string(what) +
                            " answer from S3: " + parsed.description());
  }
  return doc;
}

// The Status an S3 error answer means; `request` names what was asked.
Status ErrorStatus(const S3Request& request, const S3Response& response) {
  const S3Error error = ParseS3Error(response);
  const std::string& bucket = request.bucket;
  const std::string detail = " (" + error.code + ": " + error.message + ")";
  auto aws = [&](ErrorCode kind, std::string msg) {
    return Status::Aws(kind, error.code, std::move(msg));
  };
  if (error.code == "NoSuchBucket") {
    return aws(ErrorCode::kNotFound, NoSuchBucket(bucket).message());
  }
  if (error.code == "NoSuchKey" ||
      (response.status == 404 && !request.key.empty() && error.code == "404")) {
    return aws(ErrorCode::kNotFound, NoSuchKey(bucket, request.key).message());
  }
  if (response.status == 404 && request.key.empty() && !bucket.empty()) {
    return aws(ErrorCode::kNotFound, NoSuchBucket(bucket).message());
  }
  if (error.code == "BucketAlreadyOwnedByYou" || error.code == "BucketAlreadyExists") {
    return aws(ErrorCode::kAlreadyExists, "bucket " + bucket + " already exists" + detail);
  }
  if (error.code == "BucketNotEmpty") {
    return aws(ErrorCode::kInvalidState, "bucket " + bucket + " is not empty" + detail);
  }
  if (response.status == 403 || response.status == 401) {
    return aws(ErrorCode::kInvalidArgument,
               "S3 refused " + request.Describe() + detail +
                   ": check the endpoint, the access key id and the secret key");
  }
  if (response.status == 301 || response.status == 307) {
    return aws(ErrorCode::kInvalidArgument,
               "S3 redirected " + request.Describe() + detail +
                   ": the bucket is in another region or needs another endpoint");
  }
  if (response.status >= 500) {
    return aws(ErrorCode::kConnectionError, request.Describe() + " failed" + detail);
  }
  if (response.status == 409) return aws(ErrorCode::kInvalidState, request.Describe() + detail);
  return aws(ErrorCode::kInvalidArgument,
             request.Describe() + ": HTTP " + std::to_string(response.status) + detail);
}

// ---------------------------------------------------------------------------------------------
// The reader
// ---------------------------------------------------------------------------------------------

class S3ObjectReader : public ObjectReader {
 public:
  S3ObjectReader(S3Http& http, S3Request request, std::unique_ptr<S3Stream> stream, ObjectInfo info,
                 std::string raw_etag, uint64_t first, uint64_t length, uint64_t skip)
      : http_(http),
        request_(std::move(request)),
        stream_(std::move(stream)),
        info_(std::move(info)),
        raw_etag_(std::move(raw_etag)),
        first_(first),
        length_(length),
        skip_(skip) {}

  const ObjectInfo& info() const override { return info_; }
  uint64_t range_first() const override { return first_; }
  uint64_t range_length() const override { return length_; }

  Result<size_t> Read(char* dst, size_t capacity) override {
    while (delivered_ < length_) {
      Status failure;
      if (stream_) {
        Result<size_t> n = skip_ > 0 ? Skip() : ReadFromStream(dst, capacity);
        if (n.ok() && *n > 0) {
          resumes_ = 0;  // the retry budget is per failure, not per object
          if (skip_ == 0) return n;
          continue;
        }
        failure = n.ok() ? Status::ConnectionError(request_.Describe() + ": the body ended after " +
                                                   std::to_string(delivered_) + " of " +
                                                   std::to_string(length_) + " bytes")
                         : n.status();
        if (!failure.IsConnectionError()) return failure;
        stream_.reset();
      }
      if (resumes_ >= http_.options().max_retries) {
        return failure.ok() ? Status::ConnectionError(request_.Describe() + ": cannot resume")
                            : failure;
      }
      ++resumes_;
      spdlog::warn("s3: {}; resuming at byte {}", failure.message(), first_ + delivered_);
      http_.Backoff(resumes_);
      RETURN_IF_ERROR(Resume());
    }
    return size_t{0};
  }

 private:
  Result<size_t> ReadFromStream(char* dst, size_t capacity) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(capacity, length_ - delivered_));
    ASSIGN_OR_RETURN(size_t n, stream_->Read(dst, want));
    delivered_ += n;
    return n;
  }

  // Drops bytes before the range (a server that answered a ranged GET with the whole object).
  Result<size_t> Skip() {
    char scratch[65536];
    ASSIGN_OR_RETURN(
        size_t n,
        stream_->Read(scratch, static_cast<size_t>(std::min<uint64_t>(sizeof scratch, skip_))));
    skip_ -= n;
    return n;
  }

  // A new GET for the rest of the range, pinned to the version being read.
  Status Resume() {
    S3Request request = request_;
    request.headers.erase(std::remove_if(request.headers.begin(), request.headers.end(),
                                         [](const auto& h) { return h.first == "range"; }),
                          request.headers.end());
    const uint64_t from = first_ + delivered_;
    request.headers.emplace_back("if-match", raw_etag_);
    request.headers.emplace_back(
        "range", "bytes=" + std::to_string(from) + "-" + std::to_string(first_ + length_ - 1));
    ASSIGN_OR_RETURN(std::unique_ptr<S3Stream> stream, http_.OpenStream(request));
    if (stream->status() == 412) {
      return Status::ConnectionError(request_.Describe() + " changed while it was being read (" +
                                     std::to_string(delivered_) + " of " + std::to_string(length_) +
                                     " bytes read)");
    }
    if (stream->status() == 200) {
      skip_ = from;
    } else if (stream->status() != 206) {
      return ErrorStatus(request_, stream->response());
    }
    stream_ = std::move(stream);
    return Status::Ok();
  }

  S3Http& http_;
  S3Request request_;
  std::unique_ptr<S3Stream> stream_;  // null between a failure and its resume
  ObjectInfo info_;
  std::string raw_etag_;  // as the server sent it, for If-Match
  uint64_t first_, length_;
  uint64_t skip_;  // bytes of stream_ to drop before the range starts
  uint64_t delivered_ = 0;
  int resumes_ = 0;
};

// ---------------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------------

class S3Client;

// S3Client's ObjectWriter: see S3Client::OpenWriter.
class SpoolWriter : public ObjectWriter {
 public:
  SpoolWriter(ObjectStore& store, std::string bucket, std::string key, PutOptions options,
              std::FILE* spool)
      : store_(store), bucket_(std::move(bucket)), key_(std::move(key)),
        options_(std::move(options)), spool_(spool) {}
  ~SpoolWriter() override { Abort(); }
  Status Write(std::string_view chunk) override {
    if (spool_ == nullptr) return Status::InvalidState("write after commit or abort");
    if (std::fwrite(chunk.data(), 1, chunk.size(), spool_) != chunk.size()) {
      return Status::FromErrno("spooling s3://" + bucket_ + "/" + key_, errno);
    }
    return Status::Ok();
  }
  void SetChecksumCrc32(std::string checksum) override {
    options_.checksum_crc32 = std::move(checksum);
  }
  Result<ObjectInfo> Commit() override {
    if (spool_ == nullptr) return Status::InvalidState("commit after commit or abort");
    if (std::fflush(spool_) != 0 || std::fseek(spool_, 0, SEEK_SET) != 0) {
      return Status::FromErrno("spooling s3://" + bucket_ + "/" + key_, errno);
    }
    std::FILE* spool = spool_;
    Result<ObjectInfo> info = store_.PutStream(
        bucket_, key_,
        [spool](char* dst, size_t capacity) -> Result<size_t> {
          size_t n = std::fread(dst, 1, capacity, spool);
          if (n == 0 && std::ferror(spool)) return Status::FromErrno("reading a spool file", errno);
          return n;
        },
        options_);
    Abort();
    return info;
  }
  void Abort() override {
    if (spool_ != nullptr) std::fclose(spool_);  // an unnamed file: closing removes it
    spool_ = nullptr;
  }

 private:
  ObjectStore& store_;
  std::string bucket_, key_;
  PutOptions options_;
  std::FILE* spool_;
};

class S3Client : public ObjectStore {
 public:
  explicit S3Client(S3ClientOptions options) : http_(std::move(options)) {}

  Status CreateBucket(std::string_view bucket) override {
    RETURN_IF_ERROR(ValidateBucketName(bucket));
    const std::string& region = http_.options().region;
    if (region == "us-east-1") {
      // AWS answers 200 to re-creating one's own bucket in us-east-1.
      ASSIGN_OR_RETURN(bool exists, BucketExists(bucket));
      if (exists) {
        return Status::Aws(ErrorCode::kAlreadyExists, "BucketAlreadyOwnedByYou",
                           "bucket " + std::string(bucket) + " already exists");
      }
    }
    S3Request request = ObjectRequest("PUT", bucket, "");
    std::string body;
    if (region != "us-east-1") {
      body = "<CreateBucketConfiguration xmlns=\"" + std::string(kS3Namespace) +
             "\"><LocationConstraint>" + XmlEscape(region) +
             "</LocationConstraint></CreateBucketConfiguration>";
      request.headers.emplace_back("content-type", "application/xml");
      request.body = body;
    }
    return Expect(request, {200});
  }

  Status DeleteBucket(std::string_view bucket) override {
    RETURN_IF_ERROR(ValidateBucketName(bucket));
    return Expect(ObjectRequest("DELETE", bucket, ""), {204, 200});
  }

  Result<bool> BucketExists(std::string_view bucket) override {
    RETURN_IF_ERROR(ValidateBucketName(bucket));
    S3Request request = ObjectRequest("HEAD", bucket, "");
    ASSIGN_OR_RETURN(S3Response response, http_.Send(request));
    if (response.status == 200) return true;
    if (response.status == 404) return false;
    return ErrorStatus(request, response);
  }

  Result<std::vector<BucketInfo>> ListBuckets() override {
    S3Request request = ObjectRequest("GET", "", "");
    ASSIGN_OR_RETURN(S3Response response, Call(request, {200}));
    ASSIGN_OR_RETURN(pugi::xml_document doc, ParseXml(response, "ListBuckets"));
    std::vector<BucketInfo> buckets;
    for (pugi::xml_node node : doc.document_element().child("Buckets").children("Bucket")) {
      buckets.push_back(
          BucketInfo{node.child_value("Name"), ParseIso8601(node.child_value("CreationDate"))});
    }
    std::sort(buckets.begin(), buckets.end(),
              [](const BucketInfo& a, const BucketInfo& b) { return a.name < b.name; });
    return buckets;
  }

  Result<ObjectInfo> Put(std::string_view bucket, std::string_view key, std::string_view data,
                         const PutOptions& options) override {
    RETURN_IF_ERROR(ValidateBucketAndKey(bucket, key));
    S3Request request = ObjectRequest("PUT", bucket, key);
    AddObjectHeaders(request, options);
    request.headers.emplace_back("content-md5", RawMd5Base64(data));
    request.body = data;
    ASSIGN_OR_RETURN(S3Response response, Call(request, {200}));
    return Written(bucket, key, Unquote(response.Header("etag")), data.size(), options, response);
  }

  Result<ObjectInfo> PutStream(std::string_view bucket, std::string_view key,
                               const ByteSource& source, const PutOptions& options) override {
    RETURN_IF_ERROR(ValidateBucketAndKey(bucket, key));
    std::string part(kPartSize, '\0');
    ASSIGN_OR_RETURN(size_t filled, Fill(bucket, key, source, part));
    if (filled < part.size()) {
      return Put(bucket, key, std::string_view(part.data(), filled), options);
    }
    // Large: multipart, aborted on any failure so no parts linger (and are billed) on S3.
    S3Request create = ObjectRequest("POST", bucket, key);
    create.query.emplace_back("uploads", std::nullopt);
    AddObjectHeaders(create, options);
    ASSIGN_OR_RETURN(S3Response created, Call(create, {200}));
    ASSIGN_OR_RETURN(pugi::xml_document doc, ParseXml(created, "CreateMultipartUpload"));
    const std::string upload_id = doc.document_element().child_value("UploadId");
    if (upload_id.empty()) return Status::Internal(create.Describe() + ": no UploadId in answer");

    uint64_t total = 0;
    Result<std::string> etag = UploadParts(bucket, key, upload_id, source, part, filled, total);
    if (!etag.ok()) {
      S3Request abort = ObjectRequest("DELETE", bucket, key);
      abort.query.emplace_back("uploadId", upload_id);
      Result<S3Response> aborted = http_.Send(abort);
      if (!aborted.ok() || aborted->status >= 300) {
        spdlog::warn("s3: could not abort multipart upload {} of {}: {}", upload_id,
                     ObjectUrl(bucket, key),
                     aborted.ok() ? ParseS3Error(*aborted).code : aborted.status().message());
      }
      return etag.status();
    }
    return Written(bucket, key, *etag, total, options, S3Response{});
  }

  // Pushed bytes are spooled to an unnamed temporary file (memory stays bounded whatever the
  // size) and sent by PutStream at Commit, so nothing reaches the bucket before then. S3
  // computes its own checksum and ETag: PutOptions' overrides do not apply to a remote store.
  Result<std::unique_ptr<ObjectWriter>> OpenWriter(std::string_view bucket, std::string_view key,
                                                   const PutOptions& options) override {
    RETURN_IF_ERROR(ValidateBucketAndKey(bucket, key));
    // Refused when opened, as the other stores do, not after the bytes were spooled.
    ASSIGN_OR_RETURN(bool exists, BucketExists(bucket));
    if (!exists) {
      return Status::Aws(ErrorCode::kNotFound, "NoSuchBucket",
                         "no such bucket: " + std::string(bucket));
    }
    std::FILE* spool = std::tmpfile();
    if (spool == nullptr) return Status::FromErrno("creating a spool file for " + ObjectUrl(bucket, key), errno);
    return std::unique_ptr<ObjectWriter>(
        new SpoolWriter(*this, std::string(bucket), std::string(key), options, spool));
  }

  Result<std::unique_ptr<ObjectReader>> Get(std::string_view bucket, std::string_view key,
                                            std::optional<ByteRange> range) override {
    RETURN_IF_ERROR(ValidateReadKey(bucket, key));
    S3Request request = ObjectRequest("GET", bucket, key);
    if (range) {
      if (range->suffix_length > 0) {
        request.headers.emplace_back("range", "bytes=-" + std::to_string(range->suffix_length));
      } else if (range->last && *range->last < range->first) {
        return Status::InvalidArgument("range bytes=" + std::to_string(range->first) + "-" +
                                       std::to_string(*range->last) + " selects nothing in " +
                                       ObjectUrl(bucket, key));
      } else {
        request.headers.emplace_back(
            "range", "bytes=" + std::to_string(range->first) + "-" +
                         (range->last ? std::to_string(*range->last) : std::string()));
      }
    }
    ASSIGN_OR_RETURN(std::unique_ptr<S3Stream> stream, http_.OpenStream(request));
    const S3Response& response = stream->response();
    if (response.status == 416) {
      return Status::Aws(ErrorCode::kInvalidArgument, "InvalidRange",
                         "range " + request.headers.back().second + " is not satisfiable for " +
                             ObjectUrl(bucket, key));
    }
    uint64_t first = 0, length = 0, size = 0, skip = 0;
    if (response.status == 206) {
      // "bytes first-last/size"
      const std::string& content_range = response.Header("content-range");
      unsigned long long a = 0, b = 0, total = 0;
      if (std::sscanf(content_range.c_str(), "bytes %llu-%llu/%llu", &a, &b, &total) != 3 ||
          b < a) {
        return Status::Internal(request.Describe() + ": bad Content-Range \"" + content_range +
                                "\"");
      }
      first = a;
      length = b - a + 1;
      size = total;
    } else if (response.status == 200) {
      ASSIGN_OR_RETURN(size, ParseUnsigned(response.Header("content-length"), "Content-Length"));
      // No range asked, or a server that ignores Range: the reader skips to it.
      ASSIGN_OR_RETURN(ResolvedRange resolved, ResolveRange(range, size, bucket, key));
      first = skip = resolved.first;
      length = resolved.length;
    } else {
      return ErrorStatus(request, response);
    }
    ObjectInfo info = InfoFromHeaders(key, response, size);
    std::string raw_etag = response.Header("etag");
    return std::unique_ptr<ObjectReader>(
        new S3ObjectReader(http_, std::move(request), std::move(stream), std::move(info),
                           std::move(raw_etag), first, length, skip));
  }

  Result<ObjectInfo> Head(std::string_view bucket, std::string_view key) override {
    RETURN_IF_ERROR(ValidateReadKey(bucket, key));
    ASSIGN_OR_RETURN(S3Response response, Call(ObjectRequest("HEAD", bucket, key), {200}));
    ASSIGN_OR_RETURN(uint64_t size,
                     ParseUnsigned(response.Header("content-length"), "Content-Length"));
    return InfoFromHeaders(key, response, size);
  }

  Status Delete(std::string_view bucket, std::string_view key) override {
    RETURN_IF_ERROR(ValidateReadKey(bucket, key));
    return Expect(ObjectRequest("DELETE", bucket, key), {204, 200});
  }

  Result<ListResult> List(std::string_view bucket, const ListOptions& options) override {
    RETURN_IF_ERROR(ValidateBucketName(bucket));
    ASSIGN_OR_RETURN(ListPager pager, ListPager::Make(options));
    const ListOptions& clamped = pager.options();
    // Entries at or before start_after are not returned (ListPager drops them), including the
    // common prefix start_after itself rolls up into. S3 would roll the keys after start_after
    // under that prefix up into it again, so the walk starts past all of them: after the
    // prefix followed by U+10FFFF, the greatest code point. (A key continuing the prefix with
    // U+10FFFF itself is still dropped correctly by the pager, just not skipped by S3.)
    std::string s3_start_after = clamped.start_after;
    if (std::optional<std::string> rolled = pager.CommonPrefixOf(clamped.start_after)) {
      std::string past = *rolled + "\xF4\x8F\xBF\xBF";
      if (past > s3_start_after) s3_start_after = std::move(past);
    }
    std::vector<ObjectInfo> objects;
    std::string continuation;
    while (!pager.full()) {
      S3Request request = ObjectRequest("GET", bucket, "");
      request.query = {{"list-type", "2"},
                       {"encoding-type", "url"},
                       {"max-keys", std::to_string(std::min(clamped.max_keys + 1, 1000))}};
      if (!clamped.prefix.empty()) request.query.emplace_back("prefix", clamped.prefix);
      if (!clamped.delimiter.empty()) request.query.emplace_back("delimiter", clamped.delimiter);
      if (!continuation.empty()) {
        request.query.emplace_back("continuation-token", continuation);
      } else if (!s3_start_after.empty()) {
        request.query.emplace_back("start-after", s3_start_after);
      }
      ASSIGN_OR_RETURN(S3Response response, Call(request, {200}));
      ASSIGN_OR_RETURN(pugi::xml_document doc, ParseXml(response, "ListObjectsV2"));
      pugi::xml_node result = doc.document_element();
      const bool url_encoded = std::string_view(result.child_value("EncodingType")) == "url";
      auto decode = [&](const char* text) -> Result<std::string> {
        if (!url_encoded) return std::string(text);
        // As botocore does (unquote_plus): S3 encodes a space as '+', a '+' as %2B.
        return UriDecode(text, /*plus_as_space=*/true);
      };
      // Objects and common prefixes, merged in key order (a prefix sorts where its keys do).
      std::vector<ObjectInfo> page_objects;
      for (pugi::xml_node node : result.children("Contents")) {
        ObjectInfo info;
        ASSIGN_OR_RETURN(info.key, decode(node.child_value("Key")));
        ASSIGN_OR_RETURN(info.size, ParseUnsigned(node.child_value("Size"), "Size"));
        info.etag = Unquote(node.child_value("ETag"));
        info.last_modified = ParseIso8601(node.child_value("LastModified"));
        page_objects.push_back(std::move(info));
      }
      std::vector<std::string> page_prefixes;
      for (pugi::xml_node node : result.children("CommonPrefixes")) {
        ASSIGN_OR_RETURN(std::string prefix, decode(node.child_value("Prefix")));
        page_prefixes.push_back(std::move(prefix));
      }
      size_t o = 0, p = 0;
      while (!pager.full() && (o < page_objects.size() || p < page_prefixes.size())) {
        if (p == page_prefixes.size() ||
            (o < page_objects.size() && page_objects[o].key < page_prefixes[p])) {
          const size_t before = pager.entries().size();
          pager.OfferObject(page_objects[o].key);
          if (pager.entries().size() > before) objects.push_back(std::move(page_objects[o]));
          ++o;
        } else {
          pager.OfferCommonPrefix(page_prefixes[p++]);
        }
      }
      if (std::string_view(result.child_value("IsTruncated")) != "true") break;
      continuation = result.child_value("NextContinuationToken");
      if (continuation.empty()) {
        return Status::Internal(request.Describe() +
                                ": truncated answer without NextContinuationToken");
      }
    }
    ListResult out;
    out.objects = std::move(objects);
    for (const ListPager::Entry& entry : pager.entries()) {
      if (entry.is_common_prefix) out.common_prefixes.push_back(entry.key);
    }
    out.truncated = pager.truncated();
    out.next_start_after = pager.NextStartAfter();
    return out;
  }

 private:
  static S3Request ObjectRequest(std::string method, std::string_view bucket,
                                 std::string_view key) {
    S3Request request;
    request.method = std::move(method);
    request.bucket = std::string(bucket);
    request.key = std::string(key);
    return request;
  }

  static void AddObjectHeaders(S3Request& request, const PutOptions& options) {
    request.headers.emplace_back("content-type", options.content_type.empty()
                                                     ? std::string(kDefaultContentType)
                                                     : options.content_type);
    for (const auto& [name, value] : options.user_metadata) {
      request.headers.emplace_back("x-amz-meta-" + name, value);
    }
    for (const auto& [name, value] : options.content_headers) {
      request.headers.emplace_back(name, value);
    }
  }

  // Sends `request`; an answer other than one of `ok_statuses` becomes its error Status.
  Result<S3Response> Call(const S3Request& request, std::initializer_list<long> ok_statuses) {
    ASSIGN_OR_RETURN(S3Response response, http_.Send(request));
    if (std::find(ok_statuses.begin(), ok_statuses.end(), response.status) == ok_statuses.end()) {
      return ErrorStatus(request, response);
    }
    return response;
  }
  Status Expect(const S3Request& request, std::initializer_list<long> ok_statuses) {
    return Call(request, ok_statuses).status();
  }

  // Fills `buffer` from `source` until it is full or the source ends; returns the bytes filled.
  static Result<size_t> Fill(std::string_view bucket, std::string_view key,
                             const ByteSource& source, std::string& buffer) {
    size_t filled = 0;
    while (filled < buffer.size()) {
      const size_t room = buffer.size() - filled;
      ASSIGN_OR_RETURN(size_t n, source(buffer.data() + filled, room));
      if (n > room) return SourceOverrun(bucket, key, n, room);
      if (n == 0) break;
      filled += n;
    }
    return filled;
  }

  // Uploads `first_part` (already read) and the rest of `source` as parts, then completes the
  // upload. Returns the object's ETag; `total` gets its size.
  Result<std::string> UploadParts(std::string_view bucket, std::string_view key,
                                  const std::string& upload_id, const ByteSource& source,
                                  std::string& part, size_t filled, uint64_t& total) {
    std::string complete = "<CompleteMultipartUpload xmlns=\"" + std::string(kS3Namespace) + "\">";
    for (int number = 1; filled > 0; ++number) {
      S3Request request = ObjectRequest("PUT", bucket, key);
      request.query = {{"partNumber", std::to_string(number)}, {"uploadId", upload_id}};
      request.body = std::string_view(part.data(), filled);
      request.headers.emplace_back("content-md5", RawMd5Base64(request.body));
      ASSIGN_OR_RETURN(S3Response response, Call(request, {200}));
      const std::string& etag = response.Header("etag");
      if (etag.empty()) return Status::Internal(request.Describe() + ": part without ETag");
      complete += "<Part><ETag>" + XmlEscape(etag) + "</ETag><PartNumber>" +
                  std::to_string(number) + "</PartNumber></Part>";
      total += filled;
      if (filled < part.size()) break;  // the source ended inside this part
      ASSIGN_OR_RETURN(filled, Fill(bucket, key, source, part));
    }
    complete += "</CompleteMultipartUpload>";
    S3Request request = ObjectRequest("POST", bucket, key);
    request.query = {{"uploadId", upload_id}};
    request.headers.emplace_back("content-type", "application/xml");
    request.body = complete;
    ASSIGN_OR_RETURN(S3Response response, Call(request, {200}));
    // S3 can answer 200 and still fail the completion, with an <Error> body.
    ASSIGN_OR_RETURN(pugi::xml_document doc, ParseXml(response, "CompleteMultipartUpload"));
    if (std::string_view(doc.document_element().name()) == "Error") {
      response.status = 500;
      return ErrorStatus(request, response);
    }
    const std::string etag = Unquote(doc.document_element().child_value("ETag"));
    if (etag.empty()) return Status::Internal(request.Describe() + ": no ETag in answer");
    return etag;
  }

  // What a write produced. S3's PutObject does not say when the object was last modified, so
  // ask; if someone overwrote it since, describe ours from what we sent.
  Result<ObjectInfo> Written(std::string_view bucket, std::string_view key, std::string etag,
                             uint64_t size, const PutOptions& options,
                             const S3Response& put_response) {
    Result<ObjectInfo> head = Head(bucket, key);
    if (head.ok() && head->etag == etag) return head;
    ObjectInfo info;
    info.key = std::string(key);
    info.size = size;
    info.etag = std::move(etag);
    info.content_type =
        options.content_type.empty() ? std::string(kDefaultContentType) : options.content_type;
    info.user_metadata = options.user_metadata;
    info.content_headers = options.content_headers;
    const std::string& date = put_response.Header("date");
    info.last_modified = date.empty() ? Clock::Now() : ParseHttpDate(date);
    return info;
  }

  S3Http http_;
};

}  // namespace

Status S3ClientOptions::Validate() const {
  std::string_view url = endpoint_url;
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos ||
      (url.substr(0, sep) != "http" && url.substr(0, sep) != "https")) {
    return Status::InvalidArgument("S3 endpoint \"" + endpoint_url +
                                   "\" must start with http:// or https://");
  }
  std::string_view rest = url.substr(sep + 3);
  while (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string_view::npos) {
    return Status::InvalidArgument("S3 endpoint \"" + endpoint_url +
                                   "\" must be scheme://host[:port], without a path");
  }
  if (region.empty()) return Status::InvalidArgument("S3 region must not be empty");
  if (access_key_id.empty()) return Status::InvalidArgument("S3 access key id must not be empty");
  if (secret_access_key.empty()) {
    return Status::InvalidArgument("S3 secret access key must not be empty");
  }
  if (max_retries < 0) return Status::InvalidArgument("S3 max retries must not be negative");
  if (connect_timeout.count() <= 0 || idle_timeout.count() <= 0 || retry_base_delay.count() < 0) {
    return Status::InvalidArgument("S3 timeouts must be positive");
  }
  return Status::Ok();
}

Result<std::unique_ptr<ObjectStore>> OpenS3Client(S3ClientOptions options) {
  RETURN_IF_ERROR(options.Validate());
  static std::once_flag curl_initialized;
  std::call_once(curl_initialized, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return std::unique_ptr<ObjectStore>(new S3Client(std::move(options)));
}

}  // namespace opendms::objectstore

// S3 over REST-XML: routing, buckets, objects and listings. Multipart uploads are in
// s3_multipart.cc. The wire contract (what the aws CLI and boto3 send and expect) is
// ../shared/reference/cfn-secrets-ssm.md §1.6.

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>
#include <limits>

#include "api/api.h"
#include "api/s3_handler.h"
#include "api/wire.h"
#include "api/s3_xml.h"

namespace opendms::api {
namespace s3 {

using objectstore::ByteRange;
using objectstore::ListOptions;
using objectstore::ListResult;
using objectstore::ObjectInfo;
using objectstore::ObjectReader;
using objectstore::ObjectWriter;
using objectstore::PutOptions;

namespace {

constexpr size_t kXmlBodyLimit = 4 << 20;  // DeleteObjects of 1,000 long keys fits
constexpr size_t kCopyBufferSize = 1 << 20;

// Query parameters that name an S3 subresource (an operation of their own). A request carrying
// one that its route does not implement is answered 501 NotImplemented naming the operation.
constexpr std::array kSubresources{
    "accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption",
    "intelligent-tiering", "inventory", "legal-hold", "lifecycle", "location", "logging",
    "metrics", "notification", "object-lock", "ownershipControls", "partNumber", "policy",
    "policyStatus", "publicAccessBlock", "replication", "requestPayment", "restore", "retention",
    "select", "tagging", "torrent", "uploadId", "uploads", "versioning", "versions", "website"};

std::string CamelCase(std::string_view name) {
  std::string out;
  bool upper = true;
  for (char c : name) {
    if (c == '-') {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return out;
}

Status NotImplemented(const HttpRequest& request, const Target& target) {
  std::string subresource;
  for (const auto& [name, value] : request.query) {
    if (std::find(kSubresources.begin(), kSubresources.end(), name) != kSubresources.end()) {
      subresource = name;
      break;
    }
  }
  std::string verb = request.method.empty() ? "" : CamelCase(request.method);
  for (size_t i = 1; i < verb.size(); ++i) verb[i] = static_cast<char>(std::tolower(verb[i]));
  std::string operation = verb + (target.key.empty() ? "Bucket" : "Object") +
                          CamelCase(subresource);
  std::string shown = request.method + " " + request.raw_path +
                      (request.raw_query.empty() ? "" : "?" + request.raw_query);
  return Status::Aws(ErrorCode::kInvalidArgument, "NotImplemented",
                     "opendms does not implement the S3 operation " + operation + " (" + shown +
                         ")");
}

Status InvalidKey(const Status& why) {
  return Status::Aws(ErrorCode::kInvalidArgument, "InvalidArgument",
                     why.message() +
                         ". S3 accepts such keys, but opendms keeps each object as a file under "
                         "its bucket's folder and refuses keys that could escape it or could "
                         "not be stored as a path");
}

Status InvalidBucketName(const Status& why) {
  return Status::Aws(ErrorCode::kInvalidArgument, "InvalidBucketName", why.message());
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "bytes=a-b" / "bytes=a-" / "bytes=-n". S3 ignores a Range header it cannot parse (and serves
// several ranges as the whole object), so those yield nullopt; "bytes=-0" is unsatisfiable.
Result<std::optional<ByteRange>> ParseRange(std::string_view header) {
  if (!header.starts_with("bytes=")) return std::optional<ByteRange>();
  std::string_view spec = header.substr(6);
  if (spec.find(',') != std::string_view::npos) return std::optional<ByteRange>();
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return std::optional<ByteRange>();
  auto number = [](std::string_view digits) -> std::optional<uint64_t> {
    if (digits.empty() || digits.size() > 19) return std::nullopt;
    uint64_t v = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
  };
  std::string_view first = spec.substr(0, dash), last = spec.substr(dash + 1);
  ByteRange range;
  if (first.empty()) {
    std::optional<uint64_t> suffix = number(last);
    if (!suffix) return std::optional<ByteRange>();
    if (*suffix == 0) {
      return Status::Aws(ErrorCode::kInvalidArgument, "InvalidRange",
                         "The requested range bytes=-0 is not satisfiable");
    }
    range.suffix_length = *suffix;
    return std::optional<ByteRange>(range);
  }
  std::optional<uint64_t> a = number(first);
  if (!a) return std::optional<ByteRange>();
  range.first = *a;
  if (!last.empty()) {
    std::optional<uint64_t> b = number(last);
    if (!b || *b < *a) return std::optional<ByteRange>();
    range.last = *b;
  }
  return std::optional<ByteRange>(range);
}

// ListObjects' max-keys: 0..; above 1000 means 1000, as S3 does.
Result<int> ParseMaxKeys(const HttpRequest& request, std::string_view name) {
  const std::string* text = request.Query(name);
  if (!text) return 1000;
  int value = 0;
  bool ok = !text->empty() && text->size() <= 9 &&
            std::all_of(text->begin(), text->end(), [](char c) { return c >= '0' && c <= '9'; });
  if (ok) value = std::stoi(*text);
  if (!ok) {
    return Status::Aws(ErrorCode::kInvalidArgument, "InvalidArgument",
                       "Provided " + std::string(name) + " \"" + *text +
                           "\" is not an integer between 0 and 2147483647");
  }
  return std::min(value, 1000);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

HttpResponse Error(const Status& error, const HttpRequest& request) {
  return ErrorResponse(Protocol::kRestXml, error, request);
}

HttpResponse NoContent() {
  HttpResponse response;
  response.status = 204;
  return response;
}

// An HTTP date (IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT"); nullopt when it is not one (S3
// then ignores the condition, as RFC 9110 says).
std::optional<TimePoint> ParseHttpDate(const std::string& text) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

// Whether an If-Match / If-None-Match list ("\"a\", \"b\"" or "*") names `etag` (unquoted).
bool EtagListMatches(std::string_view list, std::string_view etag) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view item = list.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.starts_with("W/")) item.remove_prefix(2);
    if (item.size() >= 2 && item.front() == '"' && item.back() == '"') {
      item = item.substr(1, item.size() - 2);
    }
    if (item == "*" || item == etag) return true;
    start = comma + 1;
  }
  return false;
}

// S3's conditional GET/HEAD (RFC 9110 §13.2.2 order): 412 PreconditionFailed when If-Match
// fails (or, without If-Match, If-Unmodified-Since), 304 when If-None-Match matches (or, without
// it, nothing changed since If-Modified-Since). nullopt: serve the object. Times compare at
// whole seconds, the resolution of Last-Modified.
std::optional<int> FailedCondition(const HttpRequest& request, const ObjectInfo& info) {
  const auto seconds = [](TimePoint t) {
    return std::chrono::time_point_cast<std::chrono::seconds>(t);
  };
  const auto modified = seconds(info.last_modified);
  if (const std::string* if_match = request.Header("if-match")) {
    if (!EtagListMatches(*if_match, info.etag)) return 412;
  } else if (const std::string* since = request.Header("if-unmodified-since")) {
    std::optional<TimePoint> at = ParseHttpDate(*since);
    if (at && modified > seconds(*at)) return 412;
  }
  if (const std::string* if_none_match = request.Header("if-none-match")) {
    if (EtagListMatches(*if_none_match, info.etag)) return 304;
  } else if (const std::string* since = request.Header("if-modified-since")) {
    std::optional<TimePoint> at = ParseHttpDate(*since);
    if (at && modified <= seconds(*at)) return 304;
  }
  return std::nullopt;
}

HttpResponse XmlResponse(std::string body, int status) {
  HttpResponse response;
  response.status = status;
  response.SetHeader("Content-Type", "application/xml");
  response.body = std::move(body);
  return response;
}

void SetObjectHeaders(HttpResponse& response, const ObjectInfo& info) {
  response.SetHeader("Content-Type", info.content_type);
  response.SetHeader("ETag", QuotedEtag(info.etag));
  response.SetHeader("Last-Modified", HttpDate(info.last_modified));
  response.SetHeader("Accept-Ranges", "bytes");
  for (const auto& [name, value] : info.user_metadata) {
    response.SetHeader("x-amz-meta-" + name, value);
  }
  for (const auto& [name, value] : info.content_headers) response.SetHeader(name, value);
}

PutOptions PutOptionsFrom(const HttpRequest& request) {
  PutOptions options;
  options.content_type = request.HeaderOr("content-type");
  for (const auto& [name, value] : request.headers) {
    if (name.starts_with("x-amz-meta-") && name.size() > 11) {
      options.user_metadata[name.substr(11)] = value;
    }
  }
  // (The HTTP layer has already taken aws-chunked, the transfer's framing, out of
  // Content-Encoding.)
  for (std::string_view header : objectstore::kStoredContentHeaders) {
    const std::string* value = request.Header(Lower(header));
    if (value != nullptr && !value->empty()) options.content_headers[std::string(header)] = *value;
  }
  return options;
}

bool ClientSentCrc32(const HttpRequest& request) {
  return request.Header("x-amz-checksum-crc32") != nullptr ||
         Lower(request.HeaderOr("x-amz-trailer")).find("x-amz-checksum-crc32") !=
             std::string::npos ||
         Lower(request.HeaderOr("x-amz-sdk-checksum-algorithm")) == "crc32";
}

Result<Target> ParseCopySource(std::string_view header) {
  std::string_view raw = header;
  size_t question = raw.find('?');
  std::string_view version;
  if (question != std::string_view::npos) {
    std::string_view query = raw.substr(question + 1);
    raw = raw.substr(0, question);
    if (query.starts_with("versionId=")) version = query.substr(10);
  }
  auto bad = [&](std::string why) {
    return Status::Aws(ErrorCode::kInvalidArgument, "InvalidArgument",
                       "Invalid copy source \"" + std::string(header) + "\": " + why);
  };
  // Versioning is off: the only version an object has is "null".
  if (!version.empty() && version != "null") {
    return Status::Aws(ErrorCode::kNotFound, "NoSuchVersion",
                       "The specified version " + std::string(version) +
                           " does not exist (opendms buckets are not versioned)");
  }
  Result<std::string> decoded = UriDecode(raw);
  if (!decoded.ok()) return bad(decoded.status().message());
  std::string_view path = *decoded;
  if (path.starts_with('/')) path.remove_prefix(1);
  size_t slash = path.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == path.size()) {
    return bad("expected \"bucket/key\"");
  }
  return Target{std::string(path.substr(0, slash)), std::string(path.substr(slash + 1))};
}

Status CopyBytes(ObjectReader& reader, ObjectWriter& writer, uint32_t* crc32) {
  std::unique_ptr<char[]> buffer(new char[kCopyBufferSize]);
  if (crc32 != nullptr) *crc32 = 0;
  while (true) {
    ASSIGN_OR_RETURN(size_t n, reader.Read(buffer.get(), kCopyBufferSize));
    if (n == 0) return Status::Ok();
    std::string_view chunk(buffer.get(), n);
    if (crc32 != nullptr) *crc32 = Crc32(*crc32, chunk);
    RETURN_IF_ERROR(writer.Write(chunk));
  }
}

namespace {

class WriteBody final : public Exchange {
 public:
  WriteBody(std::unique_ptr<ObjectWriter> writer, const HttpRequest& request,
            std::function<HttpResponse(ObjectWriter&)> commit)
      : writer_(std::move(writer)), request_(request), commit_(std::move(commit)) {
    if (const std::string* md5 = request.Header("content-md5")) {
      expected_md5_ = *md5;
      md5_.emplace();
    }
  }

  Status OnBody(std::string_view chunk) override {
    crc_ = Crc32(crc_, chunk);
    if (md5_) md5_->Update(chunk);
    return writer_->Write(chunk);
  }

  HttpResponse OnComplete() override {
    if (md5_) {
      std::string actual = Base64Encode(md5_->Finish());
      if (actual != expected_md5_) {
        writer_->Abort();
        return Error(Status::Aws(ErrorCode::kInvalidArgument, "BadDigest",
                                 "The Content-MD5 you specified (" + expected_md5_ +
                                     ") did not match what we received (" + actual + ")"),
                     request_);
      }
    }
    std::string crc = Crc32ToBase64(crc_);
    if (const std::string* sent = request_.Header("x-amz-checksum-crc32"); sent && *sent != crc) {
      writer_->Abort();
      return Error(Status::Aws(ErrorCode::kInvalidArgument, "BadDigest",
                               "The CRC32 you specified (" + *sent +
                                   ") did not match the calculated checksum (" + crc + ")"),
                   request_);
    }
    if (ClientSentCrc32(request_)) writer_->SetChecksumCrc32(crc);
    return commit_(*writer_);
  }

  void OnAbort() override { writer_->Abort(); }

 private:
  std::unique_ptr<ObjectWriter> writer_;
  const HttpRequest request_;
  std::function<HttpResponse(ObjectWriter&)> commit_;
  uint32_t crc_ = 0;
  std::optional<Md5Hasher> md5_;
  std::string expected_md5_;
};

}  // namespace

std::unique_ptr<Exchange> WriteBodyExchange(std::unique_ptr<ObjectWriter> writer,
                                            const HttpRequest& request,
                                            std::function<HttpResponse(ObjectWriter&)> commit) {
  return std::make_unique<WriteBody>(std::move(writer), request, std::move(commit));
}

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------

Begun S3Handler::Begin(HttpRequest& request) {
  std::string_view path = request.path;
  if (path.starts_with('/')) path.remove_prefix(1);
  if (path.empty()) {
    if (request.method == "GET") return ListBuckets(request);
    return {Error(NotImplemented(request, {}), request), nullptr};
  }
  Target target;
  size_t slash = path.find('/');
  target.bucket = std::string(path.substr(0, slash));
  if (slash != std::string_view::npos) target.key = std::string(path.substr(slash + 1));
  return Route(request, target);
}

Begun S3Handler::Route(HttpRequest& request, const Target& target) {
  auto answer = [](HttpResponse response) { return Begun{std::move(response), nullptr}; };
  const std::string& method = request.method;
  bool create = method == "PUT" && target.key.empty() && request.query.empty();
  if (!create) {
    Status bucket_ok = objectstore::ValidateBucketName(target.bucket);
    if (!bucket_ok.ok()) return answer(Error(InvalidBucketName(bucket_ok), request));
  }

  if (target.key.empty()) {
    bool sub = std::any_of(request.query.begin(), request.query.end(), [](const auto& item) {
      return std::find(kSubresources.begin(), kSubresources.end(), item.first) !=
             kSubresources.end();
    });
    if (method == "PUT" && !sub) return CreateBucket(request, target);
    if (method == "DELETE" && !sub) return answer(DeleteBucket(request, target));
    if (method == "HEAD" && !sub) return answer(HeadBucket(request, target));
    if (method == "GET") {
      if (request.HasQuery("location")) return answer(GetBucketLocation(request, target));
      if (request.HasQuery("uploads")) return answer(ListMultipartUploads(request, target));
      if (!sub) return answer(ListObjects(request, target, request.HasQuery("list-type")));
    }
    if (method == "POST" && request.HasQuery("delete")) return DeleteObjects(request, target);
    return answer(Error(NotImplemented(request, target), request));
  }

  bool has_upload_id = request.HasQuery("uploadId");
  Status key_ok = objectstore::ValidateKey(target.key);
  if (!key_ok.ok()) {
    // S3 takes any key of 1–1024 bytes; this store holds only keys that map safely onto files
    // (ValidateKey), so another key names no object here: reading it finds nothing and deleting
    // it has nothing to do, as on S3 for a missing key, without asking the store. Writes are
    // refused, saying why.
    const bool read_or_delete =
        (method == "GET" || method == "HEAD" || method == "DELETE") && !has_upload_id;
    if (!read_or_delete || target.key.size() > 1024) {
      return answer(Error(InvalidKey(key_ok), request));
    }
    Result<bool> bucket_exists = store_.BucketExists(target.bucket);
    if (!bucket_exists.ok()) return answer(Error(bucket_exists.status(), request));
    if (!*bucket_exists) {
      return answer(Error(Status::Aws(ErrorCode::kNotFound, "NoSuchBucket",
                                      "The specified bucket does not exist: " + target.bucket),
                          request));
    }
    if (method == "DELETE") return answer(NoContent());
    return answer(Error(Status::Aws(ErrorCode::kNotFound, "NoSuchKey",
                                    "The specified key does not exist: " + target.key),
                        request));
  }
  // Subresources other than the multipart ones are not implemented on objects.
  for (const auto& [name, value] : request.query) {
    if (name != "uploadId" && name != "partNumber" && name != "uploads" &&
        std::find(kSubresources.begin(), kSubresources.end(), name) != kSubresources.end()) {
      return answer(Error(NotImplemented(request, target), request));
    }
  }
  if (method == "PUT") {
    if (has_upload_id && request.HasQuery("partNumber")) {
      if (request.Header("x-amz-copy-source")) return answer(UploadPartCopy(request, target));
      return UploadPart(request, target);
    }
    if (has_upload_id) return answer(Error(NotImplemented(request, target), request));
    if (request.Header("x-amz-copy-source")) return answer(CopyObject(request, target));
    return PutObject(request, target);
  }
  if (method == "GET") {
    if (has_upload_id) return answer(ListParts(request, target));
    return answer(GetObject(request, target, /*head=*/false));
  }
  if (method == "HEAD") return answer(GetObject(request, target, /*head=*/true));
  if (method == "DELETE") {
    if (has_upload_id) return answer(AbortMultipartUpload(request, target));
    return answer(DeleteObject(request, target));
  }
  if (method == "POST") {
    if (request.HasQuery("uploads")) return answer(CreateMultipartUpload(request, target));
    if (has_upload_id) return CompleteMultipartUpload(request, target);
  }
  return answer(Error(NotImplemented(request, target), request));
}

Status S3Handler::S3Error(const Status& error, const Target& target) {
  if (!error.aws_code().empty()) return error;
  switch (error.code()) {
    case ErrorCode::kNotFound: {
      Result<bool> exists = store_.BucketExists(target.bucket);
      if (exists.ok() && !*exists) {
        return Status::Aws(ErrorCode::kNotFound, "NoSuchBucket",
                           "The specified bucket does not exist: " + target.bucket);
      }
      return Status::Aws(ErrorCode::kNotFound, "NoSuchKey",
                         "The specified key does not exist: " + target.key);
    }
    case ErrorCode::kInvalidState:  // the only one the store returns: DeleteBucket
      return Status::Aws(ErrorCode::kInvalidState, "BucketNotEmpty",
                         "The bucket you tried to delete is not empty: " + error.message());
    case ErrorCode::kAlreadyExists:
      // DiskStore: a key cannot be both an object and a folder of other keys on disk.
      return Status::Aws(ErrorCode::kInvalidArgument, "InvalidRequest", error.message());
    case ErrorCode::kInvalidArgument:
      if (error.message().starts_with("invalid bucket name")) return InvalidBucketName(error);
      if (error.message().starts_with("invalid key")) return InvalidKey(error);
      return Status::Aws(ErrorCode::kInvalidArgument, "InvalidArgument", error.message());
    default:
      return error;
  }
}

Status S3Handler::RequireBucket(std::string_view bucket) {
  Result<bool> exists = store_.BucketExists(bucket);
  if (!exists.ok()) return S3Error(exists.status(), {std::string(bucket), ""});
  if (!*exists) {
    return Status::Aws(ErrorCode::kNotFound, "NoSuchBucket",
                       "The specified bucket does not exist: " + std::string(bucket));
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Buckets
// ---------------------------------------------------------------------------------------------

// Buckets in name order. With max-buckets, pages of that many and a ContinuationToken (the
// base64 of the last name returned); bucket-region filters on this server's one region.
Begun S3Handler::ListBuckets(const HttpRequest& request) {
  Result<std::vector<objectstore::BucketInfo>> buckets = store_.ListBuckets();
  if (!buckets.ok()) return {Error(buckets.status(), request), nullptr};
  std::sort(buckets->begin(), buckets->end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  const std::string* prefix_param = request.Query("prefix");
  const std::string* max_param = request.Query("max-buckets");
  const std::string* token = request.Query("continuation-token");
  const std::string* region = request.Query("bucket-region");
  size_t max_buckets = std::numeric_limits<size_t>::max();
  if (max_param != nullptr) {
    const bool digits = !max_param->empty() && max_param->size() <= 5 &&
                        std::all_of(max_param->begin(), max_param->end(),
                                    [](char c) { return c >= '0' && c <= '9'; });
    const size_t n = digits ? std::stoul(*max_param) : 0;
    if (n < 1 || n > 10000) {
      return {Error(Status::Aws(ErrorCode::kInvalidArgument, "InvalidArgument",
                                "max-buckets must be a number from 1 to 10000, got '" +
                                    *max_param + "'"),
                    request),
              nullptr};
    }
    max_buckets = n;
  }
  std::string after;
  if (token != nullptr) {
    Result<std::string> decoded = Base64Decode(*token);
    if (!decoded.ok() || decoded->empty()) {
      return {Error(Status::Aws(ErrorCode::kInvalidArgument, "InvalidArgument",
                                "The continuation token provided is incorrect"),
                    request),
              nullptr};
    }
    after = *decoded;
  }
  XmlWriter xml("ListAllMyBucketsResult");
  xml.Open("Owner")
      .Element("ID", options_.owner_id)
      .Element("DisplayName", options_.owner_display_name)
      .Close("Owner");
  xml.Open("Buckets");
  size_t listed = 0;
  std::string next_token;
  if (region == nullptr || *region == options_.region) {
    for (const objectstore::BucketInfo& bucket : *buckets) {
      if (prefix_param != nullptr && !bucket.name.starts_with(*prefix_param)) continue;
      if (!after.empty() && bucket.name <= after) continue;
      if (listed == max_buckets) {
        next_token = Base64Encode(after);
        break;
      }
      xml.Open("Bucket")
          .Element("Name", bucket.name)
          .Element("CreationDate", XmlDate(bucket.creation_date))
          .Element("BucketRegion", options_.region)
          .Close("Bucket");
      after = bucket.name;
      ++listed;
    }
  }
  xml.Close("Buckets");
  if (!next_token.empty()) xml.Element("ContinuationToken", next_token);
  if (prefix_param != nullptr && !prefix_param->empty()) xml.Element("Prefix", *prefix_param);
  return {XmlResponse(xml.Finish()), nullptr};
}

Begun S3Handler::CreateBucket(const HttpRequest& request, const Target& target) {
  Status valid = objectstore::ValidateBucketName(target.bucket);
  if (!valid.ok()) return {Error(InvalidBucketName(valid), request), nullptr};
  Status too_large = Status::Aws(ErrorCode::kInvalidArgument, "MalformedXML",
                                 "The CreateBucketConfiguration document is too large");
  auto complete = [this, request, target](std::string body) -> HttpResponse {
    Result<std::string> location = ParseCreateBucketConfiguration(body);
    if (!location.ok()) return Error(location.status(), request);
    std::string region = request.region.empty() ? options_.region : request.region;
    if (!location->empty() && *location != region) {
      return Error(Status::Aws(ErrorCode::kInvalidArgument, "IllegalLocationConstraintException",
                               "The " + *location +
                                   " location constraint is incompatible for the region "
                                   "specific endpoint this request was sent to (" +
                                   region + ")"),
                   request);
    }
    Status created = store_.CreateBucket(target.bucket);
    if (created.IsAlreadyExists()) {
      // AWS answers a re-create of one's own bucket with 200 in us-east-1 only.
      if (region != "us-east-1") {
        return Error(Status::Aws(ErrorCode::kAlreadyExists, "BucketAlreadyOwnedByYou",
                                 "Your previous request to create the named bucket succeeded "
                                 "and you already own it: " +
                                     target.bucket),
                     request);
      }
    } else if (!created.ok()) {
      return Error(S3Error(created, target), request);
    }
    HttpResponse response;
    response.SetHeader("Location", "/" + target.bucket);
    return response;
  };
  return {std::nullopt, BufferBody(64 << 10, too_large, std::move(complete))};
}

HttpResponse S3Handler::DeleteBucket(const HttpRequest& request, const Target& target) {
  Status deleted = store_.DeleteBucket(target.bucket);
  if (!deleted.ok()) return Error(S3Error(deleted, target), request);
  return NoContent();
}

HttpResponse S3Handler::HeadBucket(const HttpRequest& request, const Target& target) {
  Status exists = RequireBucket(target.bucket);
  if (!exists.ok()) return Error(exists, request);
  HttpResponse response;
  response.SetHeader("x-amz-bucket-region", options_.region);
  return response;
}

HttpResponse S3Handler::GetBucketLocation(const HttpRequest& request, const Target& target) {
  Status exists = RequireBucket(target.bucket);
  if (!exists.ok()) return Error(exists, request);
  // us-east-1 is written as an empty constraint, as S3 does.
  std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"" +
                     std::string(kS3Namespace) + "\">" +
                     (options_.region == "us-east-1" ? "" : options_.region) +
                     "</LocationConstraint>";
  return XmlResponse(std::move(body));
}

// ---------------------------------------------------------------------------------------------
// Listings
// ---------------------------------------------------------------------------------------------

HttpResponse S3Handler::ListObjects(const HttpRequest& request, const Target& target, bool v2) {
  auto param = [&](std::string_view name) {
    const std::string* value = request.Query(name);
    return value ? *value : std::string();
  };
  if (v2 && param("list-type") != "2") {
    return Error(Status::Aws(ErrorCode::kInvalidArgument, "InvalidArgument",
                             "Invalid list-type \"" + param("list-type") + "\"; only 2 exists"),
                 request);
  }
  std::string encoding = param("encoding-type");
  if (!encoding.empty() && encoding != "url") {
    return Error(Status::Aws(ErrorCode::kInvalidArgument, "InvalidArgument",
                             "Invalid Encoding Method specified in Request: encoding-type=" +
                                 encoding + " (only \"url\" exists)"),
                 request);
  }
  bool url = encoding == "url";
  // With encoding-type=url the client unquote_plus-decodes these fields, so they must be
  // percent-encoded ('+' as %2B, space as %20); '/' may stay.
  auto out = [url](std::string_view value) {
    return url ? UriEncode(value, /*encode_slash=*/false) : std::string(value);
  };
  Result<int> max_keys = ParseMaxKeys(request, "max-keys");
  if (!max_keys.ok()) return Error(max_keys.status(), request);

  ListOptions options;
  options.prefix = param("prefix");
  options.delimiter = param("delimiter");
  std::string token = param("continuation-token");
  if (v2 && request.HasQuery("continuation-token")) {
    Result<std::string> decoded = Base64Decode(token, "continuation-token");
    if (!decoded.ok() || decoded->empty()) {
      return Error(Status::Aws(ErrorCode::kInvalidArgument, "InvalidArgument",
                               "The continuation token provided is incorrect"),
                   request);
    }
    options.start_after = *decoded;
  } else {
    options.start_after = v2 ? param("start-after") : param("marker");
  }
  options.max_keys = std::max(*max_keys, 1);

  ListResult result;
  if (*max_keys > 0) {
    Result<ListResult> listed = store_.List(target.bucket, options);
    if (!listed.ok()) return Error(S3Error(listed.status(), target), request);
    result = std::move(listed).value();
  } else {
    Status exists = RequireBucket(target.bucket);
    if (!exists.ok()) return Error(exists, request);
  }
  bool fetch_owner = !v2 || param("fetch-owner") == "true";

  XmlWriter xml("ListBucketResult");
  xml.Element("Name", target.bucket).Element("Prefix", out(options.prefix));
  if (!options.delimiter.empty()) xml.Element("Delimiter", out(options.delimiter));
  xml.Element("MaxKeys", static_cast<uint64_t>(*max_keys));
  if (url) xml.Element("EncodingType", "url");
  if (v2) {
    xml.Element("KeyCount",
                static_cast<uint64_t>(result.objects.size() + result.common_prefixes.size()));
  }
  xml.Element("IsTruncated", result.truncated);
  if (v2) {
    if (request.HasQuery("continuation-token")) xml.Element("ContinuationToken", token);
    if (result.truncated) {
      xml.Element("NextContinuationToken", Base64Encode(result.next_start_after));
    }
    if (request.HasQuery("start-after")) xml.Element("StartAfter", out(param("start-after")));
  } else {
    xml.Element("Marker", out(param("marker")));
    // As S3: NextMarker only with a delimiter (without one, clients continue from the last key).
    if (result.truncated && !options.delimiter.empty()) {
      xml.Element("NextMarker", out(result.next_start_after));
    }
  }
  for (const ObjectInfo& object : result.objects) {
    xml.Open("Contents")
        .Element("Key", out(object.key))
        .Element("LastModified", XmlDate(object.last_modified))
        .Element("ETag", QuotedEtag(object.etag));
    if (!object.checksum_crc32.empty()) xml.Element("ChecksumAlgorithm", "CRC32");
    xml.Element("Size", object.size);
    if (fetch_owner) {
      xml.Open("Owner")
          .Element("ID", options_.owner_id)
          .Element("DisplayName", options_.owner_display_name)
          .Close("Owner");
    }
    xml.Element("StorageClass", "STANDARD").Close("Contents");
  }
  for (const std::string& prefix : result.common_prefixes) {
    xml.Open("CommonPrefixes").Element("Prefix", out(prefix)).Close("CommonPrefixes");
  }
  return XmlResponse(xml.Finish());
}

// ---------------------------------------------------------------------------------------------
// Objects
// ---------------------------------------------------------------------------------------------

Begun S3Handler::PutObject(const HttpRequest& request, const Target& target) {
  Result<std::unique_ptr<ObjectWriter>> writer =
      store_.OpenWriter(target.bucket, target.key, PutOptionsFrom(request));
  if (!writer.ok()) return {Error(S3Error(writer.status(), target), request), nullptr};
  auto commit = [this, request, target](ObjectWriter& writer) -> HttpResponse {
    Result<ObjectInfo> info = writer.Commit();
    if (!info.ok()) return Error(S3Error(info.status(), target), request);
    Written(target.bucket, target.key);
    HttpResponse response;
    response.SetHeader("ETag", QuotedEtag(info->etag));
    if (!info->checksum_crc32.empty()) {
      response.SetHeader("x-amz-checksum-crc32", info->checksum_crc32);
    }
    return response;
  };
  return {std::nullopt, WriteBodyExchange(std::move(writer).value(), request, commit)};
}

HttpResponse S3Handler::GetObject(const HttpRequest& request, const Target& target, bool head) {
  std::optional<ByteRange> range;
  if (const std::string* header = request.Header("range")) {
    Result<std::optional<ByteRange>> parsed = ParseRange(*header);
    if (!parsed.ok()) return Error(parsed.status(), request);
    range = *parsed;
  }
  Result<std::unique_ptr<ObjectReader>> opened = store_.Get(target.bucket, target.key, range);
  if (!opened.ok()) {
    if (range && opened.status().IsInvalidArgument()) {
      HttpResponse response = Error(
          Status::Aws(ErrorCode::kInvalidArgument, "InvalidRange",
                      "The requested range is not satisfiable: " + opened.status().message()),
          request);
      Result<ObjectInfo> info = store_.Head(target.bucket, target.key);
      if (info.ok()) response.SetHeader("Content-Range", "bytes */" + std::to_string(info->size));
      return response;
    }
    return Error(S3Error(opened.status(), target), request);
  }
  std::shared_ptr<ObjectReader> reader = std::move(opened).value();
  const ObjectInfo& info = reader->info();
  HttpResponse response;
  if (std::optional<int> failed = FailedCondition(request, info)) {
    if (*failed == 412) {
      return Error(Status::Aws(ErrorCode::kInvalidArgument, "PreconditionFailed",
                               "At least one of the pre-conditions you specified did not hold"),
                   request);
    }
    response.status = 304;  // Not Modified: the validators, no body
    response.SetHeader("ETag", QuotedEtag(info.etag));
    response.SetHeader("Last-Modified", HttpDate(info.last_modified));
    return response;
  }
  SetObjectHeaders(response, info);
  bool whole = reader->range_first() == 0 && reader->range_length() == info.size;
  if (range) {
    response.status = 206;
    uint64_t last = reader->range_first() + reader->range_length() - 1;
    response.SetHeader("Content-Range", "bytes " + std::to_string(reader->range_first()) + "-" +
                                            std::to_string(last) + "/" +
                                            std::to_string(info.size));
  }
  if (Lower(request.HeaderOr("x-amz-checksum-mode")) == "enabled" &&
      !info.checksum_crc32.empty() && whole) {
    // A multipart object's checksum is the composite "<b64>-<parts>" (clients skip it).
    response.SetHeader("x-amz-checksum-crc32", info.checksum_crc32);
    response.SetHeader("x-amz-checksum-type",
                       info.checksum_crc32.find('-') == std::string::npos ? "FULL_OBJECT"
                                                                          : "COMPOSITE");
  }
  // Presigned URLs may override response headers.
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kOverrides{{
      {"response-content-type", "Content-Type"},
      {"response-content-disposition", "Content-Disposition"},
      {"response-content-encoding", "Content-Encoding"},
      {"response-content-language", "Content-Language"},
      {"response-cache-control", "Cache-Control"},
      {"response-expires", "Expires"},
  }};
  for (const auto& [param, header] : kOverrides) {
    if (const std::string* value = request.Query(param)) {
      response.SetHeader(std::string(header), *value);
    }
  }
  response.content_length = reader->range_length();
  if (!head) {
    response.body_source = [reader](char* dst, size_t capacity) {
      return reader->Read(dst, capacity);
    };
  }
  return response;
}

HttpResponse S3Handler::DeleteObject(const HttpRequest& request, const Target& target) {
  Status deleted = store_.Delete(target.bucket, target.key);
  if (!deleted.ok()) return Error(S3Error(deleted, target), request);
  return NoContent();
}

Begun S3Handler::DeleteObjects(const HttpRequest& request, const Target& target) {
  Status too_large = Status::Aws(ErrorCode::kInvalidArgument, "MalformedXML",
                                 "The Delete document is larger than 4 MiB");
  auto complete = [this, request, target](std::string body) -> HttpResponse {
    Result<ParsedDelete> parsed = ParseDelete(body);
    if (!parsed.ok()) return Error(parsed.status(), request);
    Status exists = RequireBucket(target.bucket);
    if (!exists.ok()) return Error(exists, request);
    XmlWriter xml("DeleteResult");
    for (const std::string& key : parsed->keys) {
      Status deleted = objectstore::ValidateKey(key);
      if (deleted.ok()) deleted = store_.Delete(target.bucket, key);
      if (deleted.ok()) {
        if (!parsed->quiet) xml.Open("Deleted").Element("Key", key).Close("Deleted");
        continue;
      }
      Status error = S3Error(deleted, {target.bucket, key});
      xml.Open("Error")
          .Element("Key", key)
          .Element("Code", AwsErrorCode(Protocol::kRestXml, error))
          .Element("Message", error.message())
          .Close("Error");
    }
    return XmlResponse(xml.Finish());
  };
  return {std::nullopt, BufferBody(kXmlBodyLimit, too_large, std::move(complete))};
}

HttpResponse S3Handler::CopyObject(const HttpRequest& request, const Target& target) {
  Result<Target> source = ParseCopySource(request.HeaderOr("x-amz-copy-source"));
  if (!source.ok()) return Error(source.status(), request);
  Status source_ok = objectstore::ValidateBucketName(source->bucket);
  if (!source_ok.ok()) return Error(InvalidBucketName(source_ok), request);
  source_ok = objectstore::ValidateKey(source->key);
  if (!source_ok.ok()) return Error(InvalidKey(source_ok), request);
  std::string directive = request.HeaderOr("x-amz-metadata-directive", "COPY");
  if (directive != "COPY" && directive != "REPLACE") {
    return Error(Status::Aws(ErrorCode::kInvalidArgument, "InvalidArgument",
                             "Unknown metadata directive \"" + directive +
                                 "\" (x-amz-metadata-directive is COPY or REPLACE)"),
                 request);
  }
  if (directive == "COPY" && source->bucket == target.bucket && source->key == target.key) {
    return Error(Status::Aws(ErrorCode::kInvalidArgument, "InvalidRequest",
                             "This copy request is illegal because it is trying to copy an "
                             "object to itself without changing the object's metadata, storage "
                             "class, website redirect location or encryption attributes."),
                 request);
  }
  Result<std::unique_ptr<ObjectReader>> reader = store_.Get(source->bucket, source->key);
  if (!reader.ok()) return Error(S3Error(reader.status(), *source), request);
  const ObjectInfo& from = (*reader)->info();
  PutOptions options;
  if (directive == "COPY") {
    options.content_type = from.content_type;
    options.user_metadata = from.user_metadata;
    options.content_headers = from.content_headers;
  } else {
    options = PutOptionsFrom(request);
  }
  Result<std::unique_ptr<ObjectWriter>> writer =
      store_.OpenWriter(target.bucket, target.key, options);
  if (!writer.ok()) return Error(S3Error(writer.status(), target), request);
  // A checksum recorded on the source is recorded on the copy, computed over the copied bytes
  // (a multipart source's composite value does not describe a single-part copy).
  const bool keep_crc = !from.checksum_crc32.empty();
  uint32_t crc = 0;
  Status copied = CopyBytes(**reader, **writer, keep_crc ? &crc : nullptr);
  if (!copied.ok()) return Error(copied, request);
  if (keep_crc) (*writer)->SetChecksumCrc32(Crc32ToBase64(crc));
  Result<ObjectInfo> info = (*writer)->Commit();
  if (!info.ok()) return Error(S3Error(info.status(), target), request);
  Written(target.bucket, target.key);
  XmlWriter xml("CopyObjectResult");
  xml.Element("ETag", QuotedEtag(info->etag)).Element("LastModified", XmlDate(info->last_modified));
  if (!info->checksum_crc32.empty()) xml.Element("ChecksumCRC32", info->checksum_crc32);
  return XmlResponse(xml.Finish());
}

}  // namespace s3

Result<std::unique_ptr<Handler>> NewS3Handler(objectstore::ObjectStore& store, S3Options options) {
  if (options.staging_dir.empty()) {
    return Status::InvalidArgument("S3 handler: the multipart staging folder must be set");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<objectstore::ObjectStore> staging,
                   objectstore::OpenDiskStore(options.staging_dir));
  Result<bool> exists = staging->BucketExists(s3::kStagingBucket);
  if (!exists.ok()) return exists.status();
  if (!*exists) RETURN_IF_ERROR(staging->CreateBucket(s3::kStagingBucket));
  return std::unique_ptr<Handler>(
      std::make_unique<s3::S3Handler>(store, std::move(staging), std::move(options)));
}

}  // namespace opendms::api

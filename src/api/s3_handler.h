// api (inside): the S3 handler's class, shared by s3_handler.cc (routing, buckets, objects,
// listings) and s3_multipart.cc (multipart uploads). Construct it through NewS3Handler (s3.h).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "api/http.h"
#include "api/api.h"
#include "objectstore/objectstore.h"

namespace opendms::api::s3 {

// What a request is about: "/b" → bucket only; "/b/k/ey" → bucket and key.
struct Target {
  std::string bucket;
  std::string key;  // empty for bucket-level calls
};

// A multipart upload's record, kept as the staged object "<upload id>/upload.json".
struct Upload {
  std::string id;
  std::string bucket, key;
  TimePoint initiated;
  std::string content_type;
  std::map<std::string, std::string> user_metadata;
  std::map<std::string, std::string> content_headers;
  std::string checksum_algorithm;  // "CRC32" when the client asked for it, else ""
};

class S3Handler : public Handler {
 public:
  S3Handler(objectstore::ObjectStore& store, std::unique_ptr<objectstore::ObjectStore> staging,
            S3Options options)
      : store_(store), staging_(std::move(staging)), options_(std::move(options)) {}

  Begun Begin(HttpRequest& request) override;

 private:
  // ---- s3_handler.cc ----
  Begun Route(HttpRequest& request, const Target& target);
  Begun ListBuckets(const HttpRequest& request);
  Begun CreateBucket(const HttpRequest& request, const Target& target);
  HttpResponse DeleteBucket(const HttpRequest& request, const Target& target);
  HttpResponse HeadBucket(const HttpRequest& request, const Target& target);
  HttpResponse GetBucketLocation(const HttpRequest& request, const Target& target);
  HttpResponse ListObjects(const HttpRequest& request, const Target& target, bool v2);
  Begun DeleteObjects(const HttpRequest& request, const Target& target);
  Begun PutObject(const HttpRequest& request, const Target& target);
  HttpResponse GetObject(const HttpRequest& request, const Target& target, bool head);
  HttpResponse DeleteObject(const HttpRequest& request, const Target& target);
  HttpResponse CopyObject(const HttpRequest& request, const Target& target);

  // ---- s3_multipart.cc ----
  HttpResponse CreateMultipartUpload(const HttpRequest& request, const Target& target);
  Begun UploadPart(const HttpRequest& request, const Target& target);
  HttpResponse UploadPartCopy(const HttpRequest& request, const Target& target);
  Begun CompleteMultipartUpload(const HttpRequest& request, const Target& target);
  HttpResponse CompleteParsed(const HttpRequest& request, const Target& target,
                              std::string_view body);
  HttpResponse AbortMultipartUpload(const HttpRequest& request, const Target& target);
  HttpResponse ListParts(const HttpRequest& request, const Target& target);
  HttpResponse ListMultipartUploads(const HttpRequest& request, const Target& target);
  // NoSuchUpload unless the upload exists and belongs to target's bucket and key.
  Result<Upload> LoadUpload(std::string_view upload_id, const Target& target);
  Status DropUpload(std::string_view upload_id);

  // ---- shared ----
  // The S3 error for a store failure about target (NoSuchBucket vs NoSuchKey, BucketNotEmpty…).
  Status S3Error(const Status& error, const Target& target);
  Status RequireBucket(std::string_view bucket);
  void Written(std::string_view bucket, std::string_view key) {
    if (options_.on_object_written) options_.on_object_written(bucket, key);
  }

  objectstore::ObjectStore& store_;
  // Staged parts: bucket kStagingBucket, keys "<upload id>/…" (see s3.h).
  std::unique_ptr<objectstore::ObjectStore> staging_;
  const S3Options options_;
  std::mutex completing_mu_;
  std::set<std::string> completing_;  // upload ids being completed; guarded by completing_mu_
};

inline constexpr std::string_view kStagingBucket = "uploads";

// Shared helpers (s3_handler.cc).
HttpResponse Error(const Status& error, const HttpRequest& request);
HttpResponse NoContent();
HttpResponse XmlResponse(std::string body, int status = 200);
// The store's ObjectInfo as S3 response headers (Content-Type, ETag, Last-Modified,
// Accept-Ranges, x-amz-meta-*).
void SetObjectHeaders(HttpResponse& response, const objectstore::ObjectInfo& info);
// PutOptions from a request's headers (Content-Type, x-amz-meta-*).
objectstore::PutOptions PutOptionsFrom(const HttpRequest& request);
// Whether the client sent (or announced in a trailer) a CRC32 checksum.
bool ClientSentCrc32(const HttpRequest& request);
// "bucket/key" from x-amz-copy-source (URL-encoded, maybe with a leading '/' and ?versionId).
Result<Target> ParseCopySource(std::string_view header);
// Streams a request body into `writer` (PutObject, UploadPart). At the end it checks Content-MD5
// and x-amz-checksum-crc32 (BadDigest), records the CRC32 on the writer when the client sent
// one, and calls `commit`, which commits and answers. Aborts the writer on failure.
std::unique_ptr<Exchange> WriteBodyExchange(
    std::unique_ptr<objectstore::ObjectWriter> writer, const HttpRequest& request,
    std::function<HttpResponse(objectstore::ObjectWriter&)> commit);
// Copies a reader's bytes into a writer; with `crc32`, also sets it to the CRC32 of what was
// copied (computed only when asked: it costs a pass over every byte).
Status CopyBytes(objectstore::ObjectReader& reader, objectstore::ObjectWriter& writer,
                 uint32_t* crc32 = nullptr);

}  // namespace opendms::api::s3

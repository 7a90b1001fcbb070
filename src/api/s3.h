// api (inside): S3 over REST-XML, path-style ("/bucket", "/bucket/key"), on an ObjectStore.
//
// Operations: the bucket calls (Create/Delete/Head/ListBuckets, GetBucketLocation), the object
// calls (Put/Get/Head/Delete/DeleteObjects/CopyObject), listings (ListObjectsV2, ListObjects v1)
// and multipart uploads (Create, UploadPart, UploadPartCopy, Complete, Abort, ListParts,
// ListMultipartUploads). Anything else answers 501 NotImplemented naming the operation.
//
// Request bodies stream: PutObject and UploadPart write what arrives straight into an
// objectstore::ObjectWriter and commit only in Exchange::OnComplete, after the HTTP layer has
// verified the payload's SHA-256 and CRC32. Parts are staged as objects of a DiskStore under
// S3Options::staging_dir (bucket "uploads", keys "<upload id>/part-NNNNN"), so they are durable
// and survive a restart; CompleteMultipartUpload streams them into the destination object.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "api/http.h"
#include "objectstore/objectstore.h"

namespace opendms::api {

struct S3Options {
  // Where multipart parts are staged (created if missing). Same file system as a DiskStore's
  // root is best; any folder works.
  std::string staging_dir;
  // The region the server's buckets live in: x-amz-bucket-region, GetBucketLocation.
  std::string region = "us-east-1";
  // The owner every bucket and object reports (ListBuckets, fetch-owner).
  std::string owner_id = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a";
  std::string owner_display_name = "opendms";
  // Parts other than the last must be at least this big (S3: 5 MiB). Tests lower it.
  uint64_t min_part_size = 5ull << 20;
  // Called after an object was stored (PutObject, CopyObject, CompleteMultipartUpload), from
  // the request's thread; used to wake the tasks that read the bucket. May be empty.
  std::function<void(std::string_view bucket, std::string_view key)> on_object_written;
};

// The S3 handler over `store` (which must outlive it). Fails when the staging folder cannot be
// opened.
Result<std::unique_ptr<Handler>> NewS3Handler(objectstore::ObjectStore& store, S3Options options);

}  // namespace opendms::api

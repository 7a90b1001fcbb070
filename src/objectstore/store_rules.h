// objectstore (internal): the rules every store implementation shares, so that they agree —
// error messages naming buckets and keys, byte ranges, and whether a key is a folder marker.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/core.h"
#include "objectstore/objectstore.h"

namespace opendms::objectstore {

// "s3://bucket/key"
std::string ObjectUrl(std::string_view bucket, std::string_view key);
// NotFound "no such bucket: <bucket>"
Status NoSuchBucket(std::string_view bucket);
// NotFound "no such key: s3://bucket/key"
Status NoSuchKey(std::string_view bucket, std::string_view key);

// Validates both; the error names whichever is bad.
Status ValidateBucketAndKey(std::string_view bucket, std::string_view key);

// A key ending in '/': what S3 consoles create to show an empty folder.
inline bool IsFolderMarker(std::string_view key) { return !key.empty() && key.back() == '/'; }

// Internal "a byte source returned more than it was given" error.
Status SourceOverrun(std::string_view bucket, std::string_view key, size_t returned,
                     size_t capacity);

bool IsValidUtf8(std::string_view s);

// The part of an object of `size` bytes that `range` selects (all of it when absent).
struct ResolvedRange {
  uint64_t first = 0;
  uint64_t length = 0;
};
// InvalidArgument naming s3://bucket/key when the range selects nothing.
Result<ResolvedRange> ResolveRange(const std::optional<ByteRange>& range, uint64_t size,
                                   std::string_view bucket, std::string_view key);

}  // namespace opendms::objectstore

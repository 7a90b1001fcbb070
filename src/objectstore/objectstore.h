// objectstore: buckets of objects, in S3's terms. Owns the ObjectStore interface the engine reads
// buckets through, and its implementations:
//   - DiskStore (OpenDiskStore): buckets are folders on local disk, so files copied in by hand are
//     objects; writes are atomic and durable. On-disk layout: docs/object-store.md.
//   - MemoryStore (NewMemoryStore): the same semantics in memory, for tests.
//   - FaultInjectingStore: wraps any store and fails, truncates or slows calls on request.
//   - S3Client (OpenS3Client): any S3 over HTTP (AWS, MinIO, Ceph, moto, opendms's own S3 API),
//     signed with SigV4.
//
// Start reading at ObjectStore. Errors: NotFound names "s3://bucket/key" or the bucket;
// InvalidArgument for bad bucket names, keys, ranges and list options.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.h"

namespace opendms::objectstore {

// What the store knows of one object.
// List answers carry key, size, etag and last_modified; content_type and user_metadata only when
// the store keeps them at hand (S3's ListObjectsV2 returns neither: an S3Client leaves them empty).
struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  // Lowercase hex MD5 of the content, WITHOUT quotes — unless the writer set PutOptions::etag
  // (a multipart upload's "<hex>-<parts>").
  std::string etag;
  TimePoint last_modified;
  std::string content_type;  // "binary/octet-stream" when unknown
  std::map<std::string, std::string> user_metadata;
  // The other standard headers S3 keeps with an object and returns on GET/HEAD, by the names in
  // kStoredContentHeaders (Cache-Control, …): what the writer sent, nothing when it sent none.
  std::map<std::string, std::string> content_headers;
  // The CRC32 the writer recorded (S3's x-amz-checksum-crc32 form: base64 of 4 bytes, or a
  // multipart composite "<b64>-<parts>"); empty when none was given (e.g. a file copied in by
  // hand). The store keeps it as given; it does not compute it.
  std::string checksum_crc32;
};

// The content type of objects stored without one (what S3 answers).
inline constexpr std::string_view kDefaultContentType = "binary/octet-stream";
// The headers besides Content-Type that S3 stores with an object (ObjectInfo::content_headers).
inline constexpr std::string_view kStoredContentHeaders[] = {
    "Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Expires"};

struct BucketInfo {
  std::string name;
  TimePoint creation_date;
};

// ListObjectsV2's parameters. With a delimiter, keys that contain it after the prefix are rolled
// up into one common prefix (the key up to and including the first delimiter after the prefix),
// and each common prefix counts as one entry toward max_keys. An entry (key or common prefix) is
// returned only when it sorts strictly after start_after, so that continuing from a common prefix
// skips the keys rolled up into it.
struct ListOptions {
  std::string prefix, delimiter, start_after;
  int max_keys = 1000;  // 1..1000; larger values are clamped to 1000, as S3 does
};

struct ListResult {
  std::vector<ObjectInfo> objects;           // sorted by key bytes (unsigned), as S3 sorts
  std::vector<std::string> common_prefixes;  // with delimiter, sorted
  bool truncated = false;
  std::string next_start_after;  // pass as start_after to continue when truncated
};

// Bytes first..last of an object, inclusive, like HTTP's "Range: bytes=first-last". A missing
// `last` means to the end; a `last` past the end is clamped to the end. suffix_length > 0 means
// the last suffix_length bytes ("bytes=-N"; first and last are then ignored). A range that
// selects nothing (first at or past the end, last < first, empty object) is InvalidArgument.
struct ByteRange {
  uint64_t first = 0;
  std::optional<uint64_t> last;
  uint64_t suffix_length = 0;
};

struct PutOptions {
  std::string content_type;  // empty = kDefaultContentType
  std::map<std::string, std::string> user_metadata;
  std::map<std::string, std::string> content_headers;  // see ObjectInfo::content_headers
  // Recorded as ObjectInfo::checksum_crc32 (empty = none). The caller has verified it.
  std::string checksum_crc32;
  // Replaces the MD5 the store would compute as the ETag (empty = compute it). For multipart
  // uploads, whose ETag is not the MD5 of the content.
  std::string etag;
};

// A streaming read of one object (or a range of it). Not thread-safe; one reader per thread.
class ObjectReader {
 public:
  virtual ~ObjectReader() = default;
  // The object as it was when opened: the bytes Read returns are that object's, even if the key
  // is overwritten or deleted while the reader is open. info().size is the whole object's size.
  virtual const ObjectInfo& info() const = 0;
  // The part of the object this reader returns: bytes [range_first, range_first + range_length).
  // For an HTTP answer: Content-Range "bytes first-(first+length-1)/info().size".
  virtual uint64_t range_first() const = 0;
  virtual uint64_t range_length() const = 0;
  // Copies up to `capacity` (> 0) bytes into dst; returns how many; 0 = end of the range.
  virtual Result<size_t> Read(char* dst, size_t capacity) = 0;
};

// A push-style write of one object: the caller hands the bytes over in order with Write, then
// Commit stores the object with Put's guarantees (atomic replace; durable when Commit returns).
// Abort, or destruction without Commit, stores nothing and releases what was staged. After a
// failed Write or Commit the writer is aborted; further calls fail. Not thread-safe.
class ObjectWriter {
 public:
  virtual ~ObjectWriter() = default;
  virtual Status Write(std::string_view chunk) = 0;
  // Replaces PutOptions::checksum_crc32 before Commit: a checksum that is known only once all
  // bytes are in (S3's aws-chunked trailer).
  virtual void SetChecksumCrc32(std::string checksum) = 0;
  virtual Result<ObjectInfo> Commit() = 0;
  virtual void Abort() = 0;
};

// Produces the bytes of a streamed Put: fills up to `capacity` bytes of the buffer and returns how
// many; 0 = end. An error aborts the Put (nothing is stored) and is returned by PutStream.
using ByteSource = std::function<Result<size_t>(char*, size_t)>;

// All methods thread-safe. Bucket names follow S3's rules (3–63 chars, lowercase letters, digits,
// dots, hyphens; starts and ends with a letter or digit); keys 1–1024 bytes of UTF-8 (see
// ValidateKey). A key ending in '/' is a folder marker, as S3 consoles create them.
class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  virtual Status CreateBucket(std::string_view bucket) = 0;  // AlreadyExists if present
  virtual Status DeleteBucket(std::string_view bucket) = 0;  // InvalidState if not empty
  virtual Result<bool> BucketExists(std::string_view bucket) = 0;
  virtual Result<std::vector<BucketInfo>> ListBuckets() = 0;  // sorted by name
  // Stores `data` as the object, replacing any object of that key atomically: readers see the
  // old object or the new one, never a mix. NotFound if the bucket does not exist.
  virtual Result<ObjectInfo> Put(std::string_view bucket, std::string_view key,
                                 std::string_view data, const PutOptions& options = {}) = 0;
  // Streams `source` (0 = end) into the object, with Put's guarantees; memory use does not
  // depend on the object's size.
  virtual Result<ObjectInfo> PutStream(std::string_view bucket, std::string_view key,
                                       const ByteSource& source,
                                       const PutOptions& options = {}) = 0;
  // Opens a writer for the object. Bucket and key are checked now (InvalidArgument, NotFound
  // for a missing bucket); the bucket is checked again at Commit. Memory use of DiskStore's
  // writer does not depend on the object's size (MemoryStore's holds the bytes).
  virtual Result<std::unique_ptr<ObjectWriter>> OpenWriter(std::string_view bucket,
                                                           std::string_view key,
                                                           const PutOptions& options = {}) = 0;
  // NotFound (naming s3://bucket/key, or the bucket) if absent; InvalidArgument if `range`
  // selects nothing.
  virtual Result<std::unique_ptr<ObjectReader>> Get(std::string_view bucket, std::string_view key,
                                                    std::optional<ByteRange> range = {}) = 0;
  virtual Result<ObjectInfo> Head(std::string_view bucket, std::string_view key) = 0;
  virtual Status Delete(std::string_view bucket, std::string_view key) = 0;  // ok if absent (S3)
  virtual Result<ListResult> List(std::string_view bucket, const ListOptions& options) = 0;
};

// InvalidArgument naming the bucket and the rule it breaks, or Ok.
Status ValidateBucketName(std::string_view bucket);
// InvalidArgument naming the key and the rule it breaks, or Ok. Beyond S3's rules (1–1024 bytes
// of UTF-8), keys must map safely onto a file path: no NUL, no leading '/', no empty segment
// ("a//b"; a single trailing '/' marks a folder), no "." or ".." segment, no segment over 255
// bytes, no segment starting with ".opendms" (reserved for the store's own files).
Status ValidateKey(std::string_view key);

// Opens (creating it and its housekeeping folder if missing) a DiskStore rooted at `root`. Buckets
// are the folders directly under root. See docs/object-store.md for the layout and the rules for
// files placed by hand.
Result<std::unique_ptr<ObjectStore>> OpenDiskStore(const std::string& root);

// An empty store in memory.
std::unique_ptr<ObjectStore> NewMemoryStore();

// How to reach an S3 service. The secret key and session token are never logged or put in an
// error message.
struct S3ClientOptions {
  // "http://127.0.0.1:9000", "https://s3.eu-west-1.amazonaws.com": scheme, host, optional port,
  // no path.
  std::string endpoint_url;
  std::string region = "us-east-1";  // the SigV4 scope; CreateBucket's LocationConstraint
  std::string access_key_id, secret_access_key;
  std::string session_token;  // temporary credentials: sent as X-Amz-Security-Token
  // Path-style ("host/bucket/key", what every S3 clone serves) or virtual-hosted
  // ("bucket.host/key", which AWS prefers for new buckets).
  bool path_style = true;
  std::chrono::milliseconds connect_timeout{10'000};
  // A request fails when no byte moves in either direction for this long. Streams may last any
  // time as long as bytes keep moving.
  std::chrono::milliseconds idle_timeout{60'000};
  // Transient failures (connection errors, timeouts, 5xx, 429, RequestTimeout) are retried up to
  // this many times after the first attempt, waiting retry_base_delay * 2^n (with jitter, at most
  // 20 s) between attempts; then the call fails with ConnectionError.
  int max_retries = 4;
  std::chrono::milliseconds retry_base_delay{200};

  // InvalidArgument naming the bad field: an endpoint that is not http(s)://host[:port], an
  // empty region or access key id, negative retries or timeouts.
  Status Validate() const;
};

// A store over an S3 service. Opening sends nothing (a wrong endpoint shows on the first call).
//
// Semantics beyond ObjectStore's:
//  - Errors: NotFound for NoSuchBucket/NoSuchKey (naming s3://bucket/key or the bucket);
//    AlreadyExists for BucketAlreadyOwnedByYou/BucketAlreadyExists; InvalidState for
//    BucketNotEmpty; InvalidArgument, with the S3 error code in the message and as aws_code(), for
//    authentication and authorisation failures (403: a wrong key or endpoint is the user's
//    mistake, not transient) and other 4xx answers; ConnectionError once the retries of a
//    transient failure are spent.
//  - Keys written (Put, PutStream) obey ValidateKey, like every store; keys read, headed or
//    deleted need only S3's own rule (1–1024 bytes of UTF-8), so any object a remote bucket holds
//    can be read.
//  - Put and PutStream answer with a HeadObject after the write (S3's PutObject reports no
//    Last-Modified). PutStream sends sources up to 8 MiB as one PutObject and larger ones as a
//    multipart upload of 8 MiB parts, aborted if the source or a part fails; a multipart ETag
//    is kept as S3 gives it ("<hex>-<parts>").
//  - Get is one streaming GET (with Range when asked); memory is bounded by a 1 MiB buffer. A
//    connection lost mid-body is resumed with a ranged GET pinned to the object's ETag
//    (If-Match), so a reader never mixes two versions: if the object changed meanwhile, Read
//    fails with ConnectionError.
//  - CreateBucket in us-east-1 checks HeadBucket first: AWS answers 200 there when re-creating
//    a bucket one already owns.
Result<std::unique_ptr<ObjectStore>> OpenS3Client(S3ClientOptions options);

// ---------------------------------------------------------------------------------------------
// Fault injection, for tests
// ---------------------------------------------------------------------------------------------

// One armed fault. It fires on calls whose key contains key_substring (List: whose prefix
// contains it; empty = any call of the kind) until it has fired `times` times (-1 = forever).
// Read faults fire when Get opens the object; the reader it returns then misbehaves.
struct FaultSpec {
  enum class Kind {
    kFailOpen,      // Get and Head fail
    kFailRead,      // the reader's Read fails once after_bytes bytes have been returned
    kTruncateRead,  // the reader ends (Read returns 0) after after_bytes bytes
    kFailList,      // List fails
    kFailPut,       // Put and PutStream fail, and an ObjectWriter's Commit; nothing is stored
    kSlowRead,      // each Read of the reader sleeps `delay` first
  };
  Kind kind = Kind::kFailOpen;
  std::string key_substring;  // empty = any key
  uint64_t after_bytes = 0;   // for kFailRead / kTruncateRead: fail/stop after this many bytes
  int times = 1;              // how many times it fires (-1 = forever)
  std::chrono::milliseconds delay{0};     // kSlowRead: per Read call
  ErrorCode error = ErrorCode::kIoError;  // the kind of error a failing fault returns
};

// Wraps `base` (which must outlive it) and passes every call through, except where an armed fault
// fires. Thread-safe.
class FaultInjectingStore : public ObjectStore {
 public:
  explicit FaultInjectingStore(ObjectStore& base);

  void Arm(FaultSpec fault);
  void Clear();       // disarms every fault (fired() is kept)
  int fired() const;  // how many times faults have fired since construction

  Status CreateBucket(std::string_view bucket) override;
  Status DeleteBucket(std::string_view bucket) override;
  Result<bool> BucketExists(std::string_view bucket) override;
  Result<std::vector<BucketInfo>> ListBuckets() override;
  Result<ObjectInfo> Put(std::string_view bucket, std::string_view key, std::string_view data,
                         const PutOptions& options = {}) override;
  Result<ObjectInfo> PutStream(std::string_view bucket, std::string_view key,
                               const ByteSource& source, const PutOptions& options = {}) override;
  Result<std::unique_ptr<ObjectWriter>> OpenWriter(std::string_view bucket, std::string_view key,
                                                   const PutOptions& options = {}) override;
  Result<std::unique_ptr<ObjectReader>> Get(std::string_view bucket, std::string_view key,
                                            std::optional<ByteRange> range = {}) override;
  Result<ObjectInfo> Head(std::string_view bucket, std::string_view key) override;
  Status Delete(std::string_view bucket, std::string_view key) override;
  Result<ListResult> List(std::string_view bucket, const ListOptions& options) override;

 private:
  // Takes (and counts) the first armed fault of one of `kinds` matching `subject`, if any.
  std::optional<FaultSpec> Take(std::initializer_list<FaultSpec::Kind> kinds,
                                std::string_view subject);

  ObjectStore& base_;
  mutable std::mutex mu_;
  std::vector<FaultSpec> armed_;  // guarded by mu_
  int fired_ = 0;                 // guarded by mu_
};

}  // namespace opendms::objectstore

// MemoryStore: buckets as std::maps of immutable object bodies. Readers share the body they
// opened (shared_ptr), so an overwrite or delete never changes what an open reader returns.

#include <algorithm>
#include <cstring>

#include "objectstore/list_pager.h"
#include "objectstore/md5.h"
#include "objectstore/objectstore.h"
#include "objectstore/store_rules.h"

namespace opendms::objectstore {
namespace {

struct StoredObject {
  // Shared with open readers: the body is immutable once stored.
  std::shared_ptr<const std::string> data;
  ObjectInfo info;
};

struct Bucket {
  TimePoint creation_date;
  std::map<std::string, StoredObject> objects;  // std::string orders by unsigned bytes, as S3
};

class MemoryReader : public ObjectReader {
 public:
  MemoryReader(std::shared_ptr<const std::string> data, ObjectInfo info, ResolvedRange range)
      : data_(std::move(data)), info_(std::move(info)), range_(range), pos_(range.first) {}

  const ObjectInfo& info() const override { return info_; }
  uint64_t range_first() const override { return range_.first; }
  uint64_t range_length() const override { return range_.length; }

  Result<size_t> Read(char* dst, size_t capacity) override {
    uint64_t end = range_.first + range_.length;
    size_t n = static_cast<size_t>(std::min<uint64_t>(capacity, end - pos_));
    std::memcpy(dst, data_->data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  std::shared_ptr<const std::string> data_;
  ObjectInfo info_;
  ResolvedRange range_;
  uint64_t pos_;
};

class MemoryStore;

// Gathers the bytes in memory; Commit stores them as the object.
class MemoryWriter : public ObjectWriter {
 public:
  MemoryWriter(MemoryStore& store, std::string bucket, std::string key, PutOptions options)
      : store_(store), bucket_(std::move(bucket)), key_(std::move(key)), options_(std::move(options)) {}

  Status Write(std::string_view chunk) override {
    if (done_) return Finished();
    data_.append(chunk);
    md5_.Update(chunk);
    return Status::Ok();
  }
  void SetChecksumCrc32(std::string checksum) override {
    options_.checksum_crc32 = std::move(checksum);
  }
  Result<ObjectInfo> Commit() override;
  void Abort() override {
    done_ = true;
    data_.clear();
    data_.shrink_to_fit();
  }

 private:
  Status Finished() const {
    return Status::InvalidState("writer of " + ObjectUrl(bucket_, key_) +
                                " was already committed or aborted");
  }

  MemoryStore& store_;
  const std::string bucket_, key_;
  PutOptions options_;
  std::string data_;
  Md5 md5_;
  bool done_ = false;
};

class MemoryStore : public ObjectStore {
 public:
  Status CreateBucket(std::string_view bucket) override {
    RETURN_IF_ERROR(ValidateBucketName(bucket));
    std::lock_guard lock(mu_);
    auto [it, inserted] = buckets_.try_emplace(std::string(bucket));
    if (!inserted) return Status::AlreadyExists("bucket already exists: " + std::string(bucket));
    it->second.creation_date = Clock::Now();
    return Status::Ok();
  }

  Status DeleteBucket(std::string_view bucket) override {
    RETURN_IF_ERROR(ValidateBucketName(bucket));
    std::lock_guard lock(mu_);
    auto it = buckets_.find(std::string(bucket));
    if (it == buckets_.end()) return NoSuchBucket(bucket);
    if (!it->second.objects.empty()) {
      return Status::InvalidState("bucket is not empty: " + std::string(bucket));
    }
    buckets_.erase(it);
    return Status::Ok();
  }

  Result<bool> BucketExists(std::string_view bucket) override {
    RETURN_IF_ERROR(ValidateBucketName(bucket));
    std::lock_guard lock(mu_);
    return buckets_.count(std::string(bucket)) > 0;
  }

  Result<std::vector<BucketInfo>> ListBuckets() override {
    std::lock_guard lock(mu_);
    std::vector<BucketInfo> out;
    for (const auto& [name, b] : buckets_) out.push_back(BucketInfo{name, b.creation_date});
    return out;
  }

  Result<ObjectInfo> Put(std::string_view bucket, std::string_view key, std::string_view data,
                         const PutOptions& options) override {
    RETURN_IF_ERROR(ValidateBucketAndKey(bucket, key));
    return Store(bucket, key, std::make_shared<const std::string>(data), Md5Hex(data), options);
  }

  Result<ObjectInfo> PutStream(std::string_view bucket, std::string_view key,
                               const ByteSource& source, const PutOptions& options) override {
    RETURN_IF_ERROR(ValidateBucketAndKey(bucket, key));
    {
      std::lock_guard lock(mu_);
      if (!buckets_.count(std::string(bucket))) return NoSuchBucket(bucket);
    }
    std::string data;
    Md5 md5;
    constexpr size_t kChunk = 64 * 1024;
    while (true) {
      size_t old_size = data.size();
      data.resize(old_size + kChunk);
      ASSIGN_OR_RETURN(size_t n, source(data.data() + old_size, kChunk));
      if (n > kChunk) return SourceOverrun(bucket, key, n, kChunk);
      data.resize(old_size + n);
      if (n == 0) break;
      md5.Update(data.data() + old_size, n);
    }
    return Store(bucket, key, std::make_shared<const std::string>(std::move(data)), md5.HexDigest(),
                 options);
  }

  Result<std::unique_ptr<ObjectWriter>> OpenWriter(std::string_view bucket, std::string_view key,
                                                   const PutOptions& options) override {
    RETURN_IF_ERROR(ValidateBucketAndKey(bucket, key));
    {
      std::lock_guard lock(mu_);
      if (!buckets_.count(std::string(bucket))) return NoSuchBucket(bucket);
    }
    return std::unique_ptr<ObjectWriter>(
        std::make_unique<MemoryWriter>(*this, std::string(bucket), std::string(key), options));
  }

  Result<std::unique_ptr<ObjectReader>> Get(std::string_view bucket, std::string_view key,
                                            std::optional<ByteRange> range) override {
    RETURN_IF_ERROR(ValidateBucketAndKey(bucket, key));
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(const StoredObject* object, Find(bucket, key));
    ASSIGN_OR_RETURN(ResolvedRange resolved, ResolveRange(range, object->info.size, bucket, key));
    return std::unique_ptr<ObjectReader>(
        std::make_unique<MemoryReader>(object->data, object->info, resolved));
  }

  Result<ObjectInfo> Head(std::string_view bucket, std::string_view key) override {
    RETURN_IF_ERROR(ValidateBucketAndKey(bucket, key));
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(const StoredObject* object, Find(bucket, key));
    return object->info;
  }

  Status Delete(std::string_view bucket, std::string_view key) override {
    RETURN_IF_ERROR(ValidateBucketAndKey(bucket, key));
    std::lock_guard lock(mu_);
    auto it = buckets_.find(std::string(bucket));
    if (it == buckets_.end()) return NoSuchBucket(bucket);
    it->second.objects.erase(std::string(key));
    return Status::Ok();
  }

  Result<ListResult> List(std::string_view bucket, const ListOptions& options) override {
    RETURN_IF_ERROR(ValidateBucketName(bucket));
    ASSIGN_OR_RETURN(ListPager pager, ListPager::Make(options));
    std::lock_guard lock(mu_);
    auto b = buckets_.find(std::string(bucket));
    if (b == buckets_.end()) return NoSuchBucket(bucket);
    const auto& objects = b->second.objects;
    // Start at the first key that can be on the page: in the prefix and after start_after.
    auto it = options.start_after < options.prefix ? objects.lower_bound(options.prefix)
                                                   : objects.upper_bound(options.start_after);
    std::vector<const ObjectInfo*> infos;
    while (it != objects.end() && it->first.starts_with(options.prefix)) {
      if (std::optional<std::string> common = pager.CommonPrefixOf(it->first)) {
        if (!pager.OfferCommonPrefix(*common)) break;
        std::string next = PrefixSuccessor(*common);
        it = next.empty() ? objects.end() : objects.lower_bound(next);
        continue;
      }
      if (!pager.OfferObject(it->first)) break;
      ++it;
    }
    ListResult result;
    for (const ListPager::Entry& entry : pager.entries()) {
      if (entry.is_common_prefix) {
        result.common_prefixes.push_back(entry.key);
      } else {
        result.objects.push_back(objects.at(entry.key).info);
      }
    }
    result.truncated = pager.truncated();
    result.next_start_after = pager.NextStartAfter();
    return result;
  }

  Result<ObjectInfo> Store(std::string_view bucket, std::string_view key,
                           std::shared_ptr<const std::string> data, std::string etag,
                           const PutOptions& options) {
    ObjectInfo info;
    info.key = std::string(key);
    info.size = data->size();
    info.etag = options.etag.empty() ? std::move(etag) : options.etag;
    info.last_modified = Clock::Now();
    info.content_type =
        options.content_type.empty() ? std::string(kDefaultContentType) : options.content_type;
    info.user_metadata = options.user_metadata;
    info.content_headers = options.content_headers;
    info.checksum_crc32 = options.checksum_crc32;
    std::lock_guard lock(mu_);
    auto b = buckets_.find(std::string(bucket));
    if (b == buckets_.end()) return NoSuchBucket(bucket);
    b->second.objects.insert_or_assign(info.key, StoredObject{std::move(data), info});
    return info;
  }

 private:
  Result<const StoredObject*> Find(std::string_view bucket, std::string_view key) const {
    auto b = buckets_.find(std::string(bucket));
    if (b == buckets_.end()) return NoSuchBucket(bucket);
    auto it = b->second.objects.find(std::string(key));
    if (it == b->second.objects.end()) return NoSuchKey(bucket, key);
    return &it->second;
  }

  std::mutex mu_;
  std::map<std::string, Bucket> buckets_;  // guarded by mu_
};

Result<ObjectInfo> MemoryWriter::Commit() {
  if (done_) return Finished();
  done_ = true;
  std::string etag = md5_.HexDigest();
  return store_.Store(bucket_, key_, std::make_shared<const std::string>(std::move(data_)),
                      std::move(etag), options_);
}

}  // namespace

std::unique_ptr<ObjectStore> NewMemoryStore() { return std::make_unique<MemoryStore>(); }

}  // namespace opendms::objectstore

#include <algorithm>
#include <functional>
#include <thread>

#include "objectstore/objectstore.h"
#include "objectstore/store_rules.h"

namespace opendms::objectstore {
namespace {

Status InjectedError(ErrorCode code, std::string message) {
  message = "injected fault: " + message;
  switch (code) {
    case ErrorCode::kNotFound:
      return Status::NotFound(std::move(message));
    case ErrorCode::kConnectionError:
      return Status::ConnectionError(std::move(message));
    case ErrorCode::kDataError:
      return Status::DataError(std::move(message));
    case ErrorCode::kCorruption:
      return Status::Corruption(std::move(message));
    case ErrorCode::kInvalidState:
      return Status::InvalidState(std::move(message));
    case ErrorCode::kCancelled:
      return Status::Cancelled(std::move(message));
    case ErrorCode::kInternal:
      return Status::Internal(std::move(message));
    default:
      return Status::IoError(std::move(message));
  }
}

// A reader that passes through `base` but fails, ends early or sleeps as the fault says.
class FaultyReader : public ObjectReader {
 public:
  FaultyReader(std::unique_ptr<ObjectReader> base, FaultSpec fault, std::string url)
      : base_(std::move(base)), fault_(std::move(fault)), url_(std::move(url)) {}

  const ObjectInfo& info() const override { return base_->info(); }
  uint64_t range_first() const override { return base_->range_first(); }
  uint64_t range_length() const override { return base_->range_length(); }

  Result<size_t> Read(char* dst, size_t capacity) override {
    using Kind = FaultSpec::Kind;
    if (fault_.kind == Kind::kSlowRead) {
      std::this_thread::sleep_for(fault_.delay);
      return base_->Read(dst, capacity);
    }
    if (returned_ >= fault_.after_bytes) {
      if (fault_.kind == Kind::kTruncateRead) return size_t{0};
      return InjectedError(fault_.error, "read of " + url_ + " failed after " +
                                             std::to_string(returned_) + " bytes");
    }
    uint64_t allowed = fault_.after_bytes - returned_;
    size_t want = static_cast<size_t>(std::min<uint64_t>(capacity, allowed));
    ASSIGN_OR_RETURN(size_t n, base_->Read(dst, want));
    returned_ += n;
    return n;
  }

 private:
  std::unique_ptr<ObjectReader> base_;
  FaultSpec fault_;
  std::string url_;
  uint64_t returned_ = 0;
};

// A writer that passes through `base` and consults the store's kFailPut faults at Commit, so
// that a failure strikes after the bytes were written, as a full disk or a crash would.
class FaultyWriter : public ObjectWriter {
 public:
  using TakeFault = std::function<std::optional<FaultSpec>()>;
  FaultyWriter(std::unique_ptr<ObjectWriter> base, TakeFault take_fault, std::string url)
      : base_(std::move(base)), take_fault_(std::move(take_fault)), url_(std::move(url)) {}

  Status Write(std::string_view chunk) override { return base_->Write(chunk); }
  void SetChecksumCrc32(std::string checksum) override {
    base_->SetChecksumCrc32(std::move(checksum));
  }
  Result<ObjectInfo> Commit() override {
    if (std::optional<FaultSpec> fault = take_fault_()) {
      base_->Abort();
      return InjectedError(fault->error, "put of " + url_ + " failed");
    }
    return base_->Commit();
  }
  void Abort() override { base_->Abort(); }

 private:
  std::unique_ptr<ObjectWriter> base_;
  TakeFault take_fault_;
  std::string url_;
};

}  // namespace

FaultInjectingStore::FaultInjectingStore(ObjectStore& base) : base_(base) {}

void FaultInjectingStore::Arm(FaultSpec fault) {
  if (fault.times == 0) return;  // would never fire
  std::lock_guard lock(mu_);
  armed_.push_back(std::move(fault));
}

void FaultInjectingStore::Clear() {
  std::lock_guard lock(mu_);
  armed_.clear();
}

int FaultInjectingStore::fired() const {
  std::lock_guard lock(mu_);
  return fired_;
}

std::optional<FaultSpec> FaultInjectingStore::Take(std::initializer_list<FaultSpec::Kind> kinds,
                                                   std::string_view subject) {
  std::lock_guard lock(mu_);
  for (auto it = armed_.begin(); it != armed_.end(); ++it) {
    if (std::find(kinds.begin(), kinds.end(), it->kind) == kinds.end()) continue;
    if (subject.find(it->key_substring) == std::string_view::npos) continue;
    FaultSpec fault = *it;
    if (it->times > 0 && --it->times == 0) armed_.erase(it);
    ++fired_;
    return fault;
  }
  return std::nullopt;
}

Status FaultInjectingStore::CreateBucket(std::string_view bucket) {
  return base_.CreateBucket(bucket);
}
Status FaultInjectingStore::DeleteBucket(std::string_view bucket) {
  return base_.DeleteBucket(bucket);
}
Result<bool> FaultInjectingStore::BucketExists(std::string_view bucket) {
  return base_.BucketExists(bucket);
}
Result<std::vector<BucketInfo>> FaultInjectingStore::ListBuckets() { return base_.ListBuckets(); }

Result<ObjectInfo> FaultInjectingStore::Put(std::string_view bucket, std::string_view key,
                                            std::string_view data, const PutOptions& options) {
  if (auto fault = Take({FaultSpec::Kind::kFailPut}, key)) {
    return InjectedError(fault->error, "put of " + ObjectUrl(bucket, key) + " failed");
  }
  return base_.Put(bucket, key, data, options);
}

Result<ObjectInfo> FaultInjectingStore::PutStream(std::string_view bucket, std::string_view key,
                                                  const ByteSource& source,
                                                  const PutOptions& options) {
  if (auto fault = Take({FaultSpec::Kind::kFailPut}, key)) {
    return InjectedError(fault->error, "put of " + ObjectUrl(bucket, key) + " failed");
  }
  return base_.PutStream(bucket, key, source, options);
}

Result<std::unique_ptr<ObjectWriter>> FaultInjectingStore::OpenWriter(std::string_view bucket,
                                                                      std::string_view key,
                                                                      const PutOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<ObjectWriter> writer, base_.OpenWriter(bucket, key, options));
  std::string subject(key);
  auto take_fault = [this, subject]() { return Take({FaultSpec::Kind::kFailPut}, subject); };
  return std::unique_ptr<ObjectWriter>(
      std::make_unique<FaultyWriter>(std::move(writer), take_fault, ObjectUrl(bucket, key)));
}

Result<std::unique_ptr<ObjectReader>> FaultInjectingStore::Get(std::string_view bucket,
                                                               std::string_view key,
                                                               std::optional<ByteRange> range) {
  using Kind = FaultSpec::Kind;
  if (auto fault = Take({Kind::kFailOpen}, key)) {
    return InjectedError(fault->error, "open of " + ObjectUrl(bucket, key) + " failed");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<ObjectReader> reader, base_.Get(bucket, key, range));
  if (auto fault = Take({Kind::kFailRead, Kind::kTruncateRead, Kind::kSlowRead}, key)) {
    return std::unique_ptr<ObjectReader>(
        std::make_unique<FaultyReader>(std::move(reader), *fault, ObjectUrl(bucket, key)));
  }
  return reader;
}

Result<ObjectInfo> FaultInjectingStore::Head(std::string_view bucket, std::string_view key) {
  if (auto fault = Take({FaultSpec::Kind::kFailOpen}, key)) {
    return InjectedError(fault->error, "head of " + ObjectUrl(bucket, key) + " failed");
  }
  return base_.Head(bucket, key);
}

Status FaultInjectingStore::Delete(std::string_view bucket, std::string_view key) {
  return base_.Delete(bucket, key);
}

Result<ListResult> FaultInjectingStore::List(std::string_view bucket, const ListOptions& options) {
  if (auto fault = Take({FaultSpec::Kind::kFailList}, options.prefix)) {
    return InjectedError(fault->error,
                         "list of s3://" + std::string(bucket) + "/" + options.prefix + " failed");
  }
  return base_.List(bucket, options);
}

}  // namespace opendms::objectstore

// DiskStore: buckets as folders on local disk. The layout and the rules for files placed by hand
// are in docs/object-store.md; the invariants the code keeps:
//
//   - <root>/<bucket>/<key> is the object's bytes. Nothing else of ours is ever inside a bucket
//     folder; our files live under <root>/.opendms/ (".opendms" is not a bucket name).
//   - <root>/.opendms/meta/<bucket>/<key> is the object's metadata sidecar (JSON). The meta tree
//     mirrors the data tree, so it has no name clashes the data tree does not have. A folder
//     marker "p/" is the data folder <bucket>/p plus the sidecar meta/<bucket>/p/.opendms-folder
//     (no key segment may start with ".opendms", so that name is never a key's).
//   - A sidecar is believed only when the size, mtime and inode it records are the data file's:
//     otherwise (file copied or overwritten by hand, crash between writes) the ETag is computed
//     from the bytes again and the sidecar rewritten. So a missing or stale sidecar is harmless.
//   - Put writes the body to a temp file under .opendms/tmp (same file system), fsyncs it, writes
//     and installs the sidecar (recording the temp file's inode, which the rename keeps), then
//     renames the body into place and fsyncs the folders. The data rename is the commit point.
//   - namespace_mu_ serializes every change to the trees (mkdir, rename, unlink, rmdir), which
//     are short; streaming and hashing happen outside it.

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <unordered_map>

#include "objectstore/list_pager.h"
#include "objectstore/md5.h"
#include "objectstore/objectstore.h"
#include "objectstore/posix_file.h"
#include "objectstore/store_rules.h"

namespace opendms::objectstore {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kFolderMarkerName = ".opendms-folder";
constexpr std::string_view kBucketRecordName = ".opendms-bucket";
constexpr size_t kIoBufferSize = 1 << 20;
// Temp files older than this at open are leftovers of a crashed process.
constexpr auto kStaleTempAge = std::chrono::hours(1);

bool IsAbsent(int err) { return err == ENOENT || err == ENOTDIR; }

// Whether any segment of `key` starts with '.': such keys are objects only when written through
// the store (they have a sidecar); files like rsync's ".name.XXXXXX" temps are not objects.
bool HasHiddenSegment(std::string_view key) {
  if (key.starts_with('.')) return true;
  return key.find("/.") != std::string_view::npos;
}

Result<std::optional<struct stat>> LstatIfPresent(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) return std::optional<struct stat>(st);
  if (IsAbsent(errno)) return std::optional<struct stat>();
  return Status::FromErrno("cannot stat " + path, errno);
}

bool IsDirectory(const std::string& path) {  // follows symlinks (a bucket may be one)
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool IsRegularFile(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// A sidecar's JSON, or nullopt when it is missing or unreadable (both mean "recompute").
std::optional<Json> ReadSidecar(const std::string& path) {
  int err = 0;
  Result<FileDescriptor> fd = OpenPath(path, O_RDONLY | O_NOFOLLOW, 0, &err);
  if (!fd.ok()) return std::nullopt;
  std::string text;
  char buf[4096];
  uint64_t offset = 0;
  while (true) {
    Result<size_t> n = PreadSome(fd->get(), buf, sizeof buf, offset, path);
    if (!n.ok()) return std::nullopt;
    if (*n == 0) break;
    text.append(buf, *n);
    offset += *n;
  }
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return std::nullopt;
  return doc;
}

// One entry of a data folder, with the key order it sorts by.
struct DirEntry {
  std::string name;
  bool is_dir = false;
  // name, or name + "/" for a folder: sorting by this puts every key below the folder where S3
  // sorts it ("a-b" < "a/b" because '-' < '/', though "a" < "a-b").
  std::string sort_key;
};
using DirListing = std::shared_ptr<const std::vector<DirEntry>>;

// Sorted listings of data folders, reused while the folder's mtime is unchanged, so that paging
// through a large folder reads and sorts it once instead of once per page. A listing is cached
// only when the folder's mtime was old when it was read: file system timestamps are coarse, and a
// change in the same tick as the read would otherwise go unnoticed ("racy timestamps").
class DirCache {
 public:
  Result<DirListing> Read(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      if (IsAbsent(errno)) return std::make_shared<const std::vector<DirEntry>>();
      return Status::FromErrno("cannot stat " + path, errno);
    }
    {
      std::lock_guard lock(mu_);
      auto it = cache_.find(path);
      if (it != cache_.end() && it->second.dev == st.st_dev && it->second.inode == st.st_ino &&
          it->second.mtime_ns == MtimeNanos(st)) {
        return it->second.entries;
      }
    }
    int64_t read_start_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
    ASSIGN_OR_RETURN(DirListing entries, ReadSorted(path));
    if (MtimeNanos(st) < read_start_ns - kRacyWindowNs) {
      std::lock_guard lock(mu_);
      if (total_entries_ + entries->size() > kMaxCachedEntries) {
        cache_.clear();
        total_entries_ = 0;
      }
      auto& slot = cache_[path];
      total_entries_ -= slot.entries ? slot.entries->size() : 0;
      slot = Cached{st.st_dev, st.st_ino, MtimeNanos(st), entries};
      total_entries_ += entries->size();
    }
    return entries;
  }

 private:
  static constexpr int64_t kRacyWindowNs = 2'000'000'000;
  static constexpr size_t kMaxCachedEntries = 4'000'000;

  struct Cached {
    dev_t dev = 0;
    ino_t inode = 0;
    int64_t mtime_ns = 0;
    DirListing entries;
  };

  static Result<DirListing> ReadSorted(const std::string& path) {
    DIR* dir = ::opendir(path.c_str());
    if (!dir) {
      if (IsAbsent(errno)) return std::make_shared<const std::vector<DirEntry>>();
      return Status::FromErrno("cannot open folder " + path, errno);
    }
    std::unique_ptr<DIR, int (*)(DIR*)> closer(dir, ::closedir);
    auto entries = std::make_shared<std::vector<DirEntry>>();
    while (true) {
      errno = 0;
      struct dirent* e = ::readdir(dir);
      if (!e) {
        if (errno != 0) return Status::FromErrno("cannot read folder " + path, errno);
        break;
      }
      std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      unsigned char type = e->d_type;
      if (type == DT_UNKNOWN) {
        struct stat st;
        if (::fstatat(::dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
      }
      // Symbolic links, sockets and the like are not objects.
      if (type != DT_DIR && type != DT_REG) continue;
      DirEntry entry;
      entry.name = std::string(name);
      entry.is_dir = type == DT_DIR;
      entry.sort_key = entry.is_dir ? entry.name + "/" : entry.name;
      entries->push_back(std::move(entry));
    }
    std::sort(entries->begin(), entries->end(),
              [](const DirEntry& a, const DirEntry& b) { return a.sort_key < b.sort_key; });
    return DirListing(std::move(entries));
  }

  std::mutex mu_;
  std::unordered_map<std::string, Cached> cache_;  // guarded by mu_
  size_t total_entries_ = 0;                       // guarded by mu_
};

// Deletes a temp file unless Release()d (after it was renamed into place).
class TempFileGuard {
 public:
  explicit TempFileGuard(std::string path) : path_(std::move(path)) {}
  TempFileGuard(const TempFileGuard&) = delete;
  TempFileGuard& operator=(const TempFileGuard&) = delete;
  ~TempFileGuard() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }
  void Release() { path_.clear(); }
  // Deletes the file now (if not released).
  void Reset() {
    if (!path_.empty()) ::unlink(path_.c_str());
    path_.clear();
  }

 private:
  std::string path_;
};

class DiskReader : public ObjectReader {
 public:
  DiskReader(FileDescriptor fd, std::string path, ObjectInfo info, ResolvedRange range)
      : fd_(std::move(fd)),
        path_(std::move(path)),
        info_(std::move(info)),
        range_(range),
        pos_(range.first) {}

  const ObjectInfo& info() const override { return info_; }
  uint64_t range_first() const override { return range_.first; }
  uint64_t range_length() const override { return range_.length; }

  Result<size_t> Read(char* dst, size_t capacity) override {
    uint64_t end = range_.first + range_.length;
    if (pos_ >= end || capacity == 0) return size_t{0};
    size_t want = static_cast<size_t>(std::min<uint64_t>(capacity, end - pos_));
    ASSIGN_OR_RETURN(size_t n, PreadSome(fd_.get(), dst, want, pos_, path_));
    if (n == 0) {
      // Only an overwrite in place (not by rename) can shrink an open file.
      return Status::IoError("object file " + path_ +
                             " shrank while being read (overwritten in place?) at byte " +
                             std::to_string(pos_) + " of " + std::to_string(info_.size));
    }
    pos_ += n;
    return n;
  }

 private:
  FileDescriptor fd_;  // a folder marker has none and an empty range
  std::string path_;
  ObjectInfo info_;
  ResolvedRange range_;
  uint64_t pos_;
};

class DiskStore : public ObjectStore {
 public:
  explicit DiskStore(std::string root)
      : root_(std::move(root)),
        meta_root_(root_ + "/.opendms/meta"),
        tmp_root_(root_ + "/.opendms/tmp") {}

  // Creates the housekeeping folders and removes temp files left by crashed writers.
  Status Init() {
    std::error_code ec;
    fs::create_directories(meta_root_, ec);
    if (ec) return Status::IoError("cannot create " + meta_root_ + ": " + ec.message());
    fs::create_directories(tmp_root_, ec);
    if (ec) return Status::IoError("cannot create " + tmp_root_ + ": " + ec.message());
    auto now = fs::file_time_type::clock::now();
    for (auto it = fs::directory_iterator(tmp_root_, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      std::error_code ec2;
      auto mtime = it->last_write_time(ec2);
      if (!ec2 && now - mtime > kStaleTempAge) fs::remove_all(it->path(), ec2);
    }
    return Status::Ok();
  }

  Status CreateBucket(std::string_view bucket) override {
    RETURN_IF_ERROR(ValidateBucketName(bucket));
    std::string path = BucketPath(bucket);
    std::lock_guard lock(namespace_mu_);
    if (IsDirectory(path)) return Status::AlreadyExists("bucket already exists: " + path);
    // Metadata of a bucket folder removed by hand is stale: start clean.
    std::error_code ec;
    fs::remove_all(MetaBucketPath(bucket), ec);
    if (::mkdir(MetaBucketPath(bucket).c_str(), 0755) != 0) {
      return Status::FromErrno("cannot create " + MetaBucketPath(bucket), errno);
    }
    Json record = {{"creation_date_ns", NowNanos()}};
    ASSIGN_OR_RETURN(std::string temp, WriteTemp(record.dump(), /*durable=*/true));
    TempFileGuard guard(temp);
    std::string record_path = MetaBucketPath(bucket) + "/" + std::string(kBucketRecordName);
    if (::rename(temp.c_str(), record_path.c_str()) != 0) {
      return Status::FromErrno("cannot rename into " + record_path, errno);
    }
    guard.Release();
    RETURN_IF_ERROR(FsyncDir(MetaBucketPath(bucket)));
    RETURN_IF_ERROR(FsyncDir(meta_root_));
    if (::mkdir(path.c_str(), 0755) != 0) {
      if (errno == EEXIST) return Status::AlreadyExists("bucket already exists: " + path);
      return Status::FromErrno("cannot create bucket folder " + path, errno);
    }
    return FsyncDir(root_);
  }

  Status DeleteBucket(std::string_view bucket) override {
    RETURN_IF_ERROR(ValidateBucketName(bucket));
    std::string path = BucketPath(bucket);
    std::lock_guard lock(namespace_mu_);
    if (!IsDirectory(path)) return NoSuchBucket(bucket);
    ListOptions first_key;
    first_key.max_keys = 1;
    ASSIGN_OR_RETURN(ListPager pager, ListPager::Make(first_key));
    RETURN_IF_ERROR(Walk(bucket, pager));
    if (!pager.entries().empty()) {
      return Status::InvalidState("bucket is not empty: " + std::string(bucket) + " (holds " +
                                  ObjectUrl(bucket, pager.entries().front().key) + ")");
    }
    // No objects: what is left are empty folders and hidden files that are not objects.
    std::error_code ec;
    fs::remove_all(path, ec);
    if (ec) return Status::IoError("cannot remove bucket folder " + path + ": " + ec.message());
    fs::remove_all(MetaBucketPath(bucket), ec);
    return FsyncDir(root_);
  }

  Result<bool> BucketExists(std::string_view bucket) override {
    RETURN_IF_ERROR(ValidateBucketName(bucket));
    return IsDirectory(BucketPath(bucket));
  }

  Result<std::vector<BucketInfo>> ListBuckets() override {
    std::vector<BucketInfo> buckets;
    std::error_code ec;
    for (auto it = fs::directory_iterator(root_, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (!ValidateBucketName(name).ok()) continue;  // also skips .opendms
      struct stat st;
      if (::stat(it->path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
      BucketInfo info{name, MtimeOf(st)};  // a folder made by hand: its mtime is all we have
      if (std::optional<Json> record =
              ReadSidecar(MetaBucketPath(name) + "/" + std::string(kBucketRecordName))) {
        if (record->contains("creation_date_ns") && (*record)["creation_date_ns"].is_number()) {
          info.creation_date = FromNanos((*record)["creation_date_ns"].get<int64_t>());
        }
      }
      buckets.push_back(std::move(info));
    }
    if (ec) return Status::IoError("cannot list " + root_ + ": " + ec.message());
    std::sort(buckets.begin(), buckets.end(),
              [](const BucketInfo& a, const BucketInfo& b) { return a.name < b.name; });
    return buckets;
  }

  Result<ObjectInfo> Put(std::string_view bucket, std::string_view key, std::string_view data,
                         const PutOptions& options) override {
    ASSIGN_OR_RETURN(std::unique_ptr<ObjectWriter> writer, OpenWriter(bucket, key, options));
    RETURN_IF_ERROR(writer->Write(data));
    return writer->Commit();
  }

  Result<ObjectInfo> PutStream(std::string_view bucket, std::string_view key,
                               const ByteSource& source, const PutOptions& options) override {
    ASSIGN_OR_RETURN(std::unique_ptr<ObjectWriter> writer, OpenWriter(bucket, key, options));
    std::unique_ptr<char[]> buffer(new char[kIoBufferSize]);
    while (true) {
      ASSIGN_OR_RETURN(size_t n, source(buffer.get(), kIoBufferSize));
      if (n == 0) break;
      if (n > kIoBufferSize) return SourceOverrun(bucket, key, n, kIoBufferSize);
      RETURN_IF_ERROR(writer->Write(std::string_view(buffer.get(), n)));
    }
    return writer->Commit();
  }

  Result<std::unique_ptr<ObjectWriter>> OpenWriter(std::string_view bucket, std::string_view key,
                                                   const PutOptions& options) override;

  // Called by DiskWriter::Commit once the body is in the (unsynced) temp file `temp_path`:
  // fsyncs it, writes the sidecar, renames both into place and fsyncs the folders (steps 1–4 of
  // docs/object-store.md "Writes"). The guard is released once the body is in place.
  Result<ObjectInfo> CommitBody(std::string_view bucket, std::string_view key, FileDescriptor fd,
                                TempFileGuard& body_guard, std::string etag,
                                const PutOptions& options) {
    const std::string& temp_path = body_guard.path();
    RETURN_IF_ERROR(Fsync(fd.get(), temp_path));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return Status::FromErrno("cannot stat " + temp_path, errno);
    fd = FileDescriptor();

    // 2. The sidecar, naming the body's inode (kept by the rename).
    ObjectInfo info;
    info.key = std::string(key);
    info.size = static_cast<uint64_t>(st.st_size);
    info.etag = options.etag.empty() ? std::move(etag) : options.etag;
    info.last_modified = MtimeOf(st);
    info.content_type =
        options.content_type.empty() ? std::string(kDefaultContentType) : options.content_type;
    info.user_metadata = options.user_metadata;
    info.content_headers = options.content_headers;
    info.checksum_crc32 = options.checksum_crc32;
    ASSIGN_OR_RETURN(std::string sidecar_temp,
                     WriteTemp(SidecarJson(info, IdentityOf(st)).dump(), /*durable=*/true));
    TempFileGuard sidecar_guard(sidecar_temp);

    // 3. Both into place: sidecar first, then the body (the commit point).
    std::string data_path = DataPath(bucket, key);
    std::string meta_path = MetaPath(bucket, key);
    std::vector<std::string> dirs_to_sync;
    {
      std::lock_guard lock(namespace_mu_);
      if (!IsDirectory(BucketPath(bucket))) return NoSuchBucket(bucket);
      RETURN_IF_ERROR(MakeDataFolders(bucket, key, /*include_last=*/false, dirs_to_sync));
      RETURN_IF_ERROR(CheckNotAFolder(bucket, key));
      RETURN_IF_ERROR(InstallMeta(sidecar_temp, meta_path, dirs_to_sync));
      sidecar_guard.Release();
      if (::rename(temp_path.c_str(), data_path.c_str()) != 0) {
        return Status::FromErrno("cannot rename into " + data_path, errno);
      }
      body_guard.Release();
    }
    dirs_to_sync.push_back(ParentOf(data_path));
    dirs_to_sync.push_back(ParentOf(meta_path));
    RETURN_IF_ERROR(SyncDirs(dirs_to_sync));
    return info;
  }

  Result<ObjectInfo> CommitFolderMarker(std::string_view bucket, std::string_view key,
                                        const PutOptions& options) {
    ByteSource nothing = [](char*, size_t) -> Result<size_t> { return size_t{0}; };
    return PutFolderMarker(bucket, key, nothing, options);
  }

  std::string NewTempPath() {
    return tmp_root_ + "/" + std::to_string(::getpid()) + "." +
           std::to_string(temp_counter_.fetch_add(1)) + ".tmp";
  }

  Result<std::unique_ptr<ObjectReader>> Get(std::string_view bucket, std::string_view key,
                                            std::optional<ByteRange> range) override {
    RETURN_IF_ERROR(ValidateBucketAndKey(bucket, key));
    if (IsFolderMarker(key)) {
      ASSIGN_OR_RETURN(ObjectInfo info, MarkerInfo(bucket, key));
      ASSIGN_OR_RETURN(ResolvedRange resolved, ResolveRange(range, 0, bucket, key));
      return std::unique_ptr<ObjectReader>(
          std::make_unique<DiskReader>(FileDescriptor(), "", std::move(info), resolved));
    }
    std::string path = DataPath(bucket, key);
    ASSIGN_OR_RETURN(FileDescriptor fd, OpenObjectFile(bucket, key));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return Status::FromErrno("cannot stat " + path, errno);
    ASSIGN_OR_RETURN(ObjectInfo info, InfoOfOpenFile(bucket, key, fd.get(), st));
    ASSIGN_OR_RETURN(ResolvedRange resolved, ResolveRange(range, info.size, bucket, key));
    return std::unique_ptr<ObjectReader>(
        std::make_unique<DiskReader>(std::move(fd), path, std::move(info), resolved));
  }

  Result<ObjectInfo> Head(std::string_view bucket, std::string_view key) override {
    RETURN_IF_ERROR(ValidateBucketAndKey(bucket, key));
    return HeadValidated(bucket, key);
  }

  Status Delete(std::string_view bucket, std::string_view key) override {
    RETURN_IF_ERROR(ValidateBucketAndKey(bucket, key));
    std::string bucket_path = BucketPath(bucket);
    std::string data_path = DataPath(bucket, key);
    std::lock_guard lock(namespace_mu_);
    if (!IsDirectory(bucket_path)) return NoSuchBucket(bucket);
    if (IsFolderMarker(key)) {
      std::string marker = MetaPath(bucket, key);
      if (::unlink(marker.c_str()) != 0 && !IsAbsent(errno)) {
        return Status::FromErrno("cannot remove " + marker, errno);
      }
      RemoveEmptyFolders(bucket, data_path);
      RemoveEmptyMetaFolders(bucket, ParentOf(marker));
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(std::optional<struct stat> st, LstatIfPresent(data_path));
    if (st && !S_ISDIR(st->st_mode)) {
      if (::unlink(data_path.c_str()) != 0 && !IsAbsent(errno)) {
        return Status::FromErrno("cannot remove " + data_path, errno);
      }
    }
    std::string meta_path = MetaPath(bucket, key);
    if (IsRegularFile(meta_path)) ::unlink(meta_path.c_str());
    std::string parent = ParentOf(data_path);
    RemoveEmptyFolders(bucket, parent);
    RemoveEmptyMetaFolders(bucket, ParentOf(meta_path));
    if (st) {
      // The removal's durability: best effort on the nearest folder still there.
      while (parent.size() > bucket_path.size() && !IsDirectory(parent)) parent = ParentOf(parent);
      RETURN_IF_ERROR(FsyncDir(parent));
    }
    return Status::Ok();
  }

  Result<ListResult> List(std::string_view bucket, const ListOptions& options) override {
    RETURN_IF_ERROR(ValidateBucketName(bucket));
    ASSIGN_OR_RETURN(ListPager pager, ListPager::Make(options));
    if (!IsDirectory(BucketPath(bucket))) return NoSuchBucket(bucket);
    RETURN_IF_ERROR(Walk(bucket, pager));
    ListResult result;
    for (const ListPager::Entry& entry : pager.entries()) {
      if (entry.is_common_prefix) {
        result.common_prefixes.push_back(entry.key);
        continue;
      }
      Result<ObjectInfo> info = HeadValidated(bucket, entry.key);
      if (info.ok()) {
        result.objects.push_back(std::move(info).value());
      } else if (!info.status().IsNotFound()) {  // NotFound: deleted since the walk saw it
        return info.status();
      }
    }
    result.truncated = pager.truncated();
    result.next_start_after = pager.NextStartAfter();
    return result;
  }

 private:
  // ---- paths ----
  std::string BucketPath(std::string_view bucket) const {
    return root_ + "/" + std::string(bucket);
  }
  std::string MetaBucketPath(std::string_view bucket) const {
    return meta_root_ + "/" + std::string(bucket);
  }
  // A folder marker's data is its folder: "p/" -> <bucket>/p.
  std::string DataPath(std::string_view bucket, std::string_view key) const {
    if (IsFolderMarker(key)) key.remove_suffix(1);
    return BucketPath(bucket) + "/" + std::string(key);
  }
  std::string MetaPath(std::string_view bucket, std::string_view key) const {
    if (IsFolderMarker(key))
      return MetaBucketPath(bucket) + "/" + std::string(key) + std::string(kFolderMarkerName);
    return MetaBucketPath(bucket) + "/" + std::string(key);
  }
  static std::string ParentOf(const std::string& path) { return path.substr(0, path.rfind('/')); }

  static int64_t NowNanos() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::Now().time_since_epoch())
        .count();
  }
  static TimePoint FromNanos(int64_t ns) {
    return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(ns)));
  }

  // ---- sidecars ----
  static Json SidecarJson(const ObjectInfo& info, const FileIdentity& identity) {
    Json doc = {{"size", identity.size},
                {"mtime_ns", identity.mtime_ns},
                {"inode", identity.inode},
                {"etag", info.etag},
                {"content_type", info.content_type},
                {"user_metadata", info.user_metadata}};
    if (!info.checksum_crc32.empty()) doc["checksum_crc32"] = info.checksum_crc32;
    if (!info.content_headers.empty()) doc["content_headers"] = info.content_headers;
    return doc;
  }

  // Fills info's etag, content type and user metadata from a sidecar; false if it lacks them.
  static bool FillFromSidecar(const Json& doc, ObjectInfo& info) {
    auto etag = doc.find("etag");
    auto content_type = doc.find("content_type");
    auto user_metadata = doc.find("user_metadata");
    if (etag == doc.end() || !etag->is_string() || content_type == doc.end() ||
        !content_type->is_string() || user_metadata == doc.end() || !user_metadata->is_object()) {
      return false;
    }
    info.etag = etag->get<std::string>();
    info.content_type = content_type->get<std::string>();
    info.user_metadata.clear();
    for (const auto& [k, v] : user_metadata->items()) {
      if (v.is_string()) info.user_metadata[k] = v.get<std::string>();
    }
    info.content_headers.clear();
    auto headers = doc.find("content_headers");  // optional: older sidecars lack it
    if (headers != doc.end() && headers->is_object()) {
      for (const auto& [k, v] : headers->items()) {
        if (v.is_string()) info.content_headers[k] = v.get<std::string>();
      }
    }
    auto checksum = doc.find("checksum_crc32");  // optional: older sidecars lack it
    info.checksum_crc32 =
        checksum != doc.end() && checksum->is_string() ? checksum->get<std::string>() : "";
    return true;
  }

  static std::optional<FileIdentity> RecordedIdentity(const Json& doc) {
    auto size = doc.find("size");
    auto mtime = doc.find("mtime_ns");
    auto inode = doc.find("inode");
    if (size == doc.end() || mtime == doc.end() || inode == doc.end() ||
        !size->is_number_unsigned() || !mtime->is_number_integer() ||
        !inode->is_number_unsigned()) {
      return std::nullopt;
    }
    return FileIdentity{size->get<uint64_t>(), mtime->get<int64_t>(), inode->get<uint64_t>()};
  }

  // Writes `content` to a new temp file (fsynced when durable) and returns its path.
  Result<std::string> WriteTemp(std::string_view content, bool durable) {
    std::string path = NewTempPath();
    ASSIGN_OR_RETURN(FileDescriptor fd,
                     OpenPath(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0644));
    TempFileGuard guard(path);
    RETURN_IF_ERROR(WriteAll(fd.get(), content, path));
    if (durable) RETURN_IF_ERROR(Fsync(fd.get(), path));
    guard.Release();
    return path;
  }

  // Renames a sidecar temp file to meta_path, making its folders. The data tree is the truth:
  // a stale sidecar file where a folder is needed, or a stale folder where the sidecar goes
  // (objects that were renamed or removed by hand), is removed. Called with namespace_mu_ held.
  Status InstallMeta(const std::string& temp, const std::string& meta_path,
                     std::vector<std::string>& dirs_to_sync) {
    std::string parent = ParentOf(meta_path);
    size_t pos = meta_root_.size();
    while (pos < parent.size()) {
      size_t next = parent.find('/', pos + 1);
      if (next == std::string::npos) next = parent.size();
      std::string dir = parent.substr(0, next);
      if (::mkdir(dir.c_str(), 0755) == 0) {
        dirs_to_sync.push_back(ParentOf(dir));
      } else if (errno == EEXIST) {
        if (!IsDirectory(dir)) {
          ::unlink(dir.c_str());
          if (::mkdir(dir.c_str(), 0755) != 0) {
            return Status::FromErrno("cannot create " + dir, errno);
          }
          dirs_to_sync.push_back(ParentOf(dir));
        }
      } else {
        return Status::FromErrno("cannot create " + dir, errno);
      }
      pos = next;
    }
    struct stat st;
    if (::lstat(meta_path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      std::error_code ec;
      fs::remove_all(meta_path, ec);
    }
    if (::rename(temp.c_str(), meta_path.c_str()) != 0) {
      return Status::FromErrno("cannot rename into " + meta_path, errno);
    }
    return Status::Ok();
  }

  // ---- data folders ----

  // Creates the folders of key's path below the bucket folder (all but the last segment, or all
  // of them when include_last). A file where a folder is needed is another object: on disk a key
  // cannot be both an object and a folder of keys. Called with namespace_mu_ held.
  Status MakeDataFolders(std::string_view bucket, std::string_view key, bool include_last,
                         std::vector<std::string>& dirs_to_sync) {
    std::string_view path_key = IsFolderMarker(key) ? key.substr(0, key.size() - 1) : key;
    size_t end = include_last ? path_key.size() : path_key.rfind('/');
    if (end == std::string_view::npos) return Status::Ok();
    std::string base = BucketPath(bucket) + "/";
    size_t pos = 0;
    while (pos < end) {
      size_t next = path_key.find('/', pos);
      if (next == std::string_view::npos || next > end) next = end;
      std::string prefix_key(path_key.substr(0, next));
      std::string dir = base + prefix_key;
      if (::mkdir(dir.c_str(), 0755) == 0) {
        dirs_to_sync.push_back(ParentOf(dir));
      } else if (errno == EEXIST) {
        if (!IsDirectory(dir)) {
          return Status::AlreadyExists("cannot store " + ObjectUrl(bucket, key) + ": object " +
                                       ObjectUrl(bucket, prefix_key) +
                                       " exists, and on disk a key cannot be both an object "
                                       "and a folder of other keys");
        }
      } else {
        return Status::FromErrno("cannot create " + dir, errno);
      }
      pos = next + 1;
    }
    return Status::Ok();
  }

  // Fails when key's data path is a folder holding keys; removes it when it is an empty folder
  // (left behind by hand). Called with namespace_mu_ held.
  Status CheckNotAFolder(std::string_view bucket, std::string_view key) {
    std::string path = DataPath(bucket, key);
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return Status::Ok();
    if (!IsRegularFile(MetaPath(bucket, std::string(key) + "/")) && ::rmdir(path.c_str()) == 0) {
      return Status::Ok();
    }
    ListOptions first_key_below;
    first_key_below.prefix = std::string(key) + "/";
    first_key_below.max_keys = 1;
    ASSIGN_OR_RETURN(ListPager pager, ListPager::Make(first_key_below));
    RETURN_IF_ERROR(Walk(bucket, pager));
    std::string other = pager.entries().empty()
                            ? "folder " + path + " (holding files that are not objects)"
                            : "object " + ObjectUrl(bucket, pager.entries().front().key);
    return Status::AlreadyExists("cannot store " + ObjectUrl(bucket, key) + ": " + other +
                                 " exists, and on disk a key cannot be both an object and a "
                                 "folder of other keys");
  }

  // Removes `dir` and its parents while they are empty, stopping at the bucket folder and at
  // folders that carry a folder marker. Called with namespace_mu_ held.
  void RemoveEmptyFolders(std::string_view bucket, std::string dir) {
    std::string bucket_path = BucketPath(bucket);
    while (dir.size() > bucket_path.size()) {
      std::string key = dir.substr(bucket_path.size() + 1) + "/";
      if (IsRegularFile(MetaPath(bucket, key))) return;
      if (::rmdir(dir.c_str()) != 0) return;  // not empty (or gone): stop
      dir = ParentOf(dir);
    }
  }
  void RemoveEmptyMetaFolders(std::string_view bucket, std::string dir) {
    std::string meta_bucket = MetaBucketPath(bucket);
    while (dir.size() > meta_bucket.size()) {
      if (::rmdir(dir.c_str()) != 0) return;
      dir = ParentOf(dir);
    }
  }

  static Status SyncDirs(std::vector<std::string>& dirs) {
    std::sort(dirs.begin(), dirs.end());
    dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
    for (const std::string& dir : dirs) RETURN_IF_ERROR(FsyncDir(dir));
    return Status::Ok();
  }

  // ---- folder markers ----

  Result<ObjectInfo> PutFolderMarker(std::string_view bucket, std::string_view key,
                                     const ByteSource& source, const PutOptions& options) {
    char probe[1];
    ASSIGN_OR_RETURN(size_t n, source(probe, sizeof probe));
    if (n != 0) {
      return Status::InvalidArgument("cannot store " + ObjectUrl(bucket, key) +
                                     ": a key ending in '/' is a folder marker, and on disk it "
                                     "can hold no bytes");
    }
    ObjectInfo info;
    info.key = std::string(key);
    info.etag = Md5Hex("");
    info.last_modified = Clock::Now();
    info.content_type =
        options.content_type.empty() ? std::string(kDefaultContentType) : options.content_type;
    info.user_metadata = options.user_metadata;
    info.content_headers = options.content_headers;
    info.checksum_crc32 = options.checksum_crc32;
    if (!options.etag.empty()) info.etag = options.etag;
    Json doc = SidecarJson(info, FileIdentity{});
    doc["last_modified_ns"] =
        std::chrono::duration_cast<std::chrono::nanoseconds>(info.last_modified.time_since_epoch())
            .count();
    ASSIGN_OR_RETURN(std::string temp, WriteTemp(doc.dump(), /*durable=*/true));
    TempFileGuard guard(temp);
    std::vector<std::string> dirs_to_sync;
    std::string meta_path = MetaPath(bucket, key);
    {
      std::lock_guard lock(namespace_mu_);
      if (!IsDirectory(BucketPath(bucket))) return NoSuchBucket(bucket);
      RETURN_IF_ERROR(MakeDataFolders(bucket, key, /*include_last=*/true, dirs_to_sync));
      RETURN_IF_ERROR(InstallMeta(temp, meta_path, dirs_to_sync));
      guard.Release();
    }
    dirs_to_sync.push_back(ParentOf(meta_path));
    RETURN_IF_ERROR(SyncDirs(dirs_to_sync));
    return info;
  }

  Result<ObjectInfo> MarkerInfo(std::string_view bucket, std::string_view key) {
    if (!IsDirectory(BucketPath(bucket))) return NoSuchBucket(bucket);
    std::optional<Json> doc;
    if (IsDirectory(DataPath(bucket, key))) doc = ReadSidecar(MetaPath(bucket, key));
    ObjectInfo info;
    info.key = std::string(key);
    if (!doc || !FillFromSidecar(*doc, info)) return NoSuchKey(bucket, key);
    auto modified = doc->find("last_modified_ns");
    if (modified != doc->end() && modified->is_number_integer()) {
      info.last_modified = FromNanos(modified->get<int64_t>());
    }
    return info;
  }

  // ---- reading ----

  Result<FileDescriptor> OpenObjectFile(std::string_view bucket, std::string_view key) {
    std::string path = DataPath(bucket, key);
    int err = 0;
    Result<FileDescriptor> fd = OpenPath(path, O_RDONLY | O_NOFOLLOW, 0, &err);
    if (!fd.ok()) {
      if (IsAbsent(err) || err == ELOOP) {
        if (!IsDirectory(BucketPath(bucket))) return NoSuchBucket(bucket);
        return NoSuchKey(bucket, key);
      }
      return fd.status();
    }
    return fd;
  }

  Result<ObjectInfo> HeadValidated(std::string_view bucket, std::string_view key) {
    if (IsFolderMarker(key)) return MarkerInfo(bucket, key);
    ASSIGN_OR_RETURN(FileDescriptor fd, OpenObjectFile(bucket, key));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) {
      return Status::FromErrno("cannot stat " + DataPath(bucket, key), errno);
    }
    return InfoOfOpenFile(bucket, key, fd.get(), st);
  }

  // The object behind an open data file: from its sidecar when the sidecar describes this very
  // file, else computed from the bytes (and the sidecar rewritten, as a cache).
  Result<ObjectInfo> InfoOfOpenFile(std::string_view bucket, std::string_view key, int fd,
                                    const struct stat& st) {
    if (!S_ISREG(st.st_mode)) return NoSuchKey(bucket, key);  // a folder
    std::string meta_path = MetaPath(bucket, key);
    std::optional<Json> doc = ReadSidecar(meta_path);
    if (!doc && HasHiddenSegment(key)) return NoSuchKey(bucket, key);
    FileIdentity identity = IdentityOf(st);
    ObjectInfo info;
    info.key = std::string(key);
    info.size = identity.size;
    info.last_modified = MtimeOf(st);
    if (doc && RecordedIdentity(*doc) == identity && FillFromSidecar(*doc, info)) return info;

    // Placed or overwritten by hand: an object without metadata of its own.
    std::string path = DataPath(bucket, key);
    Md5 md5;
    std::unique_ptr<char[]> buffer(new char[kIoBufferSize]);
    uint64_t offset = 0;
    while (offset < identity.size) {
      ASSIGN_OR_RETURN(size_t n, PreadSome(fd, buffer.get(), kIoBufferSize, offset, path));
      if (n == 0) break;
      md5.Update(buffer.get(), n);
      offset += n;
    }
    if (offset != identity.size) {
      return Status::IoError("object file " + path + " changed while its ETag was computed");
    }
    info.etag = md5.HexDigest();
    info.content_type = std::string(kDefaultContentType);
    // Caching the result is best effort: a failure here costs only a recomputation later.
    Result<std::string> temp = WriteTemp(SidecarJson(info, identity).dump(), /*durable=*/false);
    if (temp.ok()) {
      TempFileGuard guard(*temp);
      std::lock_guard lock(namespace_mu_);
      struct stat now;
      std::vector<std::string> unused;
      // Only if the path still holds the file we hashed.
      if (::lstat(path.c_str(), &now) == 0 && IdentityOf(now) == identity &&
          InstallMeta(*temp, meta_path, unused).ok()) {
        guard.Release();
      }
    }
    return info;
  }

  // ---- listing ----

  Status Walk(std::string_view bucket, ListPager& pager) {
    return WalkFolder(bucket, "", /*hidden=*/false, pager);
  }

  // Feeds the keys under the folder of `dir_key` ("" or "a/b/") to the pager in S3's order,
  // visiting only folders whose keys can be on the page. `hidden`: the folder's path has a
  // segment starting with '.', so its files need a sidecar to be objects.
  Status WalkFolder(std::string_view bucket, const std::string& dir_key, bool hidden,
                    ListPager& pager) {
    const ListOptions& options = pager.options();
    const std::string& prefix = options.prefix;
    const std::string& start_after = options.start_after;
    if (!dir_key.empty() && dir_key.starts_with(prefix) && dir_key > start_after &&
        IsRegularFile(MetaPath(bucket, dir_key))) {
      if (!pager.OfferObject(dir_key)) return Status::Ok();  // this folder's marker
    }
    ASSIGN_OR_RETURN(DirListing entries, dir_cache_.Read(BucketPath(bucket) + "/" + dir_key));

    // Skip, by binary search, the entries whose keys all sort before the prefix or at or
    // before start_after (true for a leading run of entries, as entries are in key order).
    std::string full;
    auto entirely_before = [&](const DirEntry& e) {
      full.assign(dir_key).append(e.sort_key);
      if (!e.is_dir) return full <= start_after || full < prefix;
      bool below_start = !start_after.starts_with(full) && start_after > full;
      bool below_prefix = !prefix.starts_with(full) && prefix > full;
      return below_start || below_prefix;
    };
    auto it = std::partition_point(entries->begin(), entries->end(), entirely_before);

    for (; it != entries->end(); ++it) {
      const DirEntry& e = *it;
      std::string key = dir_key + e.sort_key;
      // Past the prefix: so is everything after.
      if (!key.starts_with(prefix) && !prefix.starts_with(key) && key > prefix) break;
      bool entry_hidden = hidden || e.name.front() == '.';
      if (e.is_dir) {
        if (e.name.front() == '.' && !IsDirectory(MetaBucketPath(bucket) + "/" + key)) continue;
        if (std::optional<std::string> common = pager.CommonPrefixOf(key)) {
          if (!pager.OfferCommonPrefix(*common)) return Status::Ok();
          continue;
        }
        RETURN_IF_ERROR(WalkFolder(bucket, key, entry_hidden, pager));
        if (pager.full()) return Status::Ok();
        continue;
      }
      if (!ValidateKey(key).ok()) continue;  // a name no key can have (e.g. not UTF-8)
      if (entry_hidden && !IsRegularFile(MetaPath(bucket, key))) continue;
      if (std::optional<std::string> common = pager.CommonPrefixOf(key)) {
        if (!pager.OfferCommonPrefix(*common)) return Status::Ok();
        continue;
      }
      if (!pager.OfferObject(key)) return Status::Ok();
    }
    return Status::Ok();
  }

  const std::string root_;
  const std::string meta_root_;  // <root>/.opendms/meta: sidecars, mirroring the data tree
  const std::string tmp_root_;   // <root>/.opendms/tmp: files being written
  std::atomic<uint64_t> temp_counter_{0};
  std::mutex namespace_mu_;  // serializes changes to the data and meta trees
  DirCache dir_cache_;
};

// Streams into a temp file under .opendms/tmp, hashing on the way; Commit hands the file to
// DiskStore::CommitBody. Small chunks are gathered into a buffer so that write(2) sees large
// blocks whatever size the caller's chunks are.
class DiskWriter : public ObjectWriter {
 public:
  DiskWriter(DiskStore& store, std::string bucket, std::string key, PutOptions options,
             FileDescriptor fd, std::string temp_path)
      : store_(store),
        bucket_(std::move(bucket)),
        key_(std::move(key)),
        options_(std::move(options)),
        fd_(std::move(fd)),
        guard_(std::move(temp_path)) {}

  Status Write(std::string_view chunk) override {
    if (done_) return Finished();
    if (IsFolderMarker(key_)) {
      if (chunk.empty()) return Status::Ok();
      Abort();
      return Status::InvalidArgument("cannot store " + ObjectUrl(bucket_, key_) +
                                     ": a key ending in '/' is a folder marker, and on disk it "
                                     "can hold no bytes");
    }
    if (options_.etag.empty()) md5_.Update(chunk);  // a given ETag needs no hashing
    if (buffer_.size() + chunk.size() > kIoBufferSize) {
      Status flushed = Flush();
      if (!flushed.ok()) return Fail(flushed);
    }
    if (chunk.size() >= kIoBufferSize) {
      Status written = WriteAll(fd_.get(), chunk, guard_.path());
      if (!written.ok()) return Fail(written);
      return Status::Ok();
    }
    buffer_.append(chunk);
    return Status::Ok();
  }

  void SetChecksumCrc32(std::string checksum) override {
    options_.checksum_crc32 = std::move(checksum);
  }

  Result<ObjectInfo> Commit() override {
    if (done_) return Finished();
    done_ = true;
    if (IsFolderMarker(key_)) {
      guard_.Reset();
      return store_.CommitFolderMarker(bucket_, key_, options_);
    }
    RETURN_IF_ERROR(Flush());
    std::string etag = options_.etag.empty() ? md5_.HexDigest() : options_.etag;
    return store_.CommitBody(bucket_, key_, std::move(fd_), guard_, std::move(etag), options_);
  }

  void Abort() override {
    done_ = true;
    fd_ = FileDescriptor();
    guard_.Reset();
  }

 private:
  Status Flush() {
    if (buffer_.empty()) return Status::Ok();
    Status written = WriteAll(fd_.get(), buffer_, guard_.path());
    buffer_.clear();
    return written;
  }
  Status Fail(Status error) {
    Abort();
    return error;
  }
  Status Finished() const {
    return Status::InvalidState("writer of " + ObjectUrl(bucket_, key_) +
                                " was already committed or aborted");
  }

  DiskStore& store_;
  const std::string bucket_, key_;
  PutOptions options_;
  FileDescriptor fd_;
  TempFileGuard guard_;
  Md5 md5_;
  std::string buffer_;
  bool done_ = false;
};

Result<std::unique_ptr<ObjectWriter>> DiskStore::OpenWriter(std::string_view bucket,
                                                            std::string_view key,
                                                            const PutOptions& options) {
  RETURN_IF_ERROR(ValidateBucketAndKey(bucket, key));
  if (!IsDirectory(BucketPath(bucket))) return NoSuchBucket(bucket);
  FileDescriptor fd;
  std::string temp_path;
  if (!IsFolderMarker(key)) {
    temp_path = NewTempPath();
    ASSIGN_OR_RETURN(fd, OpenPath(temp_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0644));
  }
  return std::unique_ptr<ObjectWriter>(std::make_unique<DiskWriter>(
      *this, std::string(bucket), std::string(key), options, std::move(fd), std::move(temp_path)));
}

}  // namespace

Result<std::unique_ptr<ObjectStore>> OpenDiskStore(const std::string& root) {
  if (root.empty()) return Status::InvalidArgument("object store root must not be empty");
  std::string normalized = root;
  while (normalized.size() > 1 && normalized.back() == '/') normalized.pop_back();
  std::error_code ec;
  fs::create_directories(normalized, ec);
  if (ec) return Status::IoError("cannot create object store root " + root + ": " + ec.message());
  if (!IsDirectory(normalized)) {
    return Status::InvalidArgument("object store root is not a folder: " + root);
  }
  auto store = std::make_unique<DiskStore>(normalized);
  RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<ObjectStore>(std::move(store));
}

}  // namespace opendms::objectstore

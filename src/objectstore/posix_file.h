// objectstore (internal): the POSIX file calls DiskStore makes, as Status-returning functions,
// and the move-only owner of a file descriptor.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/core.h"

namespace opendms::objectstore {

// Owns one open file descriptor; closes it on destruction. Move-only.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileDescriptor& operator=(FileDescriptor&& other) noexcept;
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// open(2), retried on EINTR. The error carries errno's text and the path; errno_out (if given)
// receives errno so callers can tell "absent" from "failed".
Result<FileDescriptor> OpenPath(const std::string& path, int flags, mode_t mode = 0,
                                int* errno_out = nullptr);

// Writes all of data, retrying short writes and EINTR.
Status WriteAll(int fd, std::string_view data, const std::string& path);

// pread(2) of up to `size` bytes at `offset`, retried on EINTR; 0 = end of file.
Result<size_t> PreadSome(int fd, char* dst, size_t size, uint64_t offset, const std::string& path);

Status Fsync(int fd, const std::string& path);
// Opens the directory and fsyncs it, so that entries created, renamed or removed in it survive
// a crash.
Status FsyncDir(const std::string& path);

// The facts that tell one version of a data file from another: a replacement by rename changes
// the inode, an overwrite in place changes the size or the modification time.
struct FileIdentity {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;
  bool operator==(const FileIdentity&) const = default;
};
FileIdentity IdentityOf(const struct stat& st);
int64_t MtimeNanos(const struct stat& st);
TimePoint MtimeOf(const struct stat& st);

}  // namespace opendms::objectstore

#include "objectstore/posix_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace opendms::objectstore {

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

FileDescriptor::~FileDescriptor() {
  if (fd_ >= 0) ::close(fd_);
}

Result<FileDescriptor> OpenPath(const std::string& path, int flags, mode_t mode, int* errno_out) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (errno_out) *errno_out = fd < 0 ? errno : 0;
  if (fd < 0) return Status::FromErrno("cannot open " + path, errno);
  return FileDescriptor(fd);
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("cannot write " + path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Result<size_t> PreadSome(int fd, char* dst, size_t size, uint64_t offset, const std::string& path) {
  while (true) {
    ssize_t n = ::pread(fd, dst, size, static_cast<off_t>(offset));
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return Status::FromErrno("cannot read " + path, errno);
  }
}

Status Fsync(int fd, const std::string& path) {
  if (::fsync(fd) != 0) return Status::FromErrno("cannot fsync " + path, errno);
  return Status::Ok();
}

Status FsyncDir(const std::string& path) {
  ASSIGN_OR_RETURN(FileDescriptor fd, OpenPath(path, O_RDONLY | O_DIRECTORY));
  return Fsync(fd.get(), path);
}

int64_t MtimeNanos(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

TimePoint MtimeOf(const struct stat& st) {
  return TimePoint(
      std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(MtimeNanos(st))));
}

FileIdentity IdentityOf(const struct stat& st) {
  return FileIdentity{static_cast<uint64_t>(st.st_size), MtimeNanos(st),
                      static_cast<uint64_t>(st.st_ino)};
}

}  // namespace opendms::objectstore

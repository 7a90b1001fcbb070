#include "objectstore/store_rules.h"

#include <algorithm>

namespace opendms::objectstore {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// "192.168.5.4": S3 refuses bucket names formatted as IPv4 addresses.
bool LooksLikeIpv4(std::string_view s) {
  int parts = 0;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find('.', start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view part = s.substr(start, end - start);
    if (part.empty() || part.size() > 3 ||
        !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return false;
    }
    ++parts;
    start = end + 1;
  }
  return parts == 4;
}

Status BadBucket(std::string_view bucket, std::string_view why) {
  return Status::InvalidArgument("invalid bucket name \"" + std::string(bucket) +
                                 "\": " + std::string(why));
}

Status BadKey(std::string_view key, std::string_view why) {
  // Keys can be 1024 bytes of anything; the message shows enough to find it.
  std::string shown(key.substr(0, 200));
  if (key.size() > 200) shown += "...";
  for (char& c : shown) {
    if (c == '\0') c = '?';
  }
  return Status::InvalidArgument("invalid key \"" + shown + "\": " + std::string(why));
}

}  // namespace

Status ValidateBucketName(std::string_view bucket) {
  if (bucket.size() < 3 || bucket.size() > 63) {
    return BadBucket(bucket, "must be 3 to 63 characters long");
  }
  for (char c : bucket) {
    if (!IsLowerAlnum(c) && c != '.' && c != '-') {
      return BadBucket(bucket, "only lowercase letters, digits, dots and hyphens are allowed");
    }
  }
  if (!IsLowerAlnum(bucket.front()) || !IsLowerAlnum(bucket.back())) {
    return BadBucket(bucket, "must start and end with a letter or digit");
  }
  if (bucket.find("..") != std::string_view::npos) {
    return BadBucket(bucket, "must not contain two adjacent dots");
  }
  if (LooksLikeIpv4(bucket)) return BadBucket(bucket, "must not be formatted as an IP address");
  if (bucket.starts_with("xn--") || bucket.starts_with("sthree-")) {
    return BadBucket(bucket, "prefixes xn-- and sthree- are reserved");
  }
  if (bucket.ends_with("-s3alias") || bucket.ends_with("--ol-s3")) {
    return BadBucket(bucket, "suffixes -s3alias and --ol-s3 are reserved");
  }
  return Status::Ok();
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int extra;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;  // truncated sequence
    for (int k = 1; k <= extra; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

Status ValidateKey(std::string_view key) {
  if (key.empty()) return BadKey(key, "must not be empty");
  if (key.size() > 1024) return BadKey(key, "longer than 1024 bytes");
  if (key.find('\0') != std::string_view::npos) return BadKey(key, "contains a NUL byte");
  if (!IsValidUtf8(key)) return BadKey(key, "is not valid UTF-8");
  if (key.front() == '/') return BadKey(key, "must not start with '/'");
  // Segments between slashes; a single trailing '/' (a folder marker) ends the last one.
  std::string_view rest = IsFolderMarker(key) ? key.substr(0, key.size() - 1) : key;
  size_t start = 0;
  while (true) {
    size_t end = rest.find('/', start);
    std::string_view segment =
        rest.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (segment.empty()) return BadKey(key, "must not contain an empty segment (\"//\")");
    if (segment == "." || segment == "..") {
      return BadKey(key, "must not contain a \".\" or \"..\" segment");
    }
    if (segment.size() > 255) return BadKey(key, "has a segment longer than 255 bytes");
    if (segment.starts_with(".opendms")) {
      return BadKey(key, "segments starting with \".opendms\" are reserved");
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return Status::Ok();
}

Status ValidateBucketAndKey(std::string_view bucket, std::string_view key) {
  RETURN_IF_ERROR(ValidateBucketName(bucket));
  return ValidateKey(key);
}

std::string ObjectUrl(std::string_view bucket, std::string_view key) {
  return "s3://" + std::string(bucket) + "/" + std::string(key);
}

Status NoSuchBucket(std::string_view bucket) {
  return Status::NotFound("no such bucket: " + std::string(bucket));
}

Status NoSuchKey(std::string_view bucket, std::string_view key) {
  return Status::NotFound("no such key: " + ObjectUrl(bucket, key));
}

Status SourceOverrun(std::string_view bucket, std::string_view key, size_t returned,
                     size_t capacity) {
  return Status::Internal("byte source for " + ObjectUrl(bucket, key) + " returned " +
                          std::to_string(returned) + " bytes into a buffer of " +
                          std::to_string(capacity));
}

Result<ResolvedRange> ResolveRange(const std::optional<ByteRange>& range, uint64_t size,
                                   std::string_view bucket, std::string_view key) {
  if (!range) return ResolvedRange{0, size};
  auto unsatisfiable = [&](const std::string& what) {
    return Status::InvalidArgument("range " + what + " is not satisfiable for " +
                                   ObjectUrl(bucket, key) + " of " + std::to_string(size) +
                                   " bytes");
  };
  if (range->suffix_length > 0) {
    std::string what = "bytes=-" + std::to_string(range->suffix_length);
    if (size == 0) return unsatisfiable(what);
    uint64_t length = std::min(range->suffix_length, size);
    return ResolvedRange{size - length, length};
  }
  std::string what = "bytes=" + std::to_string(range->first) + "-" +
                     (range->last ? std::to_string(*range->last) : std::string());
  if (range->first >= size || (range->last && *range->last < range->first)) {
    return unsatisfiable(what);
  }
  uint64_t last = range->last ? std::min(*range->last, size - 1) : size - 1;
  return ResolvedRange{range->first, last - range->first + 1};
}

}  // namespace opendms::objectstore

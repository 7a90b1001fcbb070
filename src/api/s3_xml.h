// api (inside): the small pieces of S3's XML and header formats the S3 handler writes and reads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/core.h"

namespace opendms::api::s3 {

inline constexpr std::string_view kS3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/";

// Builds an XML document: the declaration, a root element with S3's namespace, then elements in
// the order written. Text is escaped.
class XmlWriter {
 public:
  explicit XmlWriter(std::string_view root);
  XmlWriter& Open(std::string_view name);
  XmlWriter& Close(std::string_view name);
  XmlWriter& Element(std::string_view name, std::string_view text);
  // (Without this, a string literal would pick the bool overload.)
  XmlWriter& Element(std::string_view name, const char* text) {
    return Element(name, std::string_view(text));
  }
  XmlWriter& Element(std::string_view name, const std::string& text) {
    return Element(name, std::string_view(text));
  }
  XmlWriter& Element(std::string_view name, uint64_t value);
  XmlWriter& Element(std::string_view name, bool value);
  // Closes the root and returns the document.
  std::string Finish();

 private:
  std::string root_;
  std::string out_;
};

// "Mon, 30 Nov 2026 07:04:58 GMT" (RFC 1123, the Last-Modified form).
std::string HttpDate(TimePoint t);
// "2026-11-30T07:04:58.000Z" (S3's XML timestamps).
std::string XmlDate(TimePoint t);
// The ETag as S3 sends it: in double quotes.
std::string QuotedEtag(std::string_view etag);
// An ETag as a client echoes it (quoted or not, maybe &quot;-escaped by the XML parser already):
// without the quotes.
std::string UnquotedEtag(std::string_view etag);

// A child's text of a parsed element, trimmed; used for the request documents S3 accepts
// (CreateBucketConfiguration, Delete, CompleteMultipartUpload).
struct ParsedPart {
  int part_number = 0;
  std::string etag;            // unquoted
  std::string checksum_crc32;  // "" if absent
};
struct ParsedDelete {
  bool quiet = false;
  std::vector<std::string> keys;
};
// MalformedXML (400) naming what is wrong, or the document's content.
Result<std::vector<ParsedPart>> ParseCompleteMultipartUpload(std::string_view body);
Result<ParsedDelete> ParseDelete(std::string_view body);
// The LocationConstraint ("" when absent or when the body is empty).
Result<std::string> ParseCreateBucketConfiguration(std::string_view body);

}  // namespace opendms::api::s3

#include "api/s3_xml.h"

#include <time.h>

#include <pugixml.hpp>

#include "api/wire.h"

namespace opendms::api::s3 {
namespace {

Status MalformedXml(std::string_view what) {
  return Status::Aws(ErrorCode::kInvalidArgument, "MalformedXML",
                     "The XML you provided was not well-formed or did not validate against our "
                     "published schema: " +
                         std::string(what));
}

std::string Trimmed(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return "";
  size_t end = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(begin, end - begin + 1));
}

std::string ChildText(const pugi::xml_node& node, const char* name) {
  return Trimmed(node.child(name).text().get());
}

Result<pugi::xml_document> Parse(std::string_view body, std::string_view root,
                                 pugi::xml_node* root_out) {
  pugi::xml_document doc;
  pugi::xml_parse_result parsed = doc.load_buffer(body.data(), body.size());
  if (!parsed) {
    return MalformedXml(std::string(parsed.description()) + " at byte " +
                        std::to_string(parsed.offset));
  }
  pugi::xml_node node = doc.document_element();
  if (std::string_view(node.name()) != root) {
    return MalformedXml("expected the root element <" + std::string(root) + ">, found <" +
                        node.name() + ">");
  }
  *root_out = node;
  return doc;
}

}  // namespace

XmlWriter::XmlWriter(std::string_view root) : root_(root) {
  out_ = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<";
  out_ += root_;
  out_ += " xmlns=\"";
  out_ += kS3Namespace;
  out_ += "\">";
}
XmlWriter& XmlWriter::Open(std::string_view name) {
  out_ += '<';
  out_ += name;
  out_ += '>';
  return *this;
}
XmlWriter& XmlWriter::Close(std::string_view name) {
  out_ += "</";
  out_ += name;
  out_ += '>';
  return *this;
}
XmlWriter& XmlWriter::Element(std::string_view name, std::string_view text) {
  Open(name);
  out_ += XmlEscape(text);
  return Close(name);
}
XmlWriter& XmlWriter::Element(std::string_view name, uint64_t value) {
  return Element(name, std::to_string(value));
}
XmlWriter& XmlWriter::Element(std::string_view name, bool value) {
  return Element(name, value ? std::string_view("true") : std::string_view("false"));
}
std::string XmlWriter::Finish() {
  Close(root_);
  return std::move(out_);
}

std::string HttpDate(TimePoint t) {
  time_t seconds = std::chrono::system_clock::to_time_t(t);
  struct tm tm;
  gmtime_r(&seconds, &tm);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf, n);
}

std::string XmlDate(TimePoint t) { return FormatIso8601(t); }

std::string QuotedEtag(std::string_view etag) { return "\"" + std::string(etag) + "\""; }

std::string UnquotedEtag(std::string_view etag) {
  std::string out = Trimmed(etag);
  if (out.starts_with("&quot;") && out.ends_with("&quot;") && out.size() >= 12) {
    return out.substr(6, out.size() - 12);
  }
  if (out.size() >= 2 && out.front() == '"' && out.back() == '"') {
    return out.substr(1, out.size() - 2);
  }
  return out;
}

Result<std::vector<ParsedPart>> ParseCompleteMultipartUpload(std::string_view body) {
  pugi::xml_node root;
  ASSIGN_OR_RETURN(pugi::xml_document doc, Parse(body, "CompleteMultipartUpload", &root));
  std::vector<ParsedPart> parts;
  for (pugi::xml_node node : root.children("Part")) {
    ParsedPart part;
    std::string number = ChildText(node, "PartNumber");
    try {
      size_t used = 0;
      part.part_number = std::stoi(number, &used);
      if (used != number.size()) throw std::invalid_argument(number);
    } catch (const std::exception&) {
      return MalformedXml("PartNumber \"" + number + "\" is not a number");
    }
    part.etag = UnquotedEtag(ChildText(node, "ETag"));
    part.checksum_crc32 = ChildText(node, "ChecksumCRC32");
    parts.push_back(std::move(part));
  }
  if (parts.empty()) return MalformedXml("CompleteMultipartUpload names no Part");
  return parts;
}

Result<ParsedDelete> ParseDelete(std::string_view body) {
  pugi::xml_node root;
  ASSIGN_OR_RETURN(pugi::xml_document doc, Parse(body, "Delete", &root));
  ParsedDelete out;
  out.quiet = ChildText(root, "Quiet") == "true";
  for (pugi::xml_node node : root.children("Object")) {
    pugi::xml_node key = node.child("Key");
    if (!key) return MalformedXml("an Object without a Key");
    out.keys.emplace_back(key.text().get());  // keys are taken as sent: spaces matter
  }
  if (out.keys.empty()) return MalformedXml("Delete names no Object");
  if (out.keys.size() > 1000) {
    return MalformedXml("Delete names " + std::to_string(out.keys.size()) +
                        " objects; at most 1000 are allowed");
  }
  return out;
}

Result<std::string> ParseCreateBucketConfiguration(std::string_view body) {
  if (Trimmed(body).empty()) return std::string();
  pugi::xml_node root;
  ASSIGN_OR_RETURN(pugi::xml_document doc, Parse(body, "CreateBucketConfiguration", &root));
  return ChildText(root, "LocationConstraint");
}

}  // namespace opendms::api::s3

// S3 multipart uploads. Each upload is a folder of the staging store (bucket "uploads"):
//   <upload id>/upload.json    the Upload record (JSON), written by CreateMultipartUpload
//   <upload id>/part-NNNNN     each part's bytes; the staged object's ETag (MD5) and recorded
//                              CRC32 are the part's
// Parts are written through the staging store's ObjectWriter, so a part is durable when
// UploadPart answers and a part uploaded twice is replaced atomically. CompleteMultipartUpload
// checks the list the client sends, streams the parts into the destination object with the
// multipart ETag, then drops the folder.

#include <algorithm>
#include <cstdio>

#include "api/s3_handler.h"
#include "api/s3_xml.h"

namespace opendms::api::s3 {

using objectstore::ListOptions;
using objectstore::ListResult;
using objectstore::ObjectInfo;
using objectstore::ObjectReader;
using objectstore::ObjectWriter;
using objectstore::PutOptions;

namespace {

constexpr std::string_view kUploadRecord = "upload.json";
constexpr int kMaxPartNumber = 10000;

Status NoSuchUpload(std::string_view upload_id) {
  return Status::Aws(ErrorCode::kNotFound, "NoSuchUpload",
                     "The specified multipart upload does not exist: upload id \"" +
                         std::string(upload_id) +
                         "\" (it may have been aborted or completed, or belong to another key)");
}

// Upload ids are ours (alphanumeric); anything else cannot name one and must not reach a path.
bool LooksLikeUploadId(std::string_view id) {
  return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) != 0;
         });
}

std::string PartKey(std::string_view upload_id, int part_number) {
  char digits[16];
  std::snprintf(digits, sizeof digits, "%05d", part_number);
  return std::string(upload_id) + "/part-" + digits;
}

// The part number from a staged key "<id>/part-NNNNN", or 0.
int PartNumberOf(std::string_view key) {
  size_t dash = key.rfind("/part-");
  if (dash == std::string_view::npos) return 0;
  std::string_view digits = key.substr(dash + 6);
  int n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + (c - '0');
  }
  return n;
}

Result<int> ParsePartNumber(const HttpRequest& request) {
  const std::string* text = request.Query("partNumber");
  int value = 0;
  bool ok = text && !text->empty() && text->size() <= 5 &&
            std::all_of(text->begin(), text->end(), [](char c) { return c >= '0' && c <= '9'; });
  if (ok) value = std::stoi(*text);
  if (!ok || value < 1 || value > kMaxPartNumber) {
    return Status::Aws(ErrorCode::kInvalidArgument, "InvalidArgument",
                       "Part number must be an integer between 1 and 10000, inclusive (got \"" +
                           (text ? *text : std::string()) + "\")");
  }
  return value;
}

Result<std::string> ReadWhole(ObjectReader& reader) {
  std::string out;
  out.resize(reader.range_length());
  size_t done = 0;
  while (done < out.size()) {
    ASSIGN_OR_RETURN(size_t n, reader.Read(out.data() + done, out.size() - done));
    if (n == 0) break;
    done += n;
  }
  out.resize(done);
  return out;
}

Result<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return Status::InvalidArgument("odd-length hex");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return Status::InvalidArgument("not hex");
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

int64_t Nanos(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

Result<Upload> S3Handler::LoadUpload(std::string_view upload_id, const Target& target) {
  if (!LooksLikeUploadId(upload_id)) return NoSuchUpload(upload_id);
  std::string record_key = std::string(upload_id) + "/" + std::string(kUploadRecord);
  Result<std::unique_ptr<ObjectReader>> reader = staging_->Get(kStagingBucket, record_key);
  if (!reader.ok()) {
    if (reader.status().IsNotFound()) return NoSuchUpload(upload_id);
    return reader.status();
  }
  ASSIGN_OR_RETURN(std::string text, ReadWhole(**reader));
  ASSIGN_OR_RETURN(Json doc, ParseJson(text, "multipart upload record " + record_key));
  Upload upload;
  upload.id = std::string(upload_id);
  try {
    upload.bucket = doc.at("bucket").get<std::string>();
    upload.key = doc.at("key").get<std::string>();
    upload.initiated = TimePoint(std::chrono::duration_cast<TimePoint::duration>(
        std::chrono::nanoseconds(doc.at("initiated_ns").get<int64_t>())));
    upload.content_type = doc.at("content_type").get<std::string>();
    upload.user_metadata = doc.at("user_metadata").get<std::map<std::string, std::string>>();
    upload.content_headers =  // records staged by an older server lack it
        doc.value("content_headers", std::map<std::string, std::string>{});
    upload.checksum_algorithm = doc.at("checksum_algorithm").get<std::string>();
  } catch (const Json::exception& e) {
    return Status::Corruption("multipart upload record " + record_key + " is damaged: " +
                              e.what());
  }
  if (!target.bucket.empty() && (upload.bucket != target.bucket || upload.key != target.key)) {
    return NoSuchUpload(upload_id);
  }
  return upload;
}

Status S3Handler::DropUpload(std::string_view upload_id) {
  ListOptions options;
  options.prefix = std::string(upload_id) + "/";
  while (true) {
    ASSIGN_OR_RETURN(ListResult page, staging_->List(kStagingBucket, options));
    // The record goes last, so an interrupted drop still looks like an upload and can be
    // aborted again.
    for (const ObjectInfo& object : page.objects) {
      if (object.key.ends_with(kUploadRecord)) continue;
      RETURN_IF_ERROR(staging_->Delete(kStagingBucket, object.key));
    }
    if (!page.truncated) break;
    options.start_after = page.next_start_after;
  }
  return staging_->Delete(kStagingBucket, std::string(upload_id) + "/" + std::string(kUploadRecord));
}

HttpResponse S3Handler::CreateMultipartUpload(const HttpRequest& request, const Target& target) {
  Status exists = RequireBucket(target.bucket);
  if (!exists.ok()) return Error(exists, request);
  PutOptions options = PutOptionsFrom(request);
  std::string algorithm = request.HeaderOr("x-amz-checksum-algorithm");
  for (char& c : algorithm) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (!algorithm.empty() && algorithm != "CRC32") {
    return Error(Status::Aws(ErrorCode::kInvalidArgument, "InvalidRequest",
                             "opendms supports only the CRC32 checksum algorithm for multipart "
                             "uploads (x-amz-checksum-algorithm: " +
                                 algorithm + ")"),
                 request);
  }
  std::string upload_id = RandomString(48, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
  Json record = {{"bucket", target.bucket},
                 {"key", target.key},
                 {"initiated_ns", Nanos(Clock::Now())},
                 {"content_type", options.content_type},
                 {"user_metadata", options.user_metadata},
                 {"content_headers", options.content_headers},
                 {"checksum_algorithm", algorithm}};
  Result<ObjectInfo> stored = staging_->Put(
      kStagingBucket, upload_id + "/" + std::string(kUploadRecord), record.dump());
  if (!stored.ok()) return Error(stored.status(), request);
  XmlWriter xml("InitiateMultipartUploadResult");
  xml.Element("Bucket", target.bucket).Element("Key", target.key).Element("UploadId", upload_id);
  HttpResponse response = XmlResponse(xml.Finish());
  if (!algorithm.empty()) response.SetHeader("x-amz-checksum-algorithm", algorithm);
  return response;
}

Begun S3Handler::UploadPart(const HttpRequest& request, const Target& target) {
  Result<int> part_number = ParsePartNumber(request);
  if (!part_number.ok()) return {Error(part_number.status(), request), nullptr};
  std::string upload_id = *request.Query("uploadId");
  Result<Upload> upload = LoadUpload(upload_id, target);
  if (!upload.ok()) return {Error(upload.status(), request), nullptr};
  Result<std::unique_ptr<ObjectWriter>> writer =
      staging_->OpenWriter(kStagingBucket, PartKey(upload_id, *part_number));
  if (!writer.ok()) return {Error(writer.status(), request), nullptr};
  auto commit = [request](ObjectWriter& writer) -> HttpResponse {
    Result<ObjectInfo> info = writer.Commit();
    if (!info.ok()) return Error(info.status(), request);
    HttpResponse response;
    response.SetHeader("ETag", QuotedEtag(info->etag));
    if (!info->checksum_crc32.empty()) {
      response.SetHeader("x-amz-checksum-crc32", info->checksum_crc32);
    }
    return response;
  };
  return {std::nullopt, WriteBodyExchange(std::move(writer).value(), request, commit)};
}

HttpResponse S3Handler::UploadPartCopy(const HttpRequest& request, const Target& target) {
  Result<int> part_number = ParsePartNumber(request);
  if (!part_number.ok()) return Error(part_number.status(), request);
  std::string upload_id = *request.Query("uploadId");
  Result<Upload> upload = LoadUpload(upload_id, target);
  if (!upload.ok()) return Error(upload.status(), request);
  Result<Target> source = ParseCopySource(request.HeaderOr("x-amz-copy-source"));
  if (!source.ok()) return Error(source.status(), request);
  std::optional<objectstore::ByteRange> range;
  if (const std::string* header = request.Header("x-amz-copy-source-range")) {
    // Only "bytes=first-last" is allowed here.
    unsigned long long first = 0, last = 0;
    char tail = 0;
    if (std::sscanf(header->c_str(), "bytes=%llu-%llu%c", &first, &last, &tail) != 2 ||
        last < first) {
      return Error(Status::Aws(ErrorCode::kInvalidArgument, "InvalidArgument",
                               "x-amz-copy-source-range \"" + *header +
                                   "\" must be of the form bytes=first-last"),
                   request);
    }
    range = objectstore::ByteRange{first, last, 0};
  }
  Result<std::unique_ptr<ObjectReader>> reader = store_.Get(source->bucket, source->key, range);
  if (!reader.ok()) {
    if (range && reader.status().IsInvalidArgument()) {
      return Error(Status::Aws(ErrorCode::kInvalidArgument, "InvalidRange",
                               reader.status().message()),
                   request);
    }
    return Error(S3Error(reader.status(), *source), request);
  }
  Result<std::unique_ptr<ObjectWriter>> writer =
      staging_->OpenWriter(kStagingBucket, PartKey(upload_id, *part_number));
  if (!writer.ok()) return Error(writer.status(), request);
  const bool keep_crc = upload->checksum_algorithm == "CRC32";
  uint32_t crc = 0;
  Status copied = CopyBytes(**reader, **writer, keep_crc ? &crc : nullptr);
  if (!copied.ok()) return Error(copied, request);
  if (keep_crc) (*writer)->SetChecksumCrc32(Crc32ToBase64(crc));
  Result<ObjectInfo> info = (*writer)->Commit();
  if (!info.ok()) return Error(info.status(), request);
  XmlWriter xml("CopyPartResult");
  xml.Element("ETag", QuotedEtag(info->etag)).Element("LastModified", XmlDate(info->last_modified));
  if (!info->checksum_crc32.empty()) xml.Element("ChecksumCRC32", info->checksum_crc32);
  return XmlResponse(xml.Finish());
}

Begun S3Handler::CompleteMultipartUpload(const HttpRequest& request, const Target& target) {
  Status too_large = Status::Aws(ErrorCode::kInvalidArgument, "MalformedXML",
                                 "The CompleteMultipartUpload document is larger than 4 MiB");
  auto complete = [this, request, target](std::string body) {
    return CompleteParsed(request, target, body);
  };
  return {std::nullopt, BufferBody(4 << 20, too_large, std::move(complete))};
}

HttpResponse S3Handler::CompleteParsed(const HttpRequest& request, const Target& target,
                                       std::string_view body) {
  std::string upload_id = *request.Query("uploadId");
  Result<std::vector<ParsedPart>> parts = ParseCompleteMultipartUpload(body);
  if (!parts.ok()) return Error(parts.status(), request);
  Result<Upload> upload = LoadUpload(upload_id, target);
  if (!upload.ok()) return Error(upload.status(), request);

  // One completion at a time per upload; a concurrent second one sees the upload as gone.
  {
    std::lock_guard lock(completing_mu_);
    if (!completing_.insert(upload_id).second) return Error(NoSuchUpload(upload_id), request);
  }
  struct Release {
    S3Handler* self;
    std::string id;
    ~Release() {
      std::lock_guard lock(self->completing_mu_);
      self->completing_.erase(id);
    }
  } release{this, upload_id};

  auto invalid_part = [&](int number, std::string why) {
    return Error(Status::Aws(ErrorCode::kInvalidArgument, "InvalidPart",
                             "One or more of the specified parts could not be found or the "
                             "specified entity tag might not have matched the part's entity "
                             "tag: part " +
                                 std::to_string(number) + " " + why),
                 request);
  };
  for (size_t i = 0; i < parts->size(); ++i) {
    const ParsedPart& part = (*parts)[i];
    if (part.part_number < 1 || part.part_number > kMaxPartNumber) {
      return invalid_part(part.part_number, "is outside 1..10000");
    }
    if (i > 0 && part.part_number <= (*parts)[i - 1].part_number) {
      return Error(Status::Aws(ErrorCode::kInvalidArgument, "InvalidPartOrder",
                               "The list of parts was not in ascending order: part " +
                                   std::to_string(part.part_number) + " follows part " +
                                   std::to_string((*parts)[i - 1].part_number)),
                   request);
    }
  }
  std::vector<ObjectInfo> staged;
  std::string binary_md5s, binary_crcs;
  bool all_have_crc = true;
  for (size_t i = 0; i < parts->size(); ++i) {
    const ParsedPart& part = (*parts)[i];
    Result<ObjectInfo> info = staging_->Head(kStagingBucket, PartKey(upload_id, part.part_number));
    if (!info.ok()) {
      if (info.status().IsNotFound()) return invalid_part(part.part_number, "was not uploaded");
      return Error(info.status(), request);
    }
    if (part.etag != info->etag) {
      return invalid_part(part.part_number, "has ETag \"" + info->etag + "\", not \"" +
                                                part.etag + "\"");
    }
    if (!part.checksum_crc32.empty() && !info->checksum_crc32.empty() &&
        part.checksum_crc32 != info->checksum_crc32) {
      return invalid_part(part.part_number, "has ChecksumCRC32 " + info->checksum_crc32 +
                                                ", not " + part.checksum_crc32);
    }
    if (i + 1 < parts->size() && info->size < options_.min_part_size) {
      return Error(Status::Aws(ErrorCode::kInvalidArgument, "EntityTooSmall",
                               "Your proposed upload is smaller than the minimum allowed size: "
                               "part " +
                                   std::to_string(part.part_number) + " has " +
                                   std::to_string(info->size) + " bytes; every part but the "
                                   "last must have at least " +
                                   std::to_string(options_.min_part_size)),
                   request);
    }
    Result<std::string> md5 = HexDecode(info->etag);
    if (!md5.ok()) return Error(Status::Corruption("staged part has a bad ETag"), request);
    binary_md5s += *md5;
    Result<std::string> crc = info->checksum_crc32.empty()
                                  ? Result<std::string>(Status::NotFound("none"))
                                  : Base64Decode(info->checksum_crc32);
    if (crc.ok() && crc->size() == 4) {
      binary_crcs += *crc;
    } else {
      all_have_crc = false;
    }
    staged.push_back(std::move(info).value());
  }

  PutOptions options;
  options.content_type = upload->content_type;
  options.user_metadata = upload->user_metadata;
  options.content_headers = upload->content_headers;
  std::string count = std::to_string(staged.size());
  options.etag = HexEncode(Md5(binary_md5s)) + "-" + count;
  // S3's composite checksum: the CRC32 of the parts' CRC32s, "-<parts>".
  if (upload->checksum_algorithm == "CRC32" && all_have_crc) {
    options.checksum_crc32 = Crc32ToBase64(Crc32(0, binary_crcs)) + "-" + count;
  }
  Result<std::unique_ptr<ObjectWriter>> writer =
      store_.OpenWriter(target.bucket, target.key, options);
  if (!writer.ok()) return Error(S3Error(writer.status(), target), request);
  for (const ObjectInfo& part : staged) {
    Result<std::unique_ptr<ObjectReader>> reader = staging_->Get(kStagingBucket, part.key);
    if (!reader.ok()) return Error(reader.status(), request);
    // The parts' CRC32s were kept when they arrived; the composite is made from them.
    Status copied = CopyBytes(**reader, **writer);
    if (!copied.ok()) return Error(copied, request);
  }
  Result<ObjectInfo> info = (*writer)->Commit();
  if (!info.ok()) return Error(S3Error(info.status(), target), request);
  Written(target.bucket, target.key);
  Status dropped = DropUpload(upload_id);
  if (!dropped.ok()) {
    spdlog::warn("[s3] multipart upload {} completed, but its staged parts remain: {}", upload_id,
                 dropped.ToString());
  }

  XmlWriter xml("CompleteMultipartUploadResult");
  std::string host = request.HeaderOr("host", "localhost");
  xml.Element("Location", "http://" + host + "/" + target.bucket + "/" +
                              UriEncode(target.key, /*encode_slash=*/false))
      .Element("Bucket", target.bucket)
      .Element("Key", target.key)
      .Element("ETag", QuotedEtag(info->etag));
  if (!info->checksum_crc32.empty()) xml.Element("ChecksumCRC32", info->checksum_crc32);
  return XmlResponse(xml.Finish());
}

HttpResponse S3Handler::AbortMultipartUpload(const HttpRequest& request, const Target& target) {
  std::string upload_id = *request.Query("uploadId");
  Result<Upload> upload = LoadUpload(upload_id, target);
  if (!upload.ok()) return Error(upload.status(), request);
  Status dropped = DropUpload(upload_id);
  if (!dropped.ok()) return Error(dropped, request);
  return NoContent();
}

HttpResponse S3Handler::ListParts(const HttpRequest& request, const Target& target) {
  std::string upload_id = *request.Query("uploadId");
  Result<Upload> upload = LoadUpload(upload_id, target);
  if (!upload.ok()) return Error(upload.status(), request);
  int max_parts = 1000;
  int marker = 0;
  for (auto [name, out] : {std::pair{"max-parts", &max_parts}, {"part-number-marker", &marker}}) {
    const std::string* text = request.Query(name);
    if (!text) continue;
    bool ok = !text->empty() && text->size() <= 5 &&
              std::all_of(text->begin(), text->end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!ok) {
      return Error(Status::Aws(ErrorCode::kInvalidArgument, "InvalidArgument",
                               std::string(name) + " \"" + *text + "\" is not a valid number"),
                   request);
    }
    *out = std::stoi(*text);
  }
  max_parts = std::clamp(max_parts, 1, 1000);
  ListOptions options;
  options.prefix = upload_id + "/part-";
  if (marker > 0) options.start_after = PartKey(upload_id, marker);
  options.max_keys = max_parts;
  Result<ListResult> listed = staging_->List(kStagingBucket, options);
  if (!listed.ok()) return Error(listed.status(), request);

  XmlWriter xml("ListPartsResult");
  xml.Element("Bucket", target.bucket)
      .Element("Key", target.key)
      .Element("UploadId", upload_id)
      .Element("PartNumberMarker", static_cast<uint64_t>(marker));
  if (!listed->objects.empty()) {
    xml.Element("NextPartNumberMarker",
                static_cast<uint64_t>(PartNumberOf(listed->objects.back().key)));
  }
  xml.Element("MaxParts", static_cast<uint64_t>(max_parts)).Element("IsTruncated", listed->truncated);
  for (const ObjectInfo& part : listed->objects) {
    xml.Open("Part")
        .Element("PartNumber", static_cast<uint64_t>(PartNumberOf(part.key)))
        .Element("LastModified", XmlDate(part.last_modified))
        .Element("ETag", QuotedEtag(part.etag))
        .Element("Size", part.size);
    if (!part.checksum_crc32.empty()) xml.Element("ChecksumCRC32", part.checksum_crc32);
    xml.Close("Part");
  }
  for (const char* role : {"Initiator", "Owner"}) {
    xml.Open(role)
        .Element("ID", options_.owner_id)
        .Element("DisplayName", options_.owner_display_name)
        .Close(role);
  }
  xml.Element("StorageClass", "STANDARD");
  if (!upload->checksum_algorithm.empty()) {
    xml.Element("ChecksumAlgorithm", upload->checksum_algorithm);
  }
  return XmlResponse(xml.Finish());
}

HttpResponse S3Handler::ListMultipartUploads(const HttpRequest& request, const Target& target) {
  Status exists = RequireBucket(target.bucket);
  if (!exists.ok()) return Error(exists, request);
  auto param = [&](std::string_view name) {
    const std::string* value = request.Query(name);
    return value ? *value : std::string();
  };
  std::string prefix = param("prefix"), key_marker = param("key-marker"),
              upload_id_marker = param("upload-id-marker");
  int max_uploads = 1000;
  if (const std::string* text = request.Query("max-uploads")) {
    bool ok = !text->empty() && text->size() <= 5 &&
              std::all_of(text->begin(), text->end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!ok) {
      return Error(Status::Aws(ErrorCode::kInvalidArgument, "InvalidArgument",
                               "max-uploads \"" + *text + "\" is not a valid number"),
                   request);
    }
    max_uploads = std::clamp(std::stoi(*text), 1, 1000);
  }

  // Every upload folder of the staging store; those of this bucket, in key then time order.
  std::vector<Upload> uploads;
  ListOptions options;
  options.delimiter = "/";
  while (true) {
    Result<ListResult> page = staging_->List(kStagingBucket, options);
    if (!page.ok()) return Error(page.status(), request);
    for (const std::string& folder : page->common_prefixes) {
      std::string id = folder.substr(0, folder.size() - 1);
      Result<Upload> upload = LoadUpload(id, {});
      if (!upload.ok()) continue;  // parts left after an abort raced an upload: not an upload
      if (upload->bucket != target.bucket || !upload->key.starts_with(prefix)) continue;
      uploads.push_back(std::move(upload).value());
    }
    if (!page->truncated) break;
    options.start_after = page->next_start_after;
  }
  std::sort(uploads.begin(), uploads.end(), [](const Upload& a, const Upload& b) {
    if (a.key != b.key) return a.key < b.key;
    return a.initiated < b.initiated;
  });
  auto after_marker = [&](const Upload& u) {
    if (key_marker.empty()) return true;
    if (u.key != key_marker) return u.key > key_marker;
    return !upload_id_marker.empty() && u.id > upload_id_marker;  // ids: a stable tiebreak
  };
  XmlWriter xml("ListMultipartUploadsResult");
  xml.Element("Bucket", target.bucket)
      .Element("KeyMarker", key_marker)
      .Element("UploadIdMarker", upload_id_marker);
  std::vector<const Upload*> page;
  bool truncated = false;
  for (const Upload& upload : uploads) {
    if (!after_marker(upload)) continue;
    if (static_cast<int>(page.size()) == max_uploads) {
      truncated = true;
      break;
    }
    page.push_back(&upload);
  }
  if (truncated) {
    xml.Element("NextKeyMarker", page.back()->key)
        .Element("NextUploadIdMarker", page.back()->id);
  }
  if (!prefix.empty()) xml.Element("Prefix", prefix);
  xml.Element("MaxUploads", static_cast<uint64_t>(max_uploads)).Element("IsTruncated", truncated);
  for (const Upload* upload : page) {
    xml.Open("Upload").Element("Key", upload->key).Element("UploadId", upload->id);
    for (const char* role : {"Initiator", "Owner"}) {
      xml.Open(role)
          .Element("ID", options_.owner_id)
          .Element("DisplayName", options_.owner_display_name)
          .Close(role);
    }
    xml.Element("StorageClass", "STANDARD").Element("Initiated", XmlDate(upload->initiated));
    if (!upload->checksum_algorithm.empty()) {
      xml.Element("ChecksumAlgorithm", upload->checksum_algorithm);
    }
    xml.Close("Upload");
  }
  return XmlResponse(xml.Finish());
}

}  // namespace opendms::api::s3

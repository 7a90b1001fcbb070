// SigV4 verification. What the CLI signs is in ../shared/reference/cfn-secrets-ssm.md §1.2; the
// error codes and messages are AWS's, as botocore shows them.
#include "api/sigv4_verify.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <ctime>

namespace opendms::api {
namespace {

constexpr std::string_view kS3BadSignature =
    "The request signature we calculated does not match the signature you provided. Check your "
    "key and signing method.";
constexpr std::string_view kJsonBadSignature =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";

Status MissingAuth(Protocol protocol) {
  switch (protocol) {
    case Protocol::kRestXml:
      return Status::Aws(ErrorCode::kInvalidArgument, "AccessDenied",
                         "Access Denied: the request carries no AWS Signature Version 4 "
                         "(Authorization header or X-Amz-Credential query parameter)");
    case Protocol::kJson11:
      return Status::Aws(ErrorCode::kInvalidArgument, "MissingAuthenticationTokenException",
                         "Missing Authentication Token");
    case Protocol::kQuery:
      return Status::Aws(ErrorCode::kInvalidArgument, "MissingAuthenticationToken",
                         "Request is missing Authentication Token");
  }
  return Status::InvalidArgument("missing authentication");
}

Status Incomplete(Protocol protocol, std::string message) {
  switch (protocol) {
    case Protocol::kRestXml:
      return Status::Aws(ErrorCode::kInvalidArgument, "AuthorizationHeaderMalformed",
                         std::move(message));
    case Protocol::kJson11:
      return Status::Aws(ErrorCode::kInvalidArgument, "IncompleteSignatureException",
                         std::move(message));
    case Protocol::kQuery:
      return Status::Aws(ErrorCode::kInvalidArgument, "IncompleteSignature", std::move(message));
  }
  return Status::InvalidArgument(std::move(message));
}

Status BadSignature(Protocol protocol, std::string message) {
  switch (protocol) {
    case Protocol::kRestXml:
      return Status::Aws(ErrorCode::kInvalidArgument, "SignatureDoesNotMatch", std::move(message));
    case Protocol::kJson11:
      return Status::Aws(ErrorCode::kInvalidArgument, "InvalidSignatureException",
                         std::move(message));
    case Protocol::kQuery:
      return Status::Aws(ErrorCode::kInvalidArgument, "SignatureDoesNotMatch", std::move(message));
  }
  return Status::InvalidArgument(std::move(message));
}

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos == std::string_view::npos ? s.npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "AKID/20261130/us-east-1/s3/aws4_request" into the claim.
Status ParseCredential(std::string_view credential, SigV4Claim& claim, Protocol protocol) {
  std::vector<std::string_view> parts = Split(credential, '/');
  if (parts.size() != 5 || parts[0].empty() || parts[1].size() != 8 || parts[2].empty() ||
      parts[3].empty() || parts[4] != "aws4_request") {
    const size_t slash = credential.find('/');
    const std::string_view scope =
        slash == std::string_view::npos ? std::string_view() : credential.substr(slash + 1);
    return Incomplete(protocol, "Credential should be scoped as '<access key>/<YYYYMMDD>/"
                                "<region>/<service>/aws4_request', got scope '" +
                                    std::string(scope) + "'");
  }
  claim.access_key_id = parts[0];
  claim.date = parts[1];
  claim.region = parts[2];
  claim.service = parts[3];
  return Status::Ok();
}

Status ParseSignedHeaders(std::string_view list, SigV4Claim& claim, Protocol protocol) {
  for (std::string_view name : Split(list, ';')) {
    if (name.empty()) return Incomplete(protocol, "SignedHeaders has an empty header name");
    claim.signed_headers.emplace_back(name);
  }
  if (std::find(claim.signed_headers.begin(), claim.signed_headers.end(), "host") ==
      claim.signed_headers.end()) {
    return Incomplete(protocol, "SignedHeaders must include 'host'");
  }
  return Status::Ok();
}

Status CheckSignatureShape(const SigV4Claim& claim, Protocol protocol) {
  if (claim.signature.size() != 64 || !IsLowerHex(claim.signature)) {
    return BadSignature(protocol, "the Signature must be 64 lowercase hexadecimal digits");
  }
  if (claim.amz_date.size() != 16 || claim.amz_date[8] != 'T' || claim.amz_date[15] != 'Z') {
    return Incomplete(protocol, "X-Amz-Date must be in the form YYYYMMDDTHHMMSSZ, got '" +
                                    claim.amz_date + "'");
  }
  if (claim.amz_date.compare(0, 8, claim.date) != 0) {
    return BadSignature(protocol, "the credential scope's date " + claim.date +
                                      " does not match X-Amz-Date " + claim.amz_date);
  }
  return Status::Ok();
}

Result<TimePoint> ParseAmzDate(const std::string& amz_date) {
  std::tm tm{};
  if (sscanf(amz_date.c_str(), "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
             &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
    return Status::InvalidArgument("X-Amz-Date '" + amz_date + "' is not YYYYMMDDTHHMMSSZ");
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string FormatAmzDate(TimePoint t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// The raw query without the X-Amz-Signature item (presigned URLs sign everything else).
std::string QueryWithoutSignature(std::string_view raw_query) {
  std::string out;
  for (std::string_view item : Split(raw_query, '&')) {
    std::string_view key = item.substr(0, item.find('='));
    if (key == "X-Amz-Signature") continue;
    if (!out.empty()) out += '&';
    out.append(item);
  }
  return out;
}

}  // namespace

Result<SigV4Claim> ParseSigV4(const HttpRequest& request, Protocol protocol) {
  SigV4Claim claim;
  if (const std::string* auth = request.Header("authorization")) {
    std::string_view value = Trim(*auth);
    const std::string_view algorithm = sigv4::kAlgorithm;
    if (value.substr(0, algorithm.size()) != algorithm ||
        (value.size() > algorithm.size() && value[algorithm.size()] != ' ')) {
      return Status::Aws(ErrorCode::kInvalidArgument,
                         protocol == Protocol::kRestXml ? "InvalidRequest"
                         : protocol == Protocol::kJson11 ? "IncompleteSignatureException"
                                                         : "IncompleteSignature",
                         "The authorization mechanism you have provided is not supported. "
                         "Please use " + std::string(algorithm) + ".");
    }
    value.remove_prefix(algorithm.size());
    std::optional<std::string_view> credential, signed_headers, signature;
    for (std::string_view part : Split(value, ',')) {
      part = Trim(part);
      size_t eq = part.find('=');
      if (eq == std::string_view::npos) continue;
      std::string_view key = part.substr(0, eq), val = part.substr(eq + 1);
      if (key == "Credential") credential = val;
      if (key == "SignedHeaders") signed_headers = val;
      if (key == "Signature") signature = val;
    }
    if (!credential || !signed_headers || !signature) {
      return Incomplete(protocol, std::string("Authorization header requires '") +
                                      (!credential ? "Credential" : !signed_headers ? "SignedHeaders" : "Signature") +
                                      "' parameter. Authorization=" + std::string(algorithm) +
                                      " <Credential>, <SignedHeaders>, <Signature>");
    }
    RETURN_IF_ERROR(ParseCredential(*credential, claim, protocol));
    RETURN_IF_ERROR(ParseSignedHeaders(*signed_headers, claim, protocol));
    claim.signature = std::string(*signature);
    const std::string* amz_date = request.Header("x-amz-date");
    if (amz_date == nullptr) {
      return Incomplete(protocol, "Authorization header requires existence of the "
                                  "'X-Amz-Date' header");
    }
    claim.amz_date = *amz_date;
    RETURN_IF_ERROR(CheckSignatureShape(claim, protocol));
    return claim;
  }

  if (!request.HasQuery("X-Amz-Credential") && !request.HasQuery("X-Amz-Signature")) {
    if (HasSigV2Query(request)) {  // the caller verifies S3's SigV2 presigned URLs itself
      return Status::Aws(ErrorCode::kInvalidArgument, "InvalidRequest",
                         "The authorization mechanism you have provided (Signature Version 2) is "
                         "supported only for presigned S3 URLs. Please use AWS4-HMAC-SHA256.");
    }
    return MissingAuth(protocol);
  }
  claim.presigned = true;
  for (std::string_view name : {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date",
                                "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"}) {
    if (!request.HasQuery(name)) {
      return Incomplete(protocol, "a presigned URL must carry the " + std::string(name) +
                                      " query parameter");
    }
  }
  if (*request.Query("X-Amz-Algorithm") != sigv4::kAlgorithm) {
    return Incomplete(protocol, "X-Amz-Algorithm must be " + std::string(sigv4::kAlgorithm));
  }
  RETURN_IF_ERROR(ParseCredential(*request.Query("X-Amz-Credential"), claim, protocol));
  RETURN_IF_ERROR(ParseSignedHeaders(*request.Query("X-Amz-SignedHeaders"), claim, protocol));
  claim.signature = *request.Query("X-Amz-Signature");
  claim.amz_date = *request.Query("X-Amz-Date");
  const std::string& expires = *request.Query("X-Amz-Expires");
  if (expires.empty() || expires.size() > 7 ||
      !std::all_of(expires.begin(), expires.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Incomplete(protocol, "X-Amz-Expires must be a number of seconds, got '" + expires + "'");
  }
  claim.expires_seconds = std::stoll(expires);
  if (claim.expires_seconds > 604800) {
    return Status::Aws(ErrorCode::kInvalidArgument, "AuthorizationQueryParametersError",
                       "X-Amz-Expires must be less than a week (in seconds) that is 604800");
  }
  RETURN_IF_ERROR(CheckSignatureShape(claim, protocol));
  return claim;
}

Status CheckSigV4Time(const SigV4Claim& claim, TimePoint now, std::chrono::seconds max_skew,
                      Protocol protocol) {
  ASSIGN_OR_RETURN(TimePoint signed_at, ParseAmzDate(claim.amz_date));
  if (claim.presigned) {
    if (now > signed_at + std::chrono::seconds(claim.expires_seconds)) {
      return Status::Aws(ErrorCode::kInvalidArgument, "AccessDenied", "Request has expired");
    }
    if (signed_at > now + max_skew) {
      return Status::Aws(ErrorCode::kInvalidArgument, "AccessDenied", "Request is not valid yet");
    }
    return Status::Ok();
  }
  if (signed_at + max_skew >= now && signed_at <= now + max_skew) return Status::Ok();
  if (protocol == Protocol::kRestXml) {
    return Status::Aws(ErrorCode::kInvalidArgument, "RequestTimeTooSkewed",
                       "The difference between the request time and the current time is too "
                       "large.");
  }
  const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(max_skew).count();
  std::string message =
      signed_at < now
          ? "Signature expired: " + claim.amz_date + " is now earlier than " +
                FormatAmzDate(now - max_skew) + " (" + FormatAmzDate(now) + " - " +
                std::to_string(minutes) + " min.)"
          : "Signature not yet current: " + claim.amz_date + " is still later than " +
                FormatAmzDate(now + max_skew) + " (" + FormatAmzDate(now) + " + " +
                std::to_string(minutes) + " min.)";
  return BadSignature(protocol, std::move(message));
}

std::string NormalizePath(std::string_view path) {
  std::vector<std::string_view> out;
  const bool trailing_slash = path.size() > 1 && path.back() == '/';
  for (std::string_view segment : Split(path, '/')) {
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      if (!out.empty()) out.pop_back();
      continue;
    }
    out.push_back(segment);
  }
  std::string result;
  for (std::string_view segment : out) {
    result += '/';
    result.append(segment);
  }
  if (result.empty()) return "/";
  if (trailing_slash) result += '/';
  return result;
}

sigv4::CanonicalRequest BuildCanonicalRequest(const HttpRequest& request, const SigV4Claim& claim,
                                              std::string payload_hash) {
  sigv4::CanonicalRequest canonical;
  canonical.method = request.method;
  if (claim.service == "s3") {
    canonical.canonical_uri = request.raw_path.empty() ? "/" : request.raw_path;
  } else {
    canonical.canonical_uri = UriEncode(NormalizePath(request.raw_path), /*encode_slash=*/false);
  }
  canonical.canonical_query = sigv4::CanonicalQueryString(
      claim.presigned ? QueryWithoutSignature(request.raw_query) : request.raw_query);
  std::vector<std::string> names = claim.signed_headers;
  std::sort(names.begin(), names.end());
  for (std::string& name : names) {
    std::string value = request.HeaderOr(name);
    canonical.headers.emplace_back(std::move(name), std::move(value));
  }
  canonical.payload_hash = std::move(payload_hash);
  return canonical;
}

Status VerifySigV4(const SigV4Claim& claim, const sigv4::CanonicalRequest& canonical,
                   std::string_view secret_key, Protocol protocol) {
  const std::string key = sigv4::SigningKey(secret_key, claim.date, claim.region, claim.service);
  const std::string expected = sigv4::Signature(
      key, sigv4::StringToSign(claim.amz_date, claim.Scope(), canonical.ToString()));
  if (ConstantTimeEquals(expected, claim.signature)) return Status::Ok();
  return BadSignature(protocol, std::string(protocol == Protocol::kRestXml ? kS3BadSignature
                                                                           : kJsonBadSignature));
}

Status UnknownAccessKey(Protocol protocol, std::string_view access_key_id) {
  switch (protocol) {
    case Protocol::kRestXml:
      return Status::Aws(ErrorCode::kInvalidArgument, "InvalidAccessKeyId",
                         "The AWS Access Key Id you provided does not exist in our records.");
    case Protocol::kJson11:
      return Status::Aws(ErrorCode::kInvalidArgument, "UnrecognizedClientException",
                         "The security token included in the request is invalid.");
    case Protocol::kQuery:
      return Status::Aws(ErrorCode::kInvalidArgument, "InvalidClientTokenId",
                         "The security token included in the request is invalid.");
  }
  return Status::InvalidArgument("unknown access key");
}

namespace {

// Only SigV2 needs SHA-1; it stays here rather than in core.
std::string HmacSha1(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len) == nullptr) {
    throw std::runtime_error("HMAC(sha1) failed");
  }
  return std::string(reinterpret_cast<char*>(md), len);
}

// The query parameters S3 includes in a SigV2 canonical resource (botocore's QSA_OF_INTEREST).
constexpr std::array<std::string_view, 33> kSignedSubresources = {
    "accelerate", "acl", "cors", "defaultObjectAcl", "location", "logging", "partNumber",
    "policy", "requestPayment", "torrent", "versioning", "versionId", "versions", "website",
    "uploads", "uploadId", "response-content-type", "response-content-language",
    "response-expires", "response-cache-control", "response-content-disposition",
    "response-content-encoding", "delete", "lifecycle", "tagging", "restore", "storageClass",
    "notification", "replication", "inventory", "analytics", "metrics", "select"};

}  // namespace

bool HasSigV2Query(const HttpRequest& request) {
  return request.HasQuery("AWSAccessKeyId") && request.HasQuery("Signature");
}

Result<SigV2QueryClaim> ParseSigV2Query(const HttpRequest& request) {
  SigV2QueryClaim claim;
  claim.access_key_id = *request.Query("AWSAccessKeyId");
  claim.signature = *request.Query("Signature");
  const std::string* expires = request.Query("Expires");
  if (expires == nullptr) {
    return Status::Aws(ErrorCode::kInvalidArgument, "AccessDenied",
                       "Query-string authentication requires the Signature, Expires and "
                       "AWSAccessKeyId parameters");
  }
  try {
    size_t used = 0;
    claim.expires = std::stoll(*expires, &used);
    if (used != expires->size()) throw std::invalid_argument("trailing characters");
  } catch (const std::exception&) {
    return Status::Aws(ErrorCode::kInvalidArgument, "AccessDenied",
                       "Expires must be a number of seconds since the epoch, got '" + *expires +
                           "'");
  }
  return claim;
}

std::string SigV2StringToSign(const HttpRequest& request, const SigV2QueryClaim& claim) {
  std::string out = request.method + "\n";
  out += request.HeaderOr("content-md5") + "\n";
  out += request.HeaderOr("content-type") + "\n";
  out += std::to_string(claim.expires) + "\n";
  for (const auto& [name, value] : request.headers) {  // lowercase names, sorted (std::map)
    if (name.rfind("x-amz-", 0) == 0) out += name + ":" + value + "\n";
  }
  out += request.raw_path.empty() ? "/" : request.raw_path;
  std::vector<std::pair<std::string, std::string>> subresources;
  for (const auto& [name, value] : request.query) {
    if (std::find(kSignedSubresources.begin(), kSignedSubresources.end(), name) !=
        kSignedSubresources.end()) {
      subresources.emplace_back(name, value);
    }
  }
  std::stable_sort(subresources.begin(), subresources.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < subresources.size(); ++i) {
    out += i == 0 ? "?" : "&";
    out += subresources[i].first;
    if (!subresources[i].second.empty()) out += "=" + subresources[i].second;
  }
  return out;
}

Status VerifySigV2Query(const HttpRequest& request, const SigV2QueryClaim& claim,
                        std::string_view secret_key, TimePoint now) {
  const int64_t now_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (now_seconds > claim.expires) {
    return Status::Aws(ErrorCode::kInvalidArgument, "AccessDenied", "Request has expired");
  }
  const std::string expected =
      Base64Encode(HmacSha1(secret_key, SigV2StringToSign(request, claim)));
  if (!ConstantTimeEquals(expected, claim.signature)) {
    return Status::Aws(ErrorCode::kInvalidArgument, "SignatureDoesNotMatch",
                       std::string(kS3BadSignature));
  }
  return Status::Ok();
}

}  // namespace opendms::api

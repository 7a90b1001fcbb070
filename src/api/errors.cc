// Errors in each protocol's own format, and the one table mapping error kinds and AWS error codes
// to HTTP statuses (STYLE.md §3). Every client mistake is a 4xx: botocore retries 5xx, so a 500
// for a bad request would make each failing CLI call take seconds.
#include <array>
#include <utility>

#include "api/http.h"
#include "api/wire.h"

namespace opendms::api {
namespace {

struct CodeStatus {
  std::string_view code;
  int status;
};

// S3's codes whose status is not 400 (every other S3 client error is 400).
constexpr std::array kS3Statuses{
    CodeStatus{"AccessDenied", 403},
    CodeStatus{"SignatureDoesNotMatch", 403},
    CodeStatus{"InvalidAccessKeyId", 403},
    CodeStatus{"RequestTimeTooSkewed", 403},
    CodeStatus{"ExpiredToken", 400},
    CodeStatus{"InvalidObjectState", 403},
    CodeStatus{"NoSuchBucket", 404},
    CodeStatus{"NoSuchKey", 404},
    CodeStatus{"NoSuchUpload", 404},
    CodeStatus{"NoSuchVersion", 404},
    CodeStatus{"NoSuchBucketPolicy", 404},
    CodeStatus{"NoSuchTagSet", 404},
    CodeStatus{"NoSuchCORSConfiguration", 404},
    CodeStatus{"NoSuchLifecycleConfiguration", 404},
    CodeStatus{"MethodNotAllowed", 405},
    CodeStatus{"BucketAlreadyExists", 409},
    CodeStatus{"BucketAlreadyOwnedByYou", 409},
    CodeStatus{"BucketNotEmpty", 409},
    CodeStatus{"OperationAborted", 409},
    CodeStatus{"InvalidBucketState", 409},
    CodeStatus{"MissingContentLength", 411},
    CodeStatus{"PreconditionFailed", 412},
    CodeStatus{"InvalidRange", 416},
    CodeStatus{"InternalError", 500},
    CodeStatus{"NotImplemented", 501},
    CodeStatus{"ServiceUnavailable", 503},
    CodeStatus{"SlowDown", 503},
};

// JSON 1.1 services answer 400 for client errors, "not found" included; these are the others.
constexpr std::array kJsonStatuses{
    CodeStatus{"MissingAuthenticationTokenException", 403},
    CodeStatus{"IncompleteSignatureException", 403},
    CodeStatus{"InvalidSignatureException", 403},
    CodeStatus{"UnrecognizedClientException", 403},
    CodeStatus{"AccessDeniedException", 400},
    CodeStatus{"DecryptionFailure", 400},  // AWS answers 400 (no retry) for a value it cannot decrypt
    CodeStatus{"InternalFailure", 500},
    CodeStatus{"InternalServiceError", 500},
    CodeStatus{"InternalServerError", 500},
    CodeStatus{"InternalServiceErrorException", 500},
    CodeStatus{"ServiceUnavailable", 503},
    CodeStatus{"ServiceUnavailableException", 503},
};

// Query services (CloudFormation, RDS).
constexpr std::array kQueryStatuses{
    CodeStatus{"MissingAuthenticationToken", 403},
    CodeStatus{"IncompleteSignature", 403},
    CodeStatus{"SignatureDoesNotMatch", 403},
    CodeStatus{"InvalidClientTokenId", 403},
    CodeStatus{"AccessDenied", 403},
    CodeStatus{"ChangeSetNotFound", 404},
    CodeStatus{"DBClusterNotFoundFault", 404},
    CodeStatus{"DBInstanceNotFoundFault", 404},
    CodeStatus{"DBSubnetGroupNotFoundFault", 404},
    CodeStatus{"InternalFailure", 500},
    CodeStatus{"ServiceUnavailable", 503},
};

bool IsServerSide(ErrorCode code) {
  return code == ErrorCode::kInternal || code == ErrorCode::kIoError ||
         code == ErrorCode::kDatabaseError || code == ErrorCode::kCorruption;
}
bool IsUnavailable(ErrorCode code) {
  return code == ErrorCode::kConnectionError || code == ErrorCode::kCancelled;
}

// Default AWS codes for a Status that carries none.
std::string_view DefaultCode(Protocol protocol, ErrorCode code) {
  if (IsServerSide(code)) return protocol == Protocol::kRestXml ? "InternalError" : "InternalFailure";
  if (IsUnavailable(code)) return "ServiceUnavailable";
  switch (protocol) {
    case Protocol::kRestXml:
      switch (code) {
        case ErrorCode::kNotFound: return "NoSuchKey";
        case ErrorCode::kAlreadyExists: return "OperationAborted";
        case ErrorCode::kInvalidState: return "InvalidRequest";
        default: return "InvalidArgument";
      }
    case Protocol::kJson11:
      switch (code) {
        case ErrorCode::kNotFound: return "ResourceNotFoundException";
        case ErrorCode::kAlreadyExists: return "ResourceExistsException";
        case ErrorCode::kInvalidState: return "InvalidRequestException";
        default: return "ValidationException";
      }
    case Protocol::kQuery:
      switch (code) {
        case ErrorCode::kAlreadyExists: return "AlreadyExistsException";
        default: return "ValidationError";
      }
  }
  return "InternalFailure";
}

// S3 error bodies name the bucket or key the error is about.
enum class S3Detail { kNone, kBucket, kKey };
S3Detail DetailFor(std::string_view code) {
  if (code == "NoSuchKey") return S3Detail::kKey;
  if (code == "NoSuchBucket" || code == "BucketNotEmpty" || code == "BucketAlreadyExists" ||
      code == "BucketAlreadyOwnedByYou" || code == "InvalidBucketName") {
    return S3Detail::kBucket;
  }
  return S3Detail::kNone;
}

// "/bucket/dir/key" → ("bucket", "dir/key").
std::pair<std::string_view, std::string_view> SplitS3Path(std::string_view path) {
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  size_t slash = path.find('/');
  if (slash == std::string_view::npos) return {path, {}};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

std::string_view QueryNamespace(std::string_view service) {
  if (service == "rds") return "http://rds.amazonaws.com/doc/2014-10-31/";
  return "http://cloudformation.amazonaws.com/doc/2010-05-15/";
}

}  // namespace

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string HostIdFor(std::string_view request_id) {
  return Base64Encode(Sha256(std::string("opendms-host-id/").append(request_id)));
}

std::string AwsErrorCode(Protocol protocol, const Status& error) {
  if (!error.aws_code().empty()) return error.aws_code();
  return std::string(DefaultCode(protocol, error.code()));
}

int HttpStatusFor(Protocol protocol, std::string_view aws_code, const Status& error) {
  auto find = [&](const auto& table) -> int {
    for (const CodeStatus& entry : table) {
      if (entry.code == aws_code) return entry.status;
    }
    return 0;
  };
  int status = 0;
  switch (protocol) {
    case Protocol::kRestXml: status = find(kS3Statuses); break;
    case Protocol::kJson11: status = find(kJsonStatuses); break;
    case Protocol::kQuery: status = find(kQueryStatuses); break;
  }
  if (status != 0) return status;
  if (IsServerSide(error.code())) return 500;
  if (IsUnavailable(error.code())) return 503;
  return 400;
}

HttpResponse ErrorResponse(Protocol protocol, const Status& error, const HttpRequest& request) {
  const std::string code = AwsErrorCode(protocol, error);
  HttpResponse response;
  response.status = HttpStatusFor(protocol, code, error);
  switch (protocol) {
    case Protocol::kRestXml: {
      response.SetHeader("Content-Type", "application/xml");
      std::string& body = response.body;
      body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>";
      body += XmlEscape(code);
      body += "</Code><Message>";
      body += XmlEscape(error.message());
      body += "</Message>";
      auto [bucket, key] = SplitS3Path(request.path);
      switch (DetailFor(code)) {
        case S3Detail::kKey:
          if (!key.empty()) body += "<Key>" + XmlEscape(key) + "</Key>";
          break;
        case S3Detail::kBucket:
          if (!bucket.empty()) body += "<BucketName>" + XmlEscape(bucket) + "</BucketName>";
          break;
        case S3Detail::kNone:
          break;
      }
      body += "<RequestId>" + XmlEscape(request.request_id) + "</RequestId>";
      body += "<HostId>" + XmlEscape(HostIdFor(request.request_id)) + "</HostId></Error>";
      break;
    }
    case Protocol::kJson11: {
      response.SetHeader("Content-Type", "application/x-amz-json-1.1");
      response.SetHeader("x-amzn-ErrorType", code);
      Json body = Json::object();
      body["__type"] = code;
      body["message"] = error.message();
      response.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
      break;
    }
    case Protocol::kQuery: {
      response.SetHeader("Content-Type", "text/xml");
      std::string& body = response.body;
      body = "<ErrorResponse xmlns=\"";
      body += QueryNamespace(request.service);
      body += "\"><Error><Type>";
      body += response.status >= 500 ? "Receiver" : "Sender";
      body += "</Type><Code>" + XmlEscape(code) + "</Code><Message>" +
              XmlEscape(error.message()) + "</Message></Error><RequestId>" +
              XmlEscape(request.request_id) + "</RequestId></ErrorResponse>";
      break;
    }
  }
  return response;
}

}  // namespace opendms::api

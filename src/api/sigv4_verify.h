// api (internal): verifying AWS Signature Version 4 on an incoming request, in both forms —
// the Authorization header and the presigned query (X-Amz-Algorithm, X-Amz-Credential, …) —
// and S3's legacy presigned query (Signature Version 2), which boto3's generate_presigned_url
// still produces for S3 in us-east-1.
// The primitives (canonical query, string to sign, signing key) are core's sigv4::.
//
// Errors come back as Status with the AWS code the protocol uses (S3: AccessDenied,
// SignatureDoesNotMatch, InvalidAccessKeyId, RequestTimeTooSkewed; JSON 1.1:
// MissingAuthenticationTokenException, IncompleteSignatureException, InvalidSignatureException,
// UnrecognizedClientException; Query: the same without "Exception", SignatureDoesNotMatch,
// InvalidClientTokenId).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/http.h"
#include "core/core.h"

namespace opendms::api {

// What a request's signature claims, parsed from the header or the query.
struct SigV4Claim {
  bool presigned = false;
  std::string access_key_id;
  std::string date;     // YYYYMMDD, from the credential scope
  std::string region;   // from the credential scope
  std::string service;  // signing name from the credential scope
  std::string amz_date;  // X-Amz-Date: YYYYMMDDTHHMMSSZ
  std::vector<std::string> signed_headers;  // lowercase, as listed
  std::string signature;                    // 64 lowercase hex
  int64_t expires_seconds = 0;              // presigned only

  std::string Scope() const { return sigv4::Scope(date, region, service); }
};

// Parses the claim. No Authorization header and no X-Amz-Credential query parameter: the
// protocol's "missing authentication" error. A malformed one: "incomplete signature".
Result<SigV4Claim> ParseSigV4(const HttpRequest& request, Protocol protocol);

// Checks the claim's time: a presigned URL past X-Amz-Date + X-Amz-Expires is AccessDenied
// "Request has expired"; a header-signed request more than `max_skew` away from `now` is
// RequestTimeTooSkewed (S3) / InvalidSignatureException "Signature expired" (JSON).
Status CheckSigV4Time(const SigV4Claim& claim, TimePoint now, std::chrono::seconds max_skew,
                      Protocol protocol);

// The canonical request the client signed. `payload_hash` is what goes on its last line: S3's
// x-amz-content-sha256 literal (UNSIGNED-PAYLOAD for presigned URLs), or the hex SHA-256 of the
// body for other services. The canonical URI is the raw path for S3 and the normalised path
// URI-encoded again for other services; the presigned signature parameter is left out of the
// canonical query.
sigv4::CanonicalRequest BuildCanonicalRequest(const HttpRequest& request, const SigV4Claim& claim,
                                              std::string payload_hash);

// Compares the claimed signature with the one computed from `secret_key` (constant time).
Status VerifySigV4(const SigV4Claim& claim, const sigv4::CanonicalRequest& canonical,
                   std::string_view secret_key, Protocol protocol);

// S3's Signature Version 2 query authentication: ?AWSAccessKeyId=…&Expires=<epoch s>&Signature=
// base64(HMAC-SHA1(secret, string to sign)). Only the presigned form (the Authorization: AWS
// header form is refused by ParseSigV4).
struct SigV2QueryClaim {
  std::string access_key_id;
  int64_t expires = 0;  // epoch seconds
  std::string signature;  // base64, as sent
};

// True when the request carries AWSAccessKeyId and Signature query parameters.
bool HasSigV2Query(const HttpRequest& request);
Result<SigV2QueryClaim> ParseSigV2Query(const HttpRequest& request);
// Method, Content-MD5, Content-Type, Expires, the x-amz-* headers, then the resource: the raw
// path (path-style "/bucket/key") and the sub-resources S3 signs (uploadId, partNumber,
// response-content-type, …) sorted, as botocore's HmacV1QueryAuth builds it.
std::string SigV2StringToSign(const HttpRequest& request, const SigV2QueryClaim& claim);
// Checks the expiry (AccessDenied "Request has expired") and the signature
// (SignatureDoesNotMatch), in constant time.
Status VerifySigV2Query(const HttpRequest& request, const SigV2QueryClaim& claim,
                        std::string_view secret_key, TimePoint now);

// The protocol's error for an access key that is not known.
Status UnknownAccessKey(Protocol protocol, std::string_view access_key_id);

// "/a/./b/../c" → "/a/c"; keeps a trailing slash; "" → "/".
std::string NormalizePath(std::string_view path);

}  // namespace opendms::api

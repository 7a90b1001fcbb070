// api (internal): small pieces of the wire formats shared by the HTTP layer and the protocol
// codecs — XML text escaping, the S3 host id, and the AWS error code → HTTP status tables.
#pragma once

#include <string>
#include <string_view>

#include "api/http.h"

namespace opendms::api {

// Escapes &, <, >, " and ' for XML text and attribute values.
std::string XmlEscape(std::string_view text);

// The x-amz-id-2 value (and an S3 error's <HostId>) for a request: derived from its request id,
// so the header and the body always agree.
std::string HostIdFor(std::string_view request_id);

// The AWS error code a client sees for `error` in `protocol`: error.aws_code() when set,
// otherwise the protocol's default for error.code().
std::string AwsErrorCode(Protocol protocol, const Status& error);

// The HTTP status AWS answers `aws_code` with in `protocol`; for a code not in the tables, 500
// when `error` is a server-side failure (internal, I/O, database) and 400 otherwise, so that
// botocore does not retry client mistakes.
int HttpStatusFor(Protocol protocol, std::string_view aws_code, const Status& error);

}  // namespace opendms::api

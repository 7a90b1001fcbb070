// Internal: reading the fields of a JSON 1.1 request, with AWS-style messages for a wrong type,
// and small helpers both services share.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.h"

namespace opendms::secrets::internal {

// The fields of one request. Errors carry `invalid_code` (Secrets Manager:
// "InvalidParameterException", SSM: "ValidationException").
class Request {
 public:
  Request(const Json& input, std::string_view invalid_code)
      : input_(input), invalid_code_(invalid_code) {}

  Status Invalid(std::string message) const {
    return Status::Aws(ErrorCode::kInvalidArgument, std::string(invalid_code_), std::move(message));
  }
  bool Has(std::string_view field) const {
    return input_.is_object() && input_.contains(field) && !input_[std::string(field)].is_null();
  }
  const Json& Raw(std::string_view field) const { return input_[std::string(field)]; }

  Result<std::optional<std::string>> String(std::string_view field) const;
  Result<std::string> RequiredString(std::string_view field) const;
  Result<std::optional<bool>> Bool(std::string_view field) const;
  Result<std::optional<int64_t>> Int(std::string_view field) const;
  Result<std::vector<std::string>> StringList(std::string_view field) const;  // absent: empty

 private:
  const Json& input_;
  std::string_view invalid_code_;
};

// Paging tokens: an opaque base64 of the offset into a sorted, filtered list.
std::string EncodeOffsetToken(size_t offset);
std::optional<size_t> DecodeOffsetToken(std::string_view token);

// "\x0a1b…" (bytea text output) → bytes; "" on malformed input.
std::string DecodeByteaHex(std::string_view text);
std::string EncodeByteaHex(std::string_view bytes);

// Epoch seconds of Clock::Now(), rounded to milliseconds (what responses carry).
double NowEpoch();

}  // namespace opendms::secrets::internal

#include "secrets/request.h"

#include <cmath>

namespace opendms::secrets::internal {

Result<std::optional<std::string>> Request::String(std::string_view field) const {
  if (!Has(field)) return std::optional<std::string>();
  const Json& v = Raw(field);
  if (!v.is_string()) return Invalid(std::string(field) + " must be a string");
  return std::optional<std::string>(v.get<std::string>());
}

Result<std::string> Request::RequiredString(std::string_view field) const {
  ASSIGN_OR_RETURN(auto v, String(field));
  if (!v) {
    return Invalid("1 validation error detected: Value null at '" + std::string(field) +
                   "' failed to satisfy constraint: Member must not be null");
  }
  return *v;
}

Result<std::optional<bool>> Request::Bool(std::string_view field) const {
  if (!Has(field)) return std::optional<bool>();
  const Json& v = Raw(field);
  if (!v.is_boolean()) return Invalid(std::string(field) + " must be a boolean");
  return std::optional<bool>(v.get<bool>());
}

Result<std::optional<int64_t>> Request::Int(std::string_view field) const {
  if (!Has(field)) return std::optional<int64_t>();
  const Json& v = Raw(field);
  if (!v.is_number_integer()) return Invalid(std::string(field) + " must be an integer");
  return std::optional<int64_t>(v.get<int64_t>());
}

Result<std::vector<std::string>> Request::StringList(std::string_view field) const {
  std::vector<std::string> out;
  if (!Has(field)) return out;
  const Json& v = Raw(field);
  if (!v.is_array()) return Invalid(std::string(field) + " must be a list of strings");
  for (const Json& item : v) {
    if (!item.is_string()) return Invalid(std::string(field) + " must be a list of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::string EncodeOffsetToken(size_t offset) {
  return Base64Encode("opendms-page:" + std::to_string(offset));
}

std::optional<size_t> DecodeOffsetToken(std::string_view token) {
  auto raw = Base64Decode(token, "NextToken");
  if (!raw.ok()) return std::nullopt;
  constexpr std::string_view kPrefix = "opendms-page:";
  if (raw->rfind(kPrefix, 0) != 0) return std::nullopt;
  std::string digits = raw->substr(kPrefix.size());
  if (digits.empty() || digits.size() > 9 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return static_cast<size_t>(std::stoul(digits));
}

std::string DecodeByteaHex(std::string_view text) {
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2 != 0) return "";
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 2 - 1);
  for (size_t i = 2; i < text.size(); i += 2) {
    int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return "";
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

std::string EncodeByteaHex(std::string_view bytes) { return "\\x" + HexEncode(bytes); }

double NowEpoch() { return std::round(ToEpochSeconds(Clock::Now()) * 1000.0) / 1000.0; }

}  // namespace opendms::secrets::internal

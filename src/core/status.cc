#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/core.h"

namespace opendms {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "OK";
    case ErrorCode::kInvalidArgument:
      return "InvalidArgument";
    case ErrorCode::kNotFound:
      return "NotFound";
    case ErrorCode::kAlreadyExists:
      return "AlreadyExists";
    case ErrorCode::kInvalidState:
      return "InvalidState";
    case ErrorCode::kIoError:
      return "IoError";
    case ErrorCode::kDataError:
      return "DataError";
    case ErrorCode::kDatabaseError:
      return "DatabaseError";
    case ErrorCode::kConnectionError:
      return "ConnectionError";
    case ErrorCode::kCancelled:
      return "Cancelled";
    case ErrorCode::kCorruption:
      return "Corruption";
    case ErrorCode::kInternal:
      return "Internal";
  }
  return "Unknown";
}

Status Status::FromErrno(std::string_view what, int err) {
  return IoError(std::string(what) + ": " + std::strerror(err));
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(ErrorCodeName(code_)) + ": " + message_;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  Status s(code_, std::string(context) + ": " + message_);
  s.aws_code_ = aws_code_;
  return s;
}

Status Status::WithAwsCode(std::string aws_code) const {
  Status s = *this;
  s.aws_code_ = std::move(aws_code);
  return s;
}

Result<Json> ParseJson(std::string_view text, std::string_view what) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    return Status::InvalidArgument(std::string(what) + " is not valid JSON (byte " +
                                   std::to_string(e.byte) + "): " + e.what());
  }
}

Result<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::FromErrno("cannot open " + path, errno);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::FromErrno("cannot read " + path, errno);
  return ss.str();
}

Result<int64_t> JsonToInt(const Json& v, std::string_view field) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
  }
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    try {
      size_t used = 0;
      long long n = std::stoll(s, &used);
      if (used == s.size() && !s.empty()) return static_cast<int64_t>(n);
    } catch (...) {
    }
  }
  return Status::InvalidArgument(std::string(field) + " must be an integer, got " + v.dump());
}

Result<bool> JsonToBool(const Json& v, std::string_view field) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (s == "true" || s == "y" || s == "yes" || s == "1") return true;
    if (s == "false" || s == "n" || s == "no" || s == "0") return false;
  }
  if (v.is_number_integer() && (v.get<int64_t>() == 0 || v.get<int64_t>() == 1)) {
    return v.get<int64_t>() == 1;
  }
  return Status::InvalidArgument(std::string(field) + " must be a boolean, got " + v.dump());
}

Result<std::string> JsonToString(const Json& v, std::string_view field) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return v.dump();
  return Status::InvalidArgument(std::string(field) + " must be a string, got " + v.dump());
}

}  // namespace opendms

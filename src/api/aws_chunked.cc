// The aws-chunked decoder: a byte-driven state machine that hands out payload spans without
// copying them (only trailer lines are copied, and they are small).
#include "api/aws_chunked.h"

#include <algorithm>
#include <cctype>

namespace opendms::api {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Status AwsChunkedDecoder::Malformed(std::string_view what) const {
  return Status::Aws(ErrorCode::kInvalidArgument, "InvalidRequest",
                     "malformed aws-chunked body at byte " + std::to_string(encoded_offset_) +
                         ": " + std::string(what));
}

Status AwsChunkedDecoder::EndTrailerLine() {
  if (line_.empty()) {  // the empty line: end of the body
    state_ = State::kDone;
    return Status::Ok();
  }
  size_t colon = line_.find(':');
  if (colon == std::string::npos || colon == 0) return Malformed("trailer line without a name");
  std::string name = line_.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  trailers_.emplace_back(std::move(name), std::string(Trim(std::string_view(line_).substr(colon + 1))));
  line_.clear();
  state_ = State::kTrailerLine;
  return Status::Ok();
}

Status AwsChunkedDecoder::Feed(std::string_view input, const Sink& sink) {
  size_t i = 0;
  while (i < input.size()) {
    const size_t step_start = i;
    const char c = input[i];
    switch (state_) {
      case State::kSize: {
        if (int v = HexValue(c); v >= 0) {
          if (remaining_ > (UINT64_MAX >> 4)) return Malformed("chunk size too large");
          remaining_ = (remaining_ << 4) | static_cast<uint64_t>(v);
          size_has_digit_ = true;
        } else if (c == ';' && size_has_digit_) {
          state_ = State::kExtension;
        } else if (c == '\r' && size_has_digit_) {
          state_ = State::kSizeLf;
        } else {
          return Malformed("expected a hexadecimal chunk size");
        }
        if (++line_length_ > kMaxLineLength) return Malformed("chunk size line too long");
        ++i;
        break;
      }
      case State::kExtension: {
        // Skip to CR in bulk; the chunk signature is not used (unsigned streaming only).
        size_t cr = input.find('\r', i);
        size_t end = cr == std::string_view::npos ? input.size() : cr;
        line_length_ += end - i;
        if (line_length_ > kMaxLineLength) return Malformed("chunk size line too long");
        if (cr != std::string_view::npos) state_ = State::kSizeLf;
        i = cr == std::string_view::npos ? end : end + 1;
        break;
      }
      case State::kSizeLf: {
        if (c != '\n') return Malformed("expected LF after the chunk size");
        ++i;
        line_length_ = 0;
        size_has_digit_ = false;
        if (remaining_ == 0) {
          final_chunk_ = true;
          state_ = State::kTrailerLine;
        } else {
          state_ = State::kData;
        }
        break;
      }
      case State::kData: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, input.size() - i));
        Status st = sink(input.substr(i, n));
        if (!st.ok()) return st;
        remaining_ -= n;
        decoded_bytes_ += n;
        i += n;
        if (remaining_ == 0) state_ = State::kDataCr;
        break;
      }
      case State::kDataCr:
        if (c != '\r') return Malformed("chunk data longer than its declared size");
        state_ = State::kDataLf;
        ++i;
        break;
      case State::kDataLf:
        if (c != '\n') return Malformed("expected LF after chunk data");
        state_ = State::kSize;
        ++i;
        break;
      case State::kTrailerLine: {
        if (c == '\r') {
          state_ = State::kTrailerLf;
        } else {
          if (line_.size() >= kMaxLineLength || trailer_bytes_ >= kMaxTrailerBytes) {
            return Malformed("trailer too long");
          }
          line_ += c;
          ++trailer_bytes_;
        }
        ++i;
        break;
      }
      case State::kTrailerLf:
        if (c != '\n') return Malformed("expected LF after a trailer line");
        ++i;
        RETURN_IF_ERROR(EndTrailerLine());
        break;
      case State::kDone:
        return Status::Aws(ErrorCode::kInvalidArgument, "IncompleteBody",
                           "data after the end of the aws-chunked body");
    }
    encoded_offset_ += i - step_start;
  }
  return Status::Ok();
}

Status AwsChunkedDecoder::Finish() const {
  // Some encoders end right after the final "0\r\n" when there is no trailer.
  if (state_ == State::kDone || (state_ == State::kTrailerLine && final_chunk_ && line_.empty() &&
                                 trailers_.empty())) {
    return Status::Ok();
  }
  return Status::Aws(ErrorCode::kInvalidArgument, "IncompleteBody",
                     "the aws-chunked body ended before its final chunk and trailer (" +
                         std::to_string(decoded_bytes_) + " payload bytes decoded)");
}

const std::string* AwsChunkedDecoder::Trailer(std::string_view lowercase_name) const {
  for (const auto& [name, value] : trailers_) {
    if (name == lowercase_name) return &value;
  }
  return nullptr;
}

}  // namespace opendms::api

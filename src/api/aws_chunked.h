// api (internal): the aws-chunked payload encoding (Content-Encoding: aws-chunked), decoded
// incrementally as the body arrives. The HTTP layer (libmicrohttpd) has already removed the outer
// HTTP/1.1 chunked framing; what is left is
//   <hex size>[;chunk-signature=<sig>]\r\n<size bytes>\r\n  … repeated, then
//   0[;…]\r\n, then trailer lines "<name>:<value>\r\n", then "\r\n".
// See ../shared/reference/cfn-secrets-ssm.md §1.6.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/core.h"

namespace opendms::api {

class AwsChunkedDecoder {
 public:
  // Receives decoded payload bytes (spans of the fed input, in order; never empty).
  using Sink = std::function<Status(std::string_view)>;

  // Feeds the next bytes of the encoded body, in any split. Payload bytes go to `sink`; a
  // failing sink stops decoding and its Status is returned. Malformed framing is InvalidArgument
  // with aws code "InvalidRequest" (IncompleteBody for data after the end).
  Status Feed(std::string_view input, const Sink& sink);

  // The body ended: ok only if the final chunk and the trailer section were complete
  // (otherwise InvalidArgument, aws code "IncompleteBody").
  Status Finish() const;

  // Trailer fields in order, names lowercased, values trimmed. Complete after Finish() is ok.
  const std::vector<std::pair<std::string, std::string>>& trailers() const { return trailers_; }
  const std::string* Trailer(std::string_view lowercase_name) const;
  uint64_t decoded_bytes() const { return decoded_bytes_; }

 private:
  enum class State {
    kSize,         // hex digits of a chunk size
    kExtension,    // ";chunk-signature=…" up to CR
    kSizeLf,       // LF ending the size line
    kData,         // chunk payload, remaining_ bytes left
    kDataCr,       // CR after the payload
    kDataLf,       // LF after the payload
    kTrailerLine,  // a trailer line (or the empty line ending the body), up to CR
    kTrailerLf,    // LF ending a trailer line
    kDone,         // the empty line after the trailers was read
  };
  static constexpr size_t kMaxLineLength = 4096;     // a size line or one trailer line
  static constexpr size_t kMaxTrailerBytes = 16384;  // all trailer lines together

  Status Malformed(std::string_view what) const;
  Status EndTrailerLine();

  State state_ = State::kSize;
  uint64_t remaining_ = 0;  // payload bytes left in the current chunk
  bool size_has_digit_ = false;
  bool final_chunk_ = false;  // the last size line read was 0
  size_t line_length_ = 0;    // bytes of the current size/extension line
  std::string line_;          // the current trailer line
  size_t trailer_bytes_ = 0;
  uint64_t decoded_bytes_ = 0;
  uint64_t encoded_offset_ = 0;  // position in the encoded body, for error messages
  std::vector<std::pair<std::string, std::string>> trailers_;
};

}  // namespace opendms::api

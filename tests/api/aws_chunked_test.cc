// The aws-chunked decoder fed whole, byte by byte and in odd splits: the same payload and
// trailers every time; malformed framing refused with the position.
#include <gtest/gtest.h>

#include "api/aws_chunked.h"

namespace opendms::api {
namespace {

// What botocore sends for a 14-byte file (cfn-secrets-ssm.md §1.6), and a two-chunk body with
// chunk signatures.
const std::string kBotocoreBody =
    "e\r\nid,name\n1,foo\n\r\n0\r\nx-amz-checksum-crc32:GfDGtA==\r\n\r\n";
const std::string kSignedChunks =
    "5;chunk-signature=abc\r\nhello\r\n6;chunk-signature=def\r\n world\r\n"
    "0;chunk-signature=000\r\n\r\n";

struct Decoded {
  Status status;
  std::string payload;
  std::vector<std::pair<std::string, std::string>> trailers;
};

Decoded DecodeInPieces(const std::string& body, size_t piece) {
  AwsChunkedDecoder decoder;
  Decoded out;
  for (size_t i = 0; i < body.size() && out.status.ok(); i += piece) {
    out.status = decoder.Feed(std::string_view(body).substr(i, piece), [&](std::string_view c) {
      EXPECT_FALSE(c.empty());
      out.payload.append(c);
      return Status::Ok();
    });
  }
  if (out.status.ok()) out.status = decoder.Finish();
  out.trailers = decoder.trailers();
  return out;
}

TEST(AwsChunkedDecoder, BotocoreBodyInEverySplit) {
  for (size_t piece : {kBotocoreBody.size(), size_t{1}, size_t{2}, size_t{3}, size_t{7}}) {
    Decoded d = DecodeInPieces(kBotocoreBody, piece);
    ASSERT_TRUE(d.status.ok()) << piece << ": " << d.status.ToString();
    EXPECT_EQ(d.payload, "id,name\n1,foo\n") << piece;
    ASSERT_EQ(d.trailers.size(), 1u);
    EXPECT_EQ(d.trailers[0].first, "x-amz-checksum-crc32");
    EXPECT_EQ(d.trailers[0].second, "GfDGtA==");
  }
}

TEST(AwsChunkedDecoder, ChunkSignaturesAreSkipped) {
  for (size_t piece : {size_t{1}, size_t{4}, size_t{100}}) {
    Decoded d = DecodeInPieces(kSignedChunks, piece);
    ASSERT_TRUE(d.status.ok()) << d.status.ToString();
    EXPECT_EQ(d.payload, "hello world");
    EXPECT_TRUE(d.trailers.empty());
  }
}

TEST(AwsChunkedDecoder, LargeChunksPassThroughWithoutCopy) {
  std::string data(3 << 20, 'q');
  std::string body = "300000\r\n" + data + "\r\n0\r\n\r\n";
  Decoded d = DecodeInPieces(body, 65536 + 13);
  ASSERT_TRUE(d.status.ok()) << d.status.ToString();
  EXPECT_EQ(d.payload.size(), data.size());
}

TEST(AwsChunkedDecoder, EndingAfterTheFinalChunkWithoutTrailerIsAccepted) {
  Decoded d = DecodeInPieces("3\r\nabc\r\n0\r\n", 1);
  EXPECT_TRUE(d.status.ok()) << d.status.ToString();
  EXPECT_EQ(d.payload, "abc");
}

TEST(AwsChunkedDecoder, MalformedBodiesAreRefused) {
  struct Case {
    std::string body;
    std::string code;
  };
  for (const Case& c : std::vector<Case>{
           {"zz\r\nabc\r\n0\r\n\r\n", "InvalidRequest"},           // not hex
           {"3\r\nabcd\r\n0\r\n\r\n", "InvalidRequest"},           // data longer than its size
           {"3\nabc\r\n0\r\n\r\n", "InvalidRequest"},              // bare LF after the size
           {"3\r\nabc\r\n0\r\nno-colon\r\n\r\n", "InvalidRequest"},  // trailer without a name
           {"3\r\nabc\r\n0\r\n\r\nextra", "IncompleteBody"},       // data after the end
           {"5\r\nabc", "IncompleteBody"},                         // truncated
           {"3\r\nabc\r\n", "IncompleteBody"},                     // no final chunk
           {"", "IncompleteBody"},
       }) {
    for (size_t piece : {size_t{1}, size_t{64}}) {
      Decoded d = DecodeInPieces(c.body, piece);
      EXPECT_FALSE(d.status.ok()) << c.body;
      EXPECT_EQ(d.status.aws_code(), c.code) << c.body << " " << d.status.ToString();
    }
  }
}

TEST(AwsChunkedDecoder, SinkFailureStopsDecoding) {
  AwsChunkedDecoder decoder;
  Status st = decoder.Feed(kSignedChunks, [](std::string_view) {
    return Status::Aws(ErrorCode::kInvalidArgument, "EntityTooLarge", "too big");
  });
  EXPECT_EQ(st.aws_code(), "EntityTooLarge");
}

}  // namespace
}  // namespace opendms::api

#include <gtest/gtest.h>

#include "core/core.h"

namespace opendms {
namespace {

TEST(Crypto, Base64RoundTripsEveryLength) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  for (size_t n = 0; n < 40; ++n) {
    std::string bytes = RandomBytes(n);
    auto back = Base64Decode(Base64Encode(bytes));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, bytes);
  }
  EXPECT_FALSE(Base64Decode("Zm9").ok());
  EXPECT_FALSE(Base64Decode("Zm=v").ok());
  EXPECT_FALSE(Base64Decode("Zm9v!!==").ok());
}

TEST(Crypto, HashesMatchKnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256Hasher h;
  h.Update("a");
  h.Update("bc");
  EXPECT_EQ(h.FinishHex(), Sha256Hex("abc"));
  // RFC 4231 test case 2.
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // The value the aws CLI sends for this body (reference §1.6).
  EXPECT_EQ(Crc32ToBase64(Crc32(0, "id,name\n1,foo\n")), "GfDGtA==");
  EXPECT_EQ(Crc32(Crc32(0, "id,name\n"), "1,foo\n"), Crc32(0, "id,name\n1,foo\n"));
  EXPECT_EQ(HexEncode(Md5("hello")), "5d41402abc4b2a76b9719d911017c592");
  Md5Hasher md5;
  md5.Update("hel");
  md5.Update("lo");
  EXPECT_EQ(md5.Finish(), Md5("hello"));
}

TEST(Crypto, RandomIdsHaveTheirShape) {
  std::string u = RandomUuid();
  ASSERT_EQ(u.size(), 36u);
  EXPECT_EQ(u[14], '4');
  EXPECT_NE(RandomUuid(), u);
  std::string s = RandomString(20, kUpperAlnum);
  ASSERT_EQ(s.size(), 20u);
  EXPECT_EQ(s.find_first_not_of(kUpperAlnum), std::string::npos);
}

TEST(Crypto, UriEncodingFollowsSigV4) {
  EXPECT_EQ(UriEncode("dir/sp ace+plus.csv", false), "dir/sp%20ace%2Bplus.csv");
  EXPECT_EQ(UriEncode("a/b~c", true), "a%2Fb~c");
  EXPECT_EQ(*UriDecode("sp%20ace%2Bplus+x", false), "sp ace+plus+x");
  EXPECT_EQ(*UriDecode("a+b", true), "a b");
  EXPECT_FALSE(UriDecode("a%2").ok());
  EXPECT_FALSE(UriDecode("a%zz").ok());
}

TEST(SigV4, CanonicalQueryIsSortedAndKeepsEncoding) {
  EXPECT_EQ(sigv4::CanonicalQueryString("list-type=2&prefix=dir%2F&delimiter=%2F&encoding-type=url"),
            "delimiter=%2F&encoding-type=url&list-type=2&prefix=dir%2F");
  EXPECT_EQ(sigv4::CanonicalQueryString("uploads"), "uploads=");
  EXPECT_EQ(sigv4::CanonicalQueryString(""), "");
  EXPECT_EQ(sigv4::CanonicalHeaderValue("  a   b  c "), "a b c");
}

// AWS's published SigV4 test suite, case "get-vanilla".
TEST(SigV4, SignsTheGetVanillaExample) {
  sigv4::CanonicalRequest req;
  req.method = "GET";
  req.canonical_uri = "/";
  req.headers = {{"host", "example.amazonaws.com"}, {"x-amz-date", "20150830T123600Z"}};
  req.payload_hash = Sha256Hex("");
  std::string scope = sigv4::Scope("20150830", "us-east-1", "service");
  std::string sts = sigv4::StringToSign("20150830T123600Z", scope, req.ToString());
  std::string key =
      sigv4::SigningKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1",
                        "service");
  EXPECT_EQ(sigv4::Signature(key, sts),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  EXPECT_EQ(req.SignedHeaders(), "host;x-amz-date");
}

}  // namespace
}  // namespace opendms

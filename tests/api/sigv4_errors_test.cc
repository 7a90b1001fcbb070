// SigV4 canonical requests built from an HttpRequest, checked against AWS's published examples
// (S3 "Signature Calculations for the Authorization Header" and "Query String Authentication"),
// and the error bodies of the three protocols.
#include <gtest/gtest.h>

#include "api/sigv4_verify.h"
#include "api/wire.h"

namespace opendms::api {
namespace {

constexpr char kExampleSecret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr char kEmptySha[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

HttpRequest ExampleGet() {
  HttpRequest r;
  r.method = "GET";
  r.raw_path = "/test.txt";
  r.path = "/test.txt";
  r.headers = {{"host", "examplebucket.s3.amazonaws.com"},
               {"range", "bytes=0-9"},
               {"x-amz-content-sha256", kEmptySha},
               {"x-amz-date", "20130524T000000Z"}};
  r.headers["authorization"] =
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
      "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
      "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
  return r;
}

TEST(SigV4Verify, AwsHeaderExampleVerifies) {
  HttpRequest r = ExampleGet();
  Result<SigV4Claim> claim = ParseSigV4(r, Protocol::kRestXml);
  ASSERT_TRUE(claim.ok()) << claim.status().ToString();
  EXPECT_EQ(claim->access_key_id, "AKIAIOSFODNN7EXAMPLE");
  EXPECT_EQ(claim->region, "us-east-1");
  EXPECT_EQ(claim->service, "s3");
  sigv4::CanonicalRequest canonical = BuildCanonicalRequest(r, *claim, kEmptySha);
  EXPECT_EQ(canonical.ToString(),
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:" + std::string(kEmptySha) +
                "\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n" +
                kEmptySha);
  EXPECT_TRUE(VerifySigV4(*claim, canonical, kExampleSecret, Protocol::kRestXml).ok());
  Status wrong = VerifySigV4(*claim, canonical, "another secret", Protocol::kRestXml);
  EXPECT_EQ(wrong.aws_code(), "SignatureDoesNotMatch");
  EXPECT_EQ(VerifySigV4(*claim, canonical, "x", Protocol::kJson11).aws_code(),
            "InvalidSignatureException");
}

TEST(SigV4Verify, AwsPresignedExampleVerifies) {
  HttpRequest r;
  r.method = "GET";
  r.raw_path = r.path = "/test.txt";
  r.raw_query =
      "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F"
      "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&"
      "X-Amz-SignedHeaders=host&X-Amz-Signature="
      "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
  r.query = {{"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
             {"X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"},
             {"X-Amz-Date", "20130524T000000Z"},
             {"X-Amz-Expires", "86400"},
             {"X-Amz-SignedHeaders", "host"},
             {"X-Amz-Signature",
              "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"}};
  r.headers = {{"host", "examplebucket.s3.amazonaws.com"}};
  Result<SigV4Claim> claim = ParseSigV4(r, Protocol::kRestXml);
  ASSERT_TRUE(claim.ok()) << claim.status().ToString();
  EXPECT_TRUE(claim->presigned);
  EXPECT_EQ(claim->expires_seconds, 86400);
  sigv4::CanonicalRequest canonical =
      BuildCanonicalRequest(r, *claim, std::string(sigv4::kUnsignedPayload));
  EXPECT_EQ(canonical.canonical_query.find("X-Amz-Signature"), std::string::npos);
  EXPECT_TRUE(VerifySigV4(*claim, canonical, kExampleSecret, Protocol::kRestXml).ok());

  // Expiry: valid a day, expired after.
  TimePoint signed_at = std::chrono::system_clock::from_time_t(1369353600);  // 2013-05-24
  EXPECT_TRUE(CheckSigV4Time(*claim, signed_at + std::chrono::hours(23), std::chrono::minutes(15),
                             Protocol::kRestXml)
                  .ok());
  Status expired = CheckSigV4Time(*claim, signed_at + std::chrono::hours(25),
                                  std::chrono::minutes(15), Protocol::kRestXml);
  EXPECT_EQ(expired.aws_code(), "AccessDenied");
  EXPECT_EQ(expired.message(), "Request has expired");
}

TEST(SigV4Verify, NonS3ServicesSignTheNormalisedPathEncodedAgain) {
  HttpRequest r;
  r.method = "POST";
  r.raw_path = "/a/./b/../sp%20ace";
  r.headers = {{"host", "h"}, {"x-amz-date", "20130524T000000Z"}};
  SigV4Claim claim;
  claim.service = "dms";
  claim.signed_headers = {"host", "x-amz-date"};
  EXPECT_EQ(BuildCanonicalRequest(r, claim, "x").canonical_uri, "/a/sp%2520ace");
  claim.service = "s3";
  EXPECT_EQ(BuildCanonicalRequest(r, claim, "x").canonical_uri, "/a/./b/../sp%20ace");
  EXPECT_EQ(NormalizePath(""), "/");
  EXPECT_EQ(NormalizePath("/"), "/");
  EXPECT_EQ(NormalizePath("/a//b/"), "/a/b/");
}

TEST(SigV4Verify, MissingAndMalformedAuthorization) {
  HttpRequest r;
  r.method = "POST";
  EXPECT_EQ(ParseSigV4(r, Protocol::kJson11).status().aws_code(),
            "MissingAuthenticationTokenException");
  EXPECT_EQ(ParseSigV4(r, Protocol::kRestXml).status().aws_code(), "AccessDenied");
  EXPECT_EQ(ParseSigV4(r, Protocol::kQuery).status().aws_code(), "MissingAuthenticationToken");
  r.headers["authorization"] = "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/dms/aws4_request";
  r.headers["x-amz-date"] = "20130524T000000Z";
  Status st = ParseSigV4(r, Protocol::kJson11).status();
  EXPECT_EQ(st.aws_code(), "IncompleteSignatureException");
  EXPECT_NE(st.message().find("SignedHeaders"), std::string::npos) << st.message();
  r.headers["authorization"] = "AWS4-HMAC-SHA256 Credential=AKID/2013/us-east-1/dms, "
                               "SignedHeaders=host, Signature=" + std::string(64, 'a');
  EXPECT_EQ(ParseSigV4(r, Protocol::kJson11).status().aws_code(), "IncompleteSignatureException");
}

TEST(SigV4Verify, ClockSkew) {
  SigV4Claim claim;
  claim.amz_date = "20130524T000000Z";
  TimePoint at = std::chrono::system_clock::from_time_t(1369353600);
  EXPECT_TRUE(CheckSigV4Time(claim, at + std::chrono::minutes(14), std::chrono::minutes(15),
                             Protocol::kRestXml).ok());
  EXPECT_EQ(CheckSigV4Time(claim, at + std::chrono::minutes(16), std::chrono::minutes(15),
                           Protocol::kRestXml).aws_code(),
            "RequestTimeTooSkewed");
  Status json = CheckSigV4Time(claim, at + std::chrono::minutes(16), std::chrono::minutes(15),
                               Protocol::kJson11);
  EXPECT_EQ(json.aws_code(), "InvalidSignatureException");
  EXPECT_EQ(json.message(), "Signature expired: 20130524T000000Z is now earlier than "
                            "20130524T000100Z (20130524T001600Z - 15 min.)");
  EXPECT_EQ(CheckSigV4Time(claim, at - std::chrono::minutes(16), std::chrono::minutes(15),
                           Protocol::kRestXml).aws_code(),
            "RequestTimeTooSkewed");
}

HttpRequest S3Request(std::string path) {
  HttpRequest r;
  r.method = "GET";
  r.path = std::move(path);
  r.request_id = "REQ123";
  return r;
}

TEST(ErrorResponses, S3XmlWithKeyOrBucket) {
  HttpResponse r = ErrorResponse(
      Protocol::kRestXml,
      Status::Aws(ErrorCode::kNotFound, "NoSuchKey", "The specified key does not exist."),
      S3Request("/b/dir/a&b.csv"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>"
            "The specified key does not exist.</Message><Key>dir/a&amp;b.csv</Key><RequestId>"
            "REQ123</RequestId><HostId>" + HostIdFor("REQ123") + "</HostId></Error>");
  r = ErrorResponse(Protocol::kRestXml,
                    Status::Aws(ErrorCode::kInvalidState, "BucketNotEmpty", "not empty"),
                    S3Request("/b"));
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(r.body.find("<BucketName>b</BucketName>"), std::string::npos) << r.body;
}

TEST(ErrorResponses, StatusTablesPerProtocol) {
  struct Case {
    Protocol protocol;
    Status error;
    std::string code;
    int status;
  };
  for (const Case& c : std::vector<Case>{
           {Protocol::kRestXml, Status::NotFound("x"), "NoSuchKey", 404},
           {Protocol::kRestXml, Status::InvalidArgument("x"), "InvalidArgument", 400},
           {Protocol::kRestXml, Status::IoError("disk"), "InternalError", 500},
           {Protocol::kRestXml, Status::Aws(ErrorCode::kInvalidArgument, "InvalidRange", "r"),
            "InvalidRange", 416},
           {Protocol::kRestXml,
            Status::Aws(ErrorCode::kInvalidArgument, "PreconditionFailed", "p"),
            "PreconditionFailed", 412},
           {Protocol::kRestXml, Status::Aws(ErrorCode::kNotFound, "NoSuchUpload", "u"),
            "NoSuchUpload", 404},
           {Protocol::kJson11, Status::NotFound("x"), "ResourceNotFoundException", 400},
           {Protocol::kJson11, Status::AlreadyExists("x"), "ResourceExistsException", 400},
           {Protocol::kJson11, Status::DatabaseError("boom"), "InternalFailure", 500},
           {Protocol::kJson11,
            Status::Aws(ErrorCode::kInvalidState, "InvalidResourceStateFault", "s"),
            "InvalidResourceStateFault", 400},
           {Protocol::kQuery, Status::InvalidArgument("x"), "ValidationError", 400},
           {Protocol::kQuery, Status::Aws(ErrorCode::kNotFound, "ChangeSetNotFound", "c"),
            "ChangeSetNotFound", 404},
       }) {
    HttpResponse r = ErrorResponse(c.protocol, c.error, S3Request("/b/k"));
    EXPECT_EQ(AwsErrorCode(c.protocol, c.error), c.code) << c.error.ToString();
    EXPECT_EQ(r.status, c.status) << c.code;
    EXPECT_NE(r.body.find(c.code), std::string::npos) << r.body;
  }
}

TEST(ErrorResponses, JsonAndQueryBodies) {
  HttpRequest request = S3Request("/");
  request.service = "cloudformation";
  HttpResponse json = ErrorResponse(
      Protocol::kJson11,
      Status::Aws(ErrorCode::kNotFound, "ResourceNotFoundException", "no \"such\" secret"),
      request);
  EXPECT_EQ(json.status, 400);
  EXPECT_EQ(json.body,
            "{\"__type\":\"ResourceNotFoundException\",\"message\":\"no \\\"such\\\" secret\"}");
  HttpResponse query = ErrorResponse(
      Protocol::kQuery, Status::InvalidArgument("Stack with id s does not exist"), request);
  EXPECT_EQ(query.status, 400);
  EXPECT_EQ(query.body,
            "<ErrorResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\"><Error>"
            "<Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id s does not "
            "exist</Message></Error><RequestId>REQ123</RequestId></ErrorResponse>");
}

}  // namespace
}  // namespace opendms::api

#include <gtest/gtest.h>

#include "core/core.h"

namespace opendms {
namespace {

Result<int> Half(int n) {
  if (n % 2) return Status::InvalidArgument("odd: " + std::to_string(n));
  return n / 2;
}

Result<int> Quarter(int n) {
  ASSIGN_OR_RETURN(int h, Half(n));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(Status, CarriesKindAndMessage) {
  Status s = Status::NotFound("no such key").WithContext("s3://b/k");
  EXPECT_TRUE(s.IsNotFound());
  EXPECT_EQ(s.ToString(), "NotFound: s3://b/k: no such key");
  EXPECT_EQ(Status::Ok().ToString(), "OK");
}

TEST(Result, AssignOrReturnPropagatesTheFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  Result<int> r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "odd: 3");
}

TEST(Json, NumbersAndBooleansAcceptedAsStrings) {
  Json doc = Json::parse(R"({"a":"12","b":12,"c":"true","d":false,"e":"x"})");
  EXPECT_EQ(*JsonToInt(doc["a"], "a"), 12);
  EXPECT_EQ(*JsonToInt(doc["b"], "b"), 12);
  EXPECT_TRUE(*JsonToBool(doc["c"], "c"));
  EXPECT_FALSE(*JsonToBool(doc["d"], "d"));
  Result<int64_t> bad = JsonToInt(doc["e"], "TableCount");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("TableCount"), std::string::npos);
}

TEST(Json, ParseErrorNamesTheDocument) {
  Result<Json> r = ParseJson("{\"rules\": [", "TableMappings");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("TableMappings is not valid JSON"), std::string::npos);
}

TEST(Clock, OffsetMovesNow) {
  auto before = Clock::Now();
  Clock::SetOffset(std::chrono::hours(24 * 7));
  auto after = Clock::Now();
  Clock::SetOffset(std::chrono::seconds(0));
  EXPECT_GE(after - before, std::chrono::hours(24 * 7));
}

TEST(Time, Iso8601AndEpochSecondsRoundTrip) {
  TimePoint t = FromEpochSeconds(1590524772.505);
  EXPECT_EQ(FormatIso8601(t), "2020-05-26T20:26:12.505Z");
  EXPECT_DOUBLE_EQ(ToEpochSeconds(t), 1590524772.505);
}

}  // namespace
}  // namespace opendms

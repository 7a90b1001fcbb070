// Tables for the rules every store shares: bucket names, keys, byte ranges, prefix successors,
// and the list pager.

#include <gtest/gtest.h>

#include "objectstore/list_pager.h"
#include "objectstore/md5.h"
#include "objectstore/objectstore.h"
#include "objectstore/store_rules.h"

namespace opendms::objectstore {
namespace {

TEST(ValidateBucketName, FollowsS3Rules) {
  struct Case {
    std::string name;
    bool valid;
  };
  const Case cases[] = {
      {"abc", true},
      {"my-bucket.2026", true},
      {"0start-with-digit", true},
      {std::string(63, 'b'), true},
      {"ab", false},
      {std::string(64, 'b'), false},
      {"Upper", false},
      {"under_score", false},
      {"-leading", false},
      {"trailing-", false},
      {".dotfirst", false},
      {".opendms", false},
      {"two..dots", false},
      {"192.168.5.4", false},
      {"192.168.5.com", true},
      {"xn--bucket", false},
      {"sthree-bucket", false},
      {"bucket-s3alias", false},
      {"bucket--ol-s3", false},
      {"sp ace", false},
  };
  for (const Case& c : cases) {
    Status s = ValidateBucketName(c.name);
    EXPECT_EQ(s.ok(), c.valid) << c.name << ": " << s.ToString();
    if (!c.valid) {
      EXPECT_TRUE(s.IsInvalidArgument());
      EXPECT_NE(s.message().find(c.name), std::string::npos);
    }
  }
}

TEST(ValidateKey, NamesTheKeyAndTheRule) {
  Status s = ValidateKey("a/../b");
  ASSERT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("\"a/../b\""), std::string::npos);
  EXPECT_NE(s.message().find(".."), std::string::npos);
}

TEST(Utf8, AcceptsWellFormedOnly) {
  struct Case {
    std::string text;
    bool valid;
  };
  const Case cases[] = {
      {"plain", true},
      {"\xC3\xA9", true},          // é
      {"\xE2\x82\xAC", true},      // €
      {"\xF0\x9F\x98\x80", true},  // 😀
      {"\xC3", false},             // truncated
      {"\xE2\x82", false},
      {"\x80", false},              // stray continuation
      {"\xC0\xAF", false},          // overlong
      {"\xED\xA0\x80", false},      // surrogate
      {"\xF4\x90\x80\x80", false},  // past U+10FFFF
      {"\xFF", false},
  };
  for (const Case& c : cases) EXPECT_EQ(IsValidUtf8(c.text), c.valid) << c.text;
}

TEST(ResolveRange, FollowsHttpRangeRules) {
  struct Case {
    std::optional<ByteRange> range;
    uint64_t size;
    bool ok;
    uint64_t first, length;
  };
  const Case cases[] = {
      {std::nullopt, 10, true, 0, 10},
      {std::nullopt, 0, true, 0, 0},
      {ByteRange{0, 0}, 10, true, 0, 1},
      {ByteRange{3, 6}, 10, true, 3, 4},
      {ByteRange{3, std::nullopt}, 10, true, 3, 7},
      {ByteRange{3, 1000}, 10, true, 3, 7},
      {ByteRange{0, std::nullopt, 4}, 10, true, 6, 4},
      {ByteRange{0, std::nullopt, 40}, 10, true, 0, 10},
      {ByteRange{10, std::nullopt}, 10, false, 0, 0},
      {ByteRange{6, 3}, 10, false, 0, 0},
      {ByteRange{0, 0}, 0, false, 0, 0},
      {ByteRange{0, std::nullopt, 1}, 0, false, 0, 0},
  };
  for (const Case& c : cases) {
    Result<ResolvedRange> r = ResolveRange(c.range, c.size, "b", "k");
    ASSERT_EQ(r.ok(), c.ok) << (c.range ? c.range->first : 99) << " size " << c.size;
    if (c.ok) {
      EXPECT_EQ(r->first, c.first);
      EXPECT_EQ(r->length, c.length);
    } else {
      EXPECT_TRUE(r.status().IsInvalidArgument());
      EXPECT_NE(r.status().message().find("s3://b/k"), std::string::npos);
    }
  }
}

TEST(PrefixSuccessor, IsTheFirstStringPastThePrefix) {
  EXPECT_EQ(PrefixSuccessor("a/"), "a0");
  EXPECT_EQ(PrefixSuccessor("ab"), "ac");
  EXPECT_EQ(PrefixSuccessor(std::string("a\xFF", 2)), "b");
  EXPECT_EQ(PrefixSuccessor(std::string("\xFF\xFF", 2)), "");
  EXPECT_EQ(PrefixSuccessor(""), "");
}

TEST(ListPager, CountsCommonPrefixesOnceAndTruncatesAtMaxKeys) {
  ListOptions options;
  options.delimiter = "/";
  options.max_keys = 2;
  Result<ListPager> pager = ListPager::Make(options);
  ASSERT_TRUE(pager.ok());
  EXPECT_TRUE(pager->OfferObject("a"));
  EXPECT_TRUE(pager->OfferCommonPrefix("b/"));
  EXPECT_TRUE(pager->OfferCommonPrefix("b/"));  // the same prefix again: not a new entry
  EXPECT_FALSE(pager->OfferObject("c"));        // the third entry: page full
  EXPECT_TRUE(pager->truncated());
  ASSERT_EQ(pager->entries().size(), 2u);
  EXPECT_TRUE(pager->entries()[1].is_common_prefix);
  EXPECT_EQ(pager->NextStartAfter(), "b/");
  EXPECT_EQ(pager->CommonPrefixOf("x/y/z"), "x/");
  EXPECT_EQ(pager->CommonPrefixOf("xyz"), std::nullopt);
}

TEST(ListPager, ClampsMaxKeysTo1000AndRefusesLessThanOne) {
  ListOptions options;
  options.max_keys = 5000;
  Result<ListPager> pager = ListPager::Make(options);
  ASSERT_TRUE(pager.ok());
  EXPECT_EQ(pager->options().max_keys, 1000);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(pager->OfferObject("k" + std::to_string(10000 + i)));
  EXPECT_FALSE(pager->OfferObject("z"));
  EXPECT_TRUE(pager->truncated());
  options.max_keys = 0;
  EXPECT_TRUE(ListPager::Make(options).status().IsInvalidArgument());
}

TEST(Md5, MatchesKnownDigests) {
  EXPECT_EQ(Md5Hex("hello"), "5d41402abc4b2a76b9719d911017c592");
  EXPECT_EQ(Md5Hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  Md5 pieces;
  pieces.Update("hel");
  pieces.Update("lo");
  EXPECT_EQ(pieces.HexDigest(), "5d41402abc4b2a76b9719d911017c592");
}

}  // namespace
}  // namespace opendms::objectstore

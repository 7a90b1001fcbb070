#include <gtest/gtest.h>

#include <chrono>

#include "objectstore/objectstore.h"
#include "store_test_helpers.h"

namespace opendms::objectstore {
namespace {

using Kind = FaultSpec::Kind;

class FaultInjectingStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(base_->CreateBucket("bkt").ok());
    ASSERT_TRUE(base_->Put("bkt", "data/LOAD001.csv", "0123456789").ok());
    ASSERT_TRUE(base_->Put("bkt", "data/LOAD002.csv", "abcdefghij").ok());
  }

  // Reads everything; returns the bytes and the final status.
  static std::pair<std::string, Status> Drain(ObjectReader& reader) {
    std::string out;
    char buf[4];
    while (true) {
      Result<size_t> n = reader.Read(buf, sizeof buf);
      if (!n.ok()) return {out, n.status()};
      if (*n == 0) return {out, Status::Ok()};
      out.append(buf, *n);
    }
  }

  std::unique_ptr<ObjectStore> base_ = NewMemoryStore();
  FaultInjectingStore store_{*base_};
};

TEST_F(FaultInjectingStoreTest, PassesThroughWhenNothingIsArmed) {
  auto reader = store_.Get("bkt", "data/LOAD001.csv");
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(Drain(**reader).first, "0123456789");
  EXPECT_EQ(store_.List("bkt", {})->objects.size(), 2u);
  EXPECT_EQ(store_.fired(), 0);
}

TEST_F(FaultInjectingStoreTest, FailOpenFiresOnMatchingKeysAsManyTimesAsArmed) {
  store_.Arm({.kind = Kind::kFailOpen, .key_substring = "LOAD002", .times = 2});
  EXPECT_TRUE(store_.Get("bkt", "data/LOAD001.csv").ok());
  EXPECT_TRUE(store_.Get("bkt", "data/LOAD002.csv").status().IsIoError());
  EXPECT_TRUE(store_.Head("bkt", "data/LOAD002.csv").status().IsIoError());
  EXPECT_TRUE(store_.Get("bkt", "data/LOAD002.csv").ok());
  EXPECT_EQ(store_.fired(), 2);
}

TEST_F(FaultInjectingStoreTest, FailReadErrorsAfterTheGivenBytes) {
  store_.Arm({.kind = Kind::kFailRead,
              .key_substring = "",
              .after_bytes = 6,
              .error = ErrorCode::kConnectionError});
  auto reader = store_.Get("bkt", "data/LOAD001.csv");
  ASSERT_TRUE(reader.ok());
  auto [bytes, status] = Drain(**reader);
  EXPECT_EQ(bytes, "012345");
  EXPECT_TRUE(status.IsConnectionError());
  EXPECT_NE(status.message().find("s3://bkt/data/LOAD001.csv"), std::string::npos);
}

TEST_F(FaultInjectingStoreTest, TruncateReadEndsEarlyWithoutAnError) {
  store_.Arm({.kind = Kind::kTruncateRead, .key_substring = "", .after_bytes = 3});
  auto reader = store_.Get("bkt", "data/LOAD001.csv");
  ASSERT_TRUE(reader.ok());
  auto [bytes, status] = Drain(**reader);
  EXPECT_EQ(bytes, "012");
  EXPECT_TRUE(status.ok());
  EXPECT_EQ((*reader)->info().size, 10u);  // the info still promises the whole object
}

TEST_F(FaultInjectingStoreTest, FailListAndFailPut) {
  store_.Arm({.kind = Kind::kFailList, .key_substring = "data/"});
  ListOptions other;
  other.prefix = "other/";
  EXPECT_TRUE(store_.List("bkt", other).ok());
  ListOptions data;
  data.prefix = "data/";
  EXPECT_TRUE(store_.List("bkt", data).status().IsIoError());
  EXPECT_TRUE(store_.List("bkt", data).ok());

  store_.Arm({.kind = Kind::kFailPut, .key_substring = "", .times = -1});
  EXPECT_FALSE(store_.Put("bkt", "new", "x").ok());
  EXPECT_FALSE(store_.Put("bkt", "new2", "x").ok());
  EXPECT_TRUE(base_->Head("bkt", "new").status().IsNotFound());
  store_.Clear();
  EXPECT_TRUE(store_.Put("bkt", "new", "x").ok());
  EXPECT_EQ(store_.fired(), 3);
}

TEST_F(FaultInjectingStoreTest, SlowReadDelaysEachRead) {
  store_.Arm(
      {.kind = Kind::kSlowRead, .key_substring = "", .delay = std::chrono::milliseconds(20)});
  auto reader = store_.Get("bkt", "data/LOAD001.csv");
  ASSERT_TRUE(reader.ok());
  auto start = std::chrono::steady_clock::now();
  auto [bytes, status] = Drain(**reader);  // 3 reads of 4 bytes + the end
  EXPECT_EQ(bytes, "0123456789");
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(80));
}

TEST_F(FaultInjectingStoreTest, FailPutFiresOnWriterCommit) {
  store_.Arm({.kind = Kind::kFailPut, .key_substring = "LOAD003"});
  auto writer = store_.OpenWriter("bkt", "data/LOAD003.csv");
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Write("bytes").ok());  // the fault waits for the commit
  Result<ObjectInfo> committed = (*writer)->Commit();
  EXPECT_TRUE(committed.status().IsIoError());
  EXPECT_NE(committed.status().message().find("s3://bkt/data/LOAD003.csv"), std::string::npos);
  EXPECT_TRUE(base_->Head("bkt", "data/LOAD003.csv").status().IsNotFound());
  // Fired once: the next writer commits.
  auto again = store_.OpenWriter("bkt", "data/LOAD003.csv");
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE((*again)->Write("bytes").ok());
  ASSERT_TRUE((*again)->Commit().ok());
  EXPECT_EQ(store_.fired(), 1);
}

}  // namespace
}  // namespace opendms::objectstore

// The behaviour every ObjectStore must share, run against DiskStore, MemoryStore and the
// S3Client (against moto_server, or OPENDMS_TEST_S3_ENDPOINT: see support/s3_test_server.h).

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

#include "objectstore/objectstore.h"
#include "store_test_helpers.h"
#include "support/s3_test_server.h"

namespace opendms::objectstore {
namespace {

using testing::KeysOf;
using testing::ListEverything;
using testing::ReadAll;
using testing::TempFolder;

constexpr char kHelloMd5[] = "5d41402abc4b2a76b9719d911017c592";
constexpr char kEmptyMd5[] = "d41d8cd98f00b204e9800998ecf8427e";

// Each factory makes an empty store; kListsContentType: whether List reports content types;
// kKeepsGivenEtagAndChecksum: whether PutOptions' etag and checksum overrides are stored (a
// remote S3 computes its own).
struct DiskStoreFactory {
  static constexpr bool kListsContentType = true;
  static constexpr bool kKeepsGivenEtagAndChecksum = true;
  TempFolder folder;
  std::unique_ptr<ObjectStore> Make() {
    Result<std::unique_ptr<ObjectStore>> store = OpenDiskStore(folder.path() + "/root");
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return std::move(store).value();
  }
  std::string skip_reason;
};

struct MemoryStoreFactory {
  static constexpr bool kListsContentType = true;
  static constexpr bool kKeepsGivenEtagAndChecksum = true;
  std::unique_ptr<ObjectStore> Make() { return NewMemoryStore(); }
  std::string skip_reason;
};

// The shared test endpoint, emptied. Skips (null store) when moto_server is not installed.
struct S3ClientFactory {
  static constexpr bool kListsContentType = false;  // ListObjectsV2 carries no Content-Type
  static constexpr bool kKeepsGivenEtagAndChecksum = false;
  std::unique_ptr<ObjectStore> Make() {
    Result<opendms::testing::TestS3Endpoint> endpoint = opendms::testing::SharedTestS3Endpoint();
    if (!endpoint.ok()) {
      if (!endpoint.status().IsNotFound()) ADD_FAILURE() << endpoint.status().ToString();
      skip_reason = "no S3 endpoint: " + endpoint.status().message();
      return nullptr;
    }
    Status reset = opendms::testing::ResetTestS3(*endpoint);
    EXPECT_TRUE(reset.ok()) << reset.ToString();
    Result<std::unique_ptr<ObjectStore>> store = OpenS3Client(endpoint->ClientOptions());
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }
  std::string skip_reason;
};

template <typename Factory>
class StoreConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = factory_.Make();
    if (!store_) GTEST_SKIP() << factory_.skip_reason;
    Status created = store_->CreateBucket("bkt");
    ASSERT_TRUE(created.ok()) << created.ToString();
  }

  void PutOrDie(std::string_view key, std::string_view data, const PutOptions& options = {}) {
    Result<ObjectInfo> info = store_->Put("bkt", key, data, options);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
  }

  std::string GetOrDie(std::string_view key, std::optional<ByteRange> range = {}) {
    Result<std::unique_ptr<ObjectReader>> reader = store_->Get("bkt", key, range);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    if (!reader.ok()) return "<error>";
    return ReadAll(**reader, 3);
  }

  Factory factory_;
  std::unique_ptr<ObjectStore> store_;
};

using StoreTypes = ::testing::Types<DiskStoreFactory, MemoryStoreFactory, S3ClientFactory>;
class StoreNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    if (std::is_same_v<T, DiskStoreFactory>) return "Disk";
    return std::is_same_v<T, MemoryStoreFactory> ? "Memory" : "S3Client";
  }
};
TYPED_TEST_SUITE(StoreConformance, StoreTypes, StoreNames);

TYPED_TEST(StoreConformance, PutReportsMd5EtagSizeAndDefaultContentType) {
  Result<ObjectInfo> put = this->store_->Put("bkt", "greeting.txt", "hello");
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->etag, kHelloMd5);
  EXPECT_EQ(put->size, 5u);
  EXPECT_EQ(put->content_type, "binary/octet-stream");
  Result<ObjectInfo> head = this->store_->Head("bkt", "greeting.txt");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->key, "greeting.txt");
  EXPECT_EQ(head->etag, kHelloMd5);
  EXPECT_EQ(head->size, 5u);
  EXPECT_EQ(head->last_modified, put->last_modified);
}

TYPED_TEST(StoreConformance, ContentTypeAndUserMetadataRoundTrip) {
  PutOptions options{"text/csv", {{"origin", "lab"}, {"rows", "3"}}};
  options.content_headers = {{"Cache-Control", "max-age=60"},
                             {"Content-Disposition", "attachment; filename=\"t.csv\""},
                             {"Content-Encoding", "identity"},
                             {"Content-Language", "en"},
                             {"Expires", "Wed, 21 Oct 2026 07:28:00 GMT"}};
  this->PutOrDie("t.csv", "a,b\n", options);
  Result<ObjectInfo> head = this->store_->Head("bkt", "t.csv");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->content_type, "text/csv");
  EXPECT_EQ(head->user_metadata, options.user_metadata);
  EXPECT_EQ(head->content_headers, options.content_headers);
  auto reader = this->store_->Get("bkt", "t.csv");
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->info().content_headers, options.content_headers);
  Result<ListResult> list = this->store_->List("bkt", {});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->objects.size(), 1u);
  if (TypeParam::kListsContentType) {
    EXPECT_EQ(list->objects[0].content_type, "text/csv");
  }
}

TYPED_TEST(StoreConformance, GetStreamsTheBytesInSmallReads) {
  this->PutOrDie("k", "hello, world");
  EXPECT_EQ(this->GetOrDie("k"), "hello, world");
  this->PutOrDie("empty", "");
  EXPECT_EQ(this->GetOrDie("empty"), "");
  EXPECT_EQ(this->store_->Head("bkt", "empty")->etag, kEmptyMd5);
}

TYPED_TEST(StoreConformance, PutStreamStoresWhatTheSourceProduces) {
  // Larger than one I/O buffer, produced in uneven pieces.
  std::string body;
  for (int i = 0; body.size() < 3'000'000; ++i) body += "row " + std::to_string(i) + "\n";
  size_t pos = 0;
  ByteSource source = [&](char* dst, size_t capacity) -> Result<size_t> {
    size_t n = std::min({capacity, body.size() - pos, size_t{70001}});
    std::memcpy(dst, body.data() + pos, n);
    pos += n;
    return n;
  };
  Result<ObjectInfo> put = this->store_->PutStream("bkt", "big.csv", source);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->size, body.size());
  Result<ObjectInfo> same = this->store_->Put("bkt", "copy.csv", body);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(put->etag, same->etag);
  Result<std::unique_ptr<ObjectReader>> reader = this->store_->Get("bkt", "big.csv");
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(ReadAll(**reader, 1 << 16), body);
}

TYPED_TEST(StoreConformance, FailingSourceStoresNothingAndKeepsTheOldObject) {
  this->PutOrDie("k", "old");
  int calls = 0;
  ByteSource failing = [&](char* dst, size_t capacity) -> Result<size_t> {
    if (++calls > 2) return Status::ConnectionError("upstream went away");
    dst[0] = 'x';
    return size_t{1};
  };
  Result<ObjectInfo> put = this->store_->PutStream("bkt", "k", failing);
  ASSERT_FALSE(put.ok());
  EXPECT_TRUE(put.status().IsConnectionError());
  EXPECT_EQ(this->GetOrDie("k"), "old");
  calls = 0;
  put = this->store_->PutStream("bkt", "new", failing);
  ASSERT_FALSE(put.ok());
  EXPECT_TRUE(this->store_->Head("bkt", "new").status().IsNotFound());
  EXPECT_EQ(KeysOf(*this->store_->List("bkt", {})), std::vector<std::string>{"k"});
}

TYPED_TEST(StoreConformance, OpenReaderKeepsItsBytesAcrossOverwriteAndDelete) {
  this->PutOrDie("k", "first version");
  Result<std::unique_ptr<ObjectReader>> reader = this->store_->Get("bkt", "k");
  ASSERT_TRUE(reader.ok());
  this->PutOrDie("k", "second");
  EXPECT_EQ(this->GetOrDie("k"), "second");
  ASSERT_TRUE(this->store_->Delete("bkt", "k").ok());
  EXPECT_EQ((*reader)->info().size, 13u);
  EXPECT_EQ(ReadAll(**reader), "first version");
}

TYPED_TEST(StoreConformance, MissingThingsAreNotFoundAndNamed) {
  Result<ObjectInfo> head = this->store_->Head("bkt", "no/such.csv");
  ASSERT_TRUE(head.status().IsNotFound());
  EXPECT_NE(head.status().message().find("s3://bkt/no/such.csv"), std::string::npos);
  Result<std::unique_ptr<ObjectReader>> get = this->store_->Get("bkt", "no/such.csv");
  EXPECT_TRUE(get.status().IsNotFound());
  Result<ObjectInfo> nobucket = this->store_->Head("nobucket", "k");
  ASSERT_TRUE(nobucket.status().IsNotFound());
  EXPECT_NE(nobucket.status().message().find("nobucket"), std::string::npos);
  EXPECT_TRUE(this->store_->Put("nobucket", "k", "x").status().IsNotFound());
  EXPECT_TRUE(this->store_->List("nobucket", {}).status().IsNotFound());
  EXPECT_TRUE(this->store_->Delete("nobucket", "k").IsNotFound());
}

TYPED_TEST(StoreConformance, DeleteRemovesAndIsFineWhenAbsent) {
  this->PutOrDie("dir/k", "x");
  EXPECT_TRUE(this->store_->Delete("bkt", "dir/k").ok());
  EXPECT_TRUE(this->store_->Head("bkt", "dir/k").status().IsNotFound());
  EXPECT_TRUE(this->store_->Delete("bkt", "dir/k").ok());
  EXPECT_TRUE(this->store_->List("bkt", {})->objects.empty());
}

TYPED_TEST(StoreConformance, BadNamesAreInvalidArgument) {
  EXPECT_TRUE(this->store_->Put("bkt", "a/../b", "x").status().IsInvalidArgument());
  EXPECT_TRUE(this->store_->Put("Bad_Bucket", "k", "x").status().IsInvalidArgument());
  EXPECT_TRUE(this->store_->Head("bkt", "").status().IsInvalidArgument());
  EXPECT_TRUE(this->store_->CreateBucket("ab").IsInvalidArgument());
}

TYPED_TEST(StoreConformance, RangesSelectInclusiveBytes) {
  this->PutOrDie("digits", "0123456789");
  struct Case {
    ByteRange range;
    std::string expected;
  };
  const Case cases[] = {
      {{0, 0}, "0"},
      {{2, 5}, "2345"},
      {{7, std::nullopt}, "789"},
      {{7, 100}, "789"},  // last past the end is clamped
      {{9, 9}, "9"},
      {{0, std::nullopt, 3}, "789"},  // suffix
      {{0, std::nullopt, 50}, "0123456789"},
  };
  for (const Case& c : cases) {
    Result<std::unique_ptr<ObjectReader>> reader = this->store_->Get("bkt", "digits", c.range);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    EXPECT_EQ(ReadAll(**reader, 3), c.expected) << c.range.first;
    EXPECT_EQ((*reader)->range_length(), c.expected.size());
    EXPECT_EQ((*reader)->info().size, 10u);
  }
  const ByteRange unsatisfiable[] = {{10, std::nullopt}, {10, 12}, {5, 4}};
  for (const ByteRange& r : unsatisfiable) {
    Result<std::unique_ptr<ObjectReader>> reader = this->store_->Get("bkt", "digits", r);
    ASSERT_TRUE(reader.status().IsInvalidArgument()) << r.first;
    EXPECT_NE(reader.status().message().find("s3://bkt/digits"), std::string::npos);
  }
  this->PutOrDie("empty", "");
  EXPECT_TRUE(this->store_->Get("bkt", "empty", ByteRange{0, 0}).status().IsInvalidArgument());
}

TYPED_TEST(StoreConformance, ListSortsByUnsignedBytes) {
  // '-' (0x2D) < '.' < '/' (0x2F) < '0' (0x30); "é" (0xC3 0xA9) after every ASCII key.
  for (const char* key : {"z", "\xC3\xA9t\xC3\xA9.csv", "a/b", "a0", "a.", "a-b", "A", "a/c/d"}) {
    this->PutOrDie(key, key);
  }
  Result<ListResult> list = this->store_->List("bkt", {});
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(KeysOf(*list), (std::vector<std::string>{"A", "a-b", "a.", "a/b", "a/c/d", "a0", "z",
                                                     "\xC3\xA9t\xC3\xA9.csv"}));
  EXPECT_FALSE(list->truncated);
}

// (Disk keeps "a/b" and "a/b/c" apart only as object and folder; this bucket avoids the clash.)
class ListFixtureKeys {
 public:
  static std::vector<std::string> Keys() {
    return {"dir/a.csv",  "dir/sub/x.csv", "dir/sub/y.csv", "dir/sub2/z.csv",
            "dir2/q.csv", "dir-x",         "top.csv"};
  }
};

TYPED_TEST(StoreConformance, ListWithPrefixAndDelimiterRollsUpFolders) {
  for (const std::string& key : ListFixtureKeys::Keys()) this->PutOrDie(key, key);
  struct Case {
    std::string prefix, delimiter;
    std::vector<std::string> expected;  // "P:" marks a common prefix
  };
  const Case cases[] = {
      {"", "/", {"dir-x", "P:dir/", "P:dir2/", "top.csv"}},  // '-' sorts before '/'
      {"dir/", "/", {"dir/a.csv", "P:dir/sub/", "P:dir/sub2/"}},
      {"dir/sub", "/", {"P:dir/sub/", "P:dir/sub2/"}},
      {"dir/sub/", "", {"dir/sub/x.csv", "dir/sub/y.csv"}},
      {"dir",
       "",
       {"dir-x", "dir/a.csv", "dir/sub/x.csv", "dir/sub/y.csv", "dir/sub2/z.csv", "dir2/q.csv"}},
      {"dir", "/", {"dir-x", "P:dir/", "P:dir2/"}},
      {"",
       ".",
       {"dir-x", "P:dir/a.", "P:dir/sub/x.", "P:dir/sub/y.", "P:dir/sub2/z.", "P:dir2/q.",
        "P:top."}},
      {"nothing/", "/", {}},
      {"dir/a.csv", "/", {"dir/a.csv"}},
  };
  for (const Case& c : cases) {
    ListOptions options;
    options.prefix = c.prefix;
    options.delimiter = c.delimiter;
    EXPECT_EQ(ListEverything(*this->store_, "bkt", options), c.expected)
        << "prefix=" << c.prefix << " delimiter=" << c.delimiter;
    // The same answer one entry per page.
    options.max_keys = 1;
    EXPECT_EQ(ListEverything(*this->store_, "bkt", options), c.expected)
        << "paged: prefix=" << c.prefix << " delimiter=" << c.delimiter;
  }
}

TYPED_TEST(StoreConformance, StartAfterSkipsKeysUpToIt) {
  for (const std::string& key : ListFixtureKeys::Keys()) this->PutOrDie(key, key);
  ListOptions options;
  options.start_after = "dir/sub/x.csv";
  EXPECT_EQ(ListEverything(*this->store_, "bkt", options),
            (std::vector<std::string>{"dir/sub/y.csv", "dir/sub2/z.csv", "dir2/q.csv", "top.csv"}));
  options.start_after = "dir/sub/";  // not itself a key
  options.prefix = "dir/";
  EXPECT_EQ(ListEverything(*this->store_, "bkt", options),
            (std::vector<std::string>{"dir/sub/x.csv", "dir/sub/y.csv", "dir/sub2/z.csv"}));
  options.start_after = "zzz";
  options.prefix = "";
  EXPECT_TRUE(ListEverything(*this->store_, "bkt", options).empty());
}

TYPED_TEST(StoreConformance, TruncatedPagesContinueWithoutGapsOrRepeats) {
  std::vector<std::string> expected;
  for (int d = 0; d < 4; ++d) {
    for (int f = 0; f < 11; ++f) {
      char key[32];
      std::snprintf(key, sizeof key, "d%d/f%03d.csv", d, f);
      this->PutOrDie(key, "x");
      expected.push_back(key);
    }
  }
  std::sort(expected.begin(), expected.end());
  ListOptions options;
  options.max_keys = 5;
  Result<ListResult> first = this->store_->List("bkt", options);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->objects.size(), 5u);
  EXPECT_TRUE(first->truncated);
  EXPECT_EQ(first->next_start_after, expected[4]);
  int pages = 0;
  EXPECT_EQ(ListEverything(*this->store_, "bkt", options, &pages), expected);
  EXPECT_EQ(pages, 9);  // 44 keys
  // Exactly one page's worth: not truncated.
  options.max_keys = 44;
  EXPECT_FALSE(this->store_->List("bkt", options)->truncated);
  options.max_keys = 43;
  EXPECT_TRUE(this->store_->List("bkt", options)->truncated);
}

TYPED_TEST(StoreConformance, MaxKeysOutsideRangeIsRejectedOrClamped) {
  ListOptions options;
  options.max_keys = 0;
  EXPECT_TRUE(this->store_->List("bkt", options).status().IsInvalidArgument());
  options.max_keys = -5;
  EXPECT_TRUE(this->store_->List("bkt", options).status().IsInvalidArgument());
  // Above 1000 is clamped, not refused (the page size itself is checked in ListPager's test).
  for (const char* key : {"k1", "k2", "k3"}) this->PutOrDie(key, "");
  options.max_keys = 5000;
  Result<ListResult> list = this->store_->List("bkt", options);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->objects.size(), 3u);
  EXPECT_FALSE(list->truncated);
}

TYPED_TEST(StoreConformance, FolderMarkerIsAnEmptyObject) {
  ASSERT_TRUE(this->store_->Put("bkt", "folder/", "").ok());
  this->PutOrDie("folder/file.csv", "x");
  Result<ObjectInfo> head = this->store_->Head("bkt", "folder/");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->size, 0u);
  EXPECT_EQ(head->etag, kEmptyMd5);
  EXPECT_EQ(this->GetOrDie("folder/"), "");
  ListOptions options;
  EXPECT_EQ(ListEverything(*this->store_, "bkt", options),
            (std::vector<std::string>{"folder/", "folder/file.csv"}));
  options.delimiter = "/";
  EXPECT_EQ(ListEverything(*this->store_, "bkt", options), (std::vector<std::string>{"P:folder/"}));
  options.prefix = "folder/";
  EXPECT_EQ(ListEverything(*this->store_, "bkt", options),
            (std::vector<std::string>{"folder/", "folder/file.csv"}));
  // The marker outlives the objects in it, and goes away on its own delete.
  ASSERT_TRUE(this->store_->Delete("bkt", "folder/file.csv").ok());
  EXPECT_TRUE(this->store_->Head("bkt", "folder/").ok());
  ASSERT_TRUE(this->store_->Delete("bkt", "folder/").ok());
  EXPECT_TRUE(this->store_->Head("bkt", "folder/").status().IsNotFound());
  EXPECT_TRUE(this->store_->List("bkt", {})->objects.empty());
}

TYPED_TEST(StoreConformance, KeysWithDotSegmentsWrittenThroughTheStoreAreObjects) {
  this->PutOrDie(".keep", "1");
  this->PutOrDie("dir/.config/settings.json", "2");
  EXPECT_EQ(ListEverything(*this->store_, "bkt", {}),
            (std::vector<std::string>{".keep", "dir/.config/settings.json"}));
  EXPECT_EQ(this->GetOrDie("dir/.config/settings.json"), "2");
}

TYPED_TEST(StoreConformance, BucketLifecycle) {
  EXPECT_TRUE(this->store_->CreateBucket("bkt").IsAlreadyExists());
  ASSERT_TRUE(this->store_->CreateBucket("another.bucket-1").ok());
  Result<std::vector<BucketInfo>> buckets = this->store_->ListBuckets();
  ASSERT_TRUE(buckets.ok());
  ASSERT_EQ(buckets->size(), 2u);
  EXPECT_EQ((*buckets)[0].name, "another.bucket-1");
  EXPECT_EQ((*buckets)[1].name, "bkt");
  auto age = Clock::Now() - (*buckets)[0].creation_date;
  EXPECT_LT(std::chrono::abs(age), std::chrono::minutes(1));
  EXPECT_TRUE(*this->store_->BucketExists("bkt"));
  EXPECT_FALSE(*this->store_->BucketExists("absent"));

  this->PutOrDie("deep/key", "x");
  EXPECT_TRUE(this->store_->DeleteBucket("bkt").IsInvalidState());
  ASSERT_TRUE(this->store_->Delete("bkt", "deep/key").ok());
  EXPECT_TRUE(this->store_->DeleteBucket("bkt").ok());
  EXPECT_FALSE(*this->store_->BucketExists("bkt"));
  EXPECT_TRUE(this->store_->DeleteBucket("bkt").IsNotFound());
  // A bucket made again starts empty.
  ASSERT_TRUE(this->store_->CreateBucket("bkt").ok());
  EXPECT_TRUE(this->store_->List("bkt", {})->objects.empty());
}

TYPED_TEST(StoreConformance, ConcurrentReadersSeeWholeVersionsOnly) {
  const std::string a(200'000, 'a');
  const std::string b(300'000, 'b');
  const std::string etag_a = this->store_->Put("bkt", "ref-a", a)->etag;
  const std::string etag_b = this->store_->Put("bkt", "ref-b", b)->etag;
  this->PutOrDie("k", a);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < 20 && !stop; ++i) {
      ASSERT_TRUE(this->store_->Put("bkt", "k", i % 2 ? a : b).ok());
    }
  });
  for (int i = 0; i < 40; ++i) {
    Result<std::unique_ptr<ObjectReader>> reader = this->store_->Get("bkt", "k");
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    std::string bytes = ReadAll(**reader, 65536);
    ASSERT_TRUE(bytes == a || bytes == b) << "a torn read of " << bytes.size() << " bytes";
    EXPECT_EQ((*reader)->info().size, bytes.size());
    EXPECT_EQ((*reader)->info().etag, bytes == a ? etag_a : etag_b);
  }
  stop = true;
  writer.join();
}

TYPED_TEST(StoreConformance, WriterStoresChunksOnCommitOnly) {
  auto writer = this->store_->OpenWriter("bkt", "pushed/data.csv", {.content_type = "text/csv"});
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  ASSERT_TRUE((*writer)->Write("hel").ok());
  ASSERT_TRUE((*writer)->Write("").ok());
  ASSERT_TRUE((*writer)->Write("lo").ok());
  EXPECT_TRUE(this->store_->Head("bkt", "pushed/data.csv").status().IsNotFound());
  EXPECT_TRUE(KeysOf(*this->store_->List("bkt", {})).empty());
  Result<ObjectInfo> info = (*writer)->Commit();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->etag, kHelloMd5);
  EXPECT_EQ(info->size, 5u);
  EXPECT_EQ(info->content_type, "text/csv");
  EXPECT_EQ(this->GetOrDie("pushed/data.csv"), "hello");
  EXPECT_TRUE((*writer)->Write("more").IsInvalidState());
  EXPECT_FALSE((*writer)->Commit().ok());
}

TYPED_TEST(StoreConformance, WriterAbortedOrDroppedStoresNothingAndKeepsTheOldObject) {
  this->PutOrDie("k", "old");
  {
    auto writer = this->store_->OpenWriter("bkt", "k");
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Write("new bytes").ok());
    (*writer)->Abort();
    EXPECT_FALSE((*writer)->Commit().ok());
  }
  {
    auto writer = this->store_->OpenWriter("bkt", "k");
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Write("new bytes").ok());
  }  // destroyed without Commit
  auto dropped = this->store_->OpenWriter("bkt", "never");
  ASSERT_TRUE(dropped.ok());
  dropped->reset();
  EXPECT_EQ(this->GetOrDie("k"), "old");
  EXPECT_EQ(KeysOf(*this->store_->List("bkt", {})), std::vector<std::string>{"k"});
}

TYPED_TEST(StoreConformance, WriterChecksBucketAndKeyWhenOpened) {
  EXPECT_TRUE(this->store_->OpenWriter("nope", "k").status().IsNotFound());
  Result<std::unique_ptr<ObjectWriter>> bad = this->store_->OpenWriter("bkt", "a/../b");
  ASSERT_TRUE(bad.status().IsInvalidArgument());
  EXPECT_NE(bad.status().message().find("a/../b"), std::string::npos);
}

TYPED_TEST(StoreConformance, ChecksumAndEtagOverrideAreKept) {
  if (!TypeParam::kKeepsGivenEtagAndChecksum) {
    GTEST_SKIP() << "this store computes its own ETag and checksum";
  }
  PutOptions options;
  options.checksum_crc32 = "GfDGtA==";
  options.etag = "0123456789abcdef0123456789abcdef-3";
  options.user_metadata = {{"origin", "lab"}};
  auto writer = this->store_->OpenWriter("bkt", "multi", options);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Write("id,name\n1,foo\n").ok());
  Result<ObjectInfo> info = (*writer)->Commit();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->etag, options.etag);
  EXPECT_EQ(info->checksum_crc32, "GfDGtA==");
  for (const ObjectInfo& seen : {*this->store_->Head("bkt", "multi"),
                                 this->store_->List("bkt", {})->objects.at(0),
                                 (*this->store_->Get("bkt", "multi"))->info()}) {
    EXPECT_EQ(seen.etag, options.etag);
    EXPECT_EQ(seen.checksum_crc32, "GfDGtA==");
    EXPECT_EQ(seen.user_metadata, options.user_metadata);
  }
  // A checksum known only at the end replaces the one given when opened.
  auto late = this->store_->OpenWriter("bkt", "late", {.checksum_crc32 = "AAAAAA=="});
  ASSERT_TRUE(late.ok());
  ASSERT_TRUE((*late)->Write("id,name\n1,foo\n").ok());
  (*late)->SetChecksumCrc32("GfDGtA==");
  ASSERT_TRUE((*late)->Commit().ok());
  EXPECT_EQ(this->store_->Head("bkt", "late")->checksum_crc32, "GfDGtA==");
  // A plain Put records no checksum.
  this->PutOrDie("plain", "x");
  EXPECT_EQ(this->store_->Head("bkt", "plain")->checksum_crc32, "");
}

TYPED_TEST(StoreConformance, LargeWriteInManySmallChunks) {
  std::string expected;
  auto writer = this->store_->OpenWriter("bkt", "big");
  ASSERT_TRUE(writer.ok());
  for (int i = 0; i < 30000; ++i) {
    std::string chunk = std::to_string(i) + std::string(100, static_cast<char>('a' + i % 26));
    expected += chunk;
    ASSERT_TRUE((*writer)->Write(chunk).ok());
  }
  ASSERT_TRUE((*writer)->Write(std::string(3 << 20, 'z')).ok());  // one chunk over the buffer
  expected += std::string(3 << 20, 'z');
  Result<ObjectInfo> info = (*writer)->Commit();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->size, expected.size());
  auto reader = this->store_->Get("bkt", "big");
  ASSERT_TRUE(reader.ok());
  EXPECT_TRUE(ReadAll(**reader, 1 << 16) == expected);
}

}  // namespace
}  // namespace opendms::objectstore

// DiskStore's own behaviour: files placed by hand, the on-disk layout, crash leftovers, key
// safety, and listing a large bucket.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "objectstore/objectstore.h"
#include "store_test_helpers.h"

namespace opendms::objectstore {
namespace {

namespace fs = std::filesystem;
using testing::KeysOf;
using testing::ListEverything;
using testing::ReadAll;
using testing::TempFolder;
using testing::WriteFile;

constexpr char kHelloMd5[] = "5d41402abc4b2a76b9719d911017c592";
constexpr char kWorldMd5[] = "08cf82251c975a5e9734699fadf5e9c0";  // md5("world!")

class DiskStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = folder_.path() + "/root";
    Reopen();
    ASSERT_TRUE(store_->CreateBucket("bkt").ok());
    bucket_ = root_ + "/bkt";
  }

  void Reopen() {
    store_.reset();
    Result<std::unique_ptr<ObjectStore>> store = OpenDiskStore(root_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  // Sets a file's mtime `seconds` into the past (hand copies keep old mtimes: cp -p, rsync).
  static void Age(const std::string& path, int seconds) {
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    times[0].tv_sec -= seconds;
    times[1].tv_sec -= seconds;
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  }

  std::vector<std::string> AllKeys() { return ListEverything(*store_, "bkt", {}); }

  TempFolder folder_;
  std::string root_;
  std::string bucket_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(DiskStoreTest, ObjectBytesAreThePlainFileAtBucketSlashKey) {
  ASSERT_TRUE(store_->Put("bkt", "schema/table/LOAD001.csv", "hello").ok());
  std::ifstream in(bucket_ + "/schema/table/LOAD001.csv");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "hello");
  // Nothing of the store's own lives in the bucket folder.
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(bucket_)) {
    if (e.is_regular_file()) files.push_back(e.path().lexically_relative(bucket_).string());
  }
  EXPECT_EQ(files, std::vector<std::string>{"schema/table/LOAD001.csv"});
}

TEST_F(DiskStoreTest, HandCopiedFileIsAnObjectWithComputedMetadata) {
  WriteFile(bucket_ + "/some/prefix/LOAD001.csv", "hello");
  Result<ObjectInfo> head = store_->Head("bkt", "some/prefix/LOAD001.csv");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->etag, kHelloMd5);
  EXPECT_EQ(head->size, 5u);
  EXPECT_EQ(head->content_type, "binary/octet-stream");
  struct stat st;
  ASSERT_EQ(::stat((bucket_ + "/some/prefix/LOAD001.csv").c_str(), &st), 0);
  EXPECT_EQ(
      head->last_modified.time_since_epoch(),
      std::chrono::duration_cast<TimePoint::duration>(
          std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
  // The computed metadata is kept, outside the bucket folder.
  EXPECT_TRUE(fs::exists(root_ + "/.opendms/meta/bkt/some/prefix/LOAD001.csv"));
  Result<ListResult> list = store_->List("bkt", {});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->objects.size(), 1u);
  EXPECT_EQ(list->objects[0].etag, kHelloMd5);
  Result<std::unique_ptr<ObjectReader>> reader = store_->Get("bkt", "some/prefix/LOAD001.csv");
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(ReadAll(**reader), "hello");
}

TEST_F(DiskStoreTest, FileOverwrittenByHandGetsANewEtag) {
  PutOptions options{"text/csv", {{"a", "b"}}};
  ASSERT_TRUE(store_->Put("bkt", "k.csv", "hello", options).ok());
  std::string path = bucket_ + "/k.csv";
  // In place, another size.
  WriteFile(path, "world!");
  Result<ObjectInfo> head = store_->Head("bkt", "k.csv");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->etag, kWorldMd5);
  EXPECT_EQ(head->size, 6u);
  // The old object's metadata does not describe the new bytes.
  EXPECT_EQ(head->content_type, "binary/octet-stream");
  EXPECT_TRUE(head->user_metadata.empty());

  // In place, same size, only the mtime tells.
  WriteFile(path, "hello!");
  Age(path, 10);
  EXPECT_EQ(store_->Head("bkt", "k.csv")->etag, "5a8dd3ad0756a93ded72b823b19dd877");  // "hello!"

  // Replaced by rename with a copy of identical size and mtime: the inode tells.
  struct stat before;
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  WriteFile(folder_.path() + "/replacement", "HELLO!");
  struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, (folder_.path() + "/replacement").c_str(), times, 0), 0);
  fs::rename(folder_.path() + "/replacement", path);
  EXPECT_EQ(store_->Head("bkt", "k.csv")->etag, "9ac96c64417b5976a58839eceaa77956");
}

TEST_F(DiskStoreTest, MetadataSurvivesReopening) {
  PutOptions options{"text/csv", {{"origin", "lab"}}};
  options.content_headers = {{"Cache-Control", "no-cache"}};
  ASSERT_TRUE(store_->Put("bkt", "dir/k.csv", "hello", options).ok());
  Reopen();
  Result<ObjectInfo> head = store_->Head("bkt", "dir/k.csv");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->etag, kHelloMd5);
  EXPECT_EQ(head->content_type, "text/csv");
  EXPECT_EQ(head->user_metadata, options.user_metadata);
  EXPECT_EQ(head->content_headers, options.content_headers);
}

TEST_F(DiskStoreTest, TempFilesAreNeverObjects) {
  // A writer that crashed mid-Put leaves a temp file; it is never listed, and an old one is
  // removed when the store is next opened.
  std::string leftover = root_ + "/.opendms/tmp/99999.1.tmp";
  WriteFile(leftover, "partial");
  std::string recent = root_ + "/.opendms/tmp/99999.2.tmp";
  WriteFile(recent, "in flight");
  Age(leftover, 2 * 3600);
  ASSERT_TRUE(store_->Put("bkt", "k", "x").ok());
  EXPECT_EQ(AllKeys(), std::vector<std::string>{"k"});
  Reopen();
  EXPECT_FALSE(fs::exists(leftover));
  EXPECT_TRUE(fs::exists(recent));  // may belong to another process still writing it

  // A failed Put cleans up after itself.
  fs::remove(recent);
  ByteSource failing = [](char*, size_t) -> Result<size_t> { return Status::IoError("disk full"); };
  EXPECT_FALSE(store_->PutStream("bkt", "k2", failing).ok());
  EXPECT_TRUE(fs::is_empty(root_ + "/.opendms/tmp"));
  EXPECT_EQ(AllKeys(), std::vector<std::string>{"k"});
}

TEST_F(DiskStoreTest, HiddenFilesPlacedByHandAreNotObjects) {
  WriteFile(bucket_ + "/data/.LOAD002.csv.Xy12Ab", "rsync temp");  // rsync's temp name
  WriteFile(bucket_ + "/.DS_Store", "finder");
  WriteFile(bucket_ + "/.git/config", "git");
  WriteFile(bucket_ + "/data/LOAD001.csv", "real");
  EXPECT_EQ(AllKeys(), std::vector<std::string>{"data/LOAD001.csv"});
  EXPECT_TRUE(store_->Head("bkt", "data/.LOAD002.csv.Xy12Ab").status().IsNotFound());
  EXPECT_TRUE(store_->Get("bkt", ".git/config").status().IsNotFound());
  // Written through the store, the same kind of name is an object.
  ASSERT_TRUE(store_->Put("bkt", "data/.keep", "").ok());
  EXPECT_EQ(AllKeys(), (std::vector<std::string>{"data/.keep", "data/LOAD001.csv"}));
  // An empty bucket (no objects) can be deleted even with such files in it.
  ASSERT_TRUE(store_->Delete("bkt", "data/.keep").ok());
  ASSERT_TRUE(store_->Delete("bkt", "data/LOAD001.csv").ok());
  EXPECT_TRUE(store_->DeleteBucket("bkt").ok());
  EXPECT_FALSE(fs::exists(bucket_));
}

TEST_F(DiskStoreTest, SymlinksAreNotObjects) {
  WriteFile(folder_.path() + "/outside.txt", "secret");
  fs::create_symlink(folder_.path() + "/outside.txt", bucket_ + "/link.txt");
  fs::create_directories(bucket_ + "/real");
  fs::create_directory_symlink(folder_.path(), bucket_ + "/dirlink");
  WriteFile(bucket_ + "/real/file", "x");
  EXPECT_EQ(AllKeys(), std::vector<std::string>{"real/file"});
  EXPECT_TRUE(store_->Get("bkt", "link.txt").status().IsNotFound());
}

TEST_F(DiskStoreTest, KeyValidationTable) {
  struct Case {
    std::string key;
    bool valid;
  };
  const std::string seg(255, 's');
  const std::string key1024 = seg + "/" + seg + "/" + seg + "/" + std::string(254, 's') + "/k";
  const Case cases[] = {
      {"a/b/c.csv", true},
      {"folder/", true},
      {"a..b/c", true},
      {".hidden", true},
      {"\xC3\xA9t\xC3\xA9/\xE2\x82\xAC.csv", true},
      {std::string(255, 's') + "/x", true},
      {key1024, true},
      {"", false},
      {"../escape", false},
      {"a/../../escape", false},
      {"a/..", false},
      {"./a", false},
      {"a/./b", false},
      {"/etc/passwd", false},
      {"a//b", false},
      {"a/b//", false},
      {"/", false},
      {std::string("a\0b", 3), false},
      {key1024 + "k", false},
      {std::string(256, 's') + "/x", false},
      {".opendms/meta/x", false},
      {"a/.opendms-folder", false},
      {"bad\xFFutf8", false},
      {"\xC0\xAF", false},  // overlong '/'
  };
  for (const Case& c : cases) {
    Status status = ValidateKey(c.key);
    EXPECT_EQ(status.ok(), c.valid) << c.key.substr(0, 40) << ": " << status.ToString();
    Result<ObjectInfo> put = store_->Put("bkt", c.key, c.key.ends_with('/') ? "" : "x");
    EXPECT_EQ(put.ok(), c.valid) << c.key.substr(0, 40) << ": " << put.status().ToString();
    if (!c.valid) {
      EXPECT_TRUE(put.status().IsInvalidArgument());
      if (!c.key.empty() && c.key.find('\0') == std::string::npos && c.key.size() < 200) {
        EXPECT_NE(put.status().message().find(c.key), std::string::npos) << put.status().message();
      }
    } else {
      ASSERT_TRUE(store_->Delete("bkt", c.key).ok());
    }
  }
  // Nothing escaped the bucket or touched the store's own folder.
  EXPECT_FALSE(fs::exists(root_ + "/escape"));
  EXPECT_FALSE(fs::exists(folder_.path() + "/escape"));
  EXPECT_TRUE(fs::is_empty(bucket_));
}

TEST_F(DiskStoreTest, ObjectAndFolderOfTheSameNameCollide) {
  ASSERT_TRUE(store_->Put("bkt", "a/b", "x").ok());
  Result<ObjectInfo> below = store_->Put("bkt", "a/b/c", "y");
  ASSERT_TRUE(below.status().IsAlreadyExists()) << below.status().ToString();
  EXPECT_NE(below.status().message().find("s3://bkt/a/b/c"), std::string::npos);
  EXPECT_NE(below.status().message().find("s3://bkt/a/b "), std::string::npos);

  ASSERT_TRUE(store_->Put("bkt", "x/y/z", "x").ok());
  Result<ObjectInfo> above = store_->Put("bkt", "x/y", "y");
  ASSERT_TRUE(above.status().IsAlreadyExists()) << above.status().ToString();
  EXPECT_NE(above.status().message().find("store s3://bkt/x/y:"), std::string::npos);
  EXPECT_NE(above.status().message().find("s3://bkt/x/y/z"), std::string::npos);
  EXPECT_TRUE(store_->Put("bkt", "a/b/", "").status().IsAlreadyExists());
  EXPECT_EQ(AllKeys(), (std::vector<std::string>{"a/b", "x/y/z"}));

  // An empty folder left by hand is no obstacle.
  fs::create_directories(bucket_ + "/empty/folder");
  EXPECT_TRUE(store_->Put("bkt", "empty/folder", "now a file").ok());
}

TEST_F(DiskStoreTest, DeleteRemovesFoldersItEmptied) {
  ASSERT_TRUE(store_->Put("bkt", "p/q/r/one", "1").ok());
  ASSERT_TRUE(store_->Put("bkt", "p/two", "2").ok());
  ASSERT_TRUE(store_->Delete("bkt", "p/q/r/one").ok());
  EXPECT_FALSE(fs::exists(bucket_ + "/p/q"));
  EXPECT_TRUE(fs::exists(bucket_ + "/p"));
  EXPECT_FALSE(fs::exists(root_ + "/.opendms/meta/bkt/p/q"));
  ASSERT_TRUE(store_->Delete("bkt", "p/two").ok());
  EXPECT_FALSE(fs::exists(bucket_ + "/p"));
  EXPECT_TRUE(fs::is_directory(bucket_));
  // A folder marker keeps its folder.
  ASSERT_TRUE(store_->Put("bkt", "m/", "").ok());
  ASSERT_TRUE(store_->Put("bkt", "m/x", "1").ok());
  ASSERT_TRUE(store_->Delete("bkt", "m/x").ok());
  EXPECT_TRUE(fs::is_directory(bucket_ + "/m"));
  ASSERT_TRUE(store_->Delete("bkt", "m/").ok());
  EXPECT_FALSE(fs::exists(bucket_ + "/m"));
}

TEST_F(DiskStoreTest, FolderMarkerCannotHoldBytes) {
  Result<ObjectInfo> put = store_->Put("bkt", "folder/", "bytes");
  EXPECT_TRUE(put.status().IsInvalidArgument());
  EXPECT_TRUE(store_->Head("bkt", "folder/").status().IsNotFound());
  // A folder made by hand is not a marker object.
  fs::create_directories(bucket_ + "/handmade");
  EXPECT_TRUE(store_->Head("bkt", "handmade/").status().IsNotFound());
  EXPECT_TRUE(AllKeys().empty());
}

TEST_F(DiskStoreTest, SortOrderFollowsKeyBytesNotFolders) {
  // On disk "a" is a folder holding "b" next to files "a-b" and "a0": S3 order interleaves them.
  for (const char* key : {"a0", "a/b", "a-b", "a.", "ab/c", "a/\xC3\xA9", "a/z", "\xE2\x82\xAC"}) {
    WriteFile(bucket_ + "/" + key, key);
  }
  EXPECT_EQ(AllKeys(), (std::vector<std::string>{"a-b", "a.", "a/b", "a/z", "a/\xC3\xA9", "a0",
                                                 "ab/c", "\xE2\x82\xAC"}));
}

TEST_F(DiskStoreTest, FiveThousandKeysPageInOrder) {
  std::vector<std::string> expected;
  for (int t = 0; t < 5; ++t) {
    for (int f = 0; f < 1000; ++f) {
      std::string key = "schema/table" + std::to_string(t) + "/LOAD" + std::to_string(f) + ".csv";
      WriteFile(bucket_ + "/" + key, key);
      expected.push_back(key);
    }
  }
  std::sort(expected.begin(), expected.end());
  ListOptions options;
  int pages = 0;
  std::vector<std::string> listed = ListEverything(*store_, "bkt", options, &pages);
  EXPECT_EQ(pages, 5);
  EXPECT_EQ(listed, expected);

  // Again (metadata now from sidecars), with page boundaries inside folders; then one folder
  // alone by prefix.
  options.max_keys = 333;
  EXPECT_EQ(ListEverything(*store_, "bkt", options), expected);
  options.prefix = "schema/table3/";
  std::vector<std::string> table3(expected.begin() + 3000, expected.begin() + 4000);
  EXPECT_EQ(ListEverything(*store_, "bkt", options), table3);
  options.prefix = "schema/";
  options.delimiter = "/";
  EXPECT_EQ(ListEverything(*store_, "bkt", options),
            (std::vector<std::string>{"P:schema/table0/", "P:schema/table1/", "P:schema/table2/",
                                      "P:schema/table3/", "P:schema/table4/"}));
}

TEST_F(DiskStoreTest, ListSeesChangesMadeBetweenPages) {
  for (int i = 0; i < 10; ++i) WriteFile(bucket_ + "/k" + std::to_string(i), "x");
  // Old folder mtimes make listings cacheable; changes must still show.
  Age(bucket_, 100);
  ListOptions options;
  options.max_keys = 3;
  Result<ListResult> page = store_->List("bkt", options);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(KeysOf(*page), (std::vector<std::string>{"k0", "k1", "k2"}));
  ASSERT_TRUE(store_->Put("bkt", "k25", "new").ok());
  ASSERT_TRUE(store_->Delete("bkt", "k3").ok());
  options.start_after = page->next_start_after;
  page = store_->List("bkt", options);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(KeysOf(*page), (std::vector<std::string>{"k25", "k4", "k5"}));
}

TEST_F(DiskStoreTest, RangeOfALargeFileCrossesReadBuffers) {
  std::string body;
  for (int i = 0; body.size() < 2'500'000; ++i) body += std::to_string(i) + ",";
  WriteFile(bucket_ + "/big.csv", body);
  ByteRange range{1'000'000, 2'200'000};
  Result<std::unique_ptr<ObjectReader>> reader = store_->Get("bkt", "big.csv", range);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->range_first(), 1'000'000u);
  EXPECT_EQ((*reader)->range_length(), 1'200'001u);
  EXPECT_EQ(ReadAll(**reader, 1 << 20), body.substr(1'000'000, 1'200'001));
}

TEST_F(DiskStoreTest, BucketFolderMadeByHandIsABucket) {
  fs::create_directories(root_ + "/by-hand");
  fs::create_directories(root_ + "/Not_A_Bucket");
  WriteFile(root_ + "/by-hand/x.csv", "x");
  Result<std::vector<BucketInfo>> buckets = store_->ListBuckets();
  ASSERT_TRUE(buckets.ok());
  std::vector<std::string> names;
  for (const BucketInfo& b : *buckets) names.push_back(b.name);
  EXPECT_EQ(names, (std::vector<std::string>{"bkt", "by-hand"}));
  EXPECT_TRUE(*store_->BucketExists("by-hand"));
  EXPECT_EQ(KeysOf(*store_->List("by-hand", {})), std::vector<std::string>{"x.csv"});
  EXPECT_TRUE(store_->CreateBucket("by-hand").IsAlreadyExists());
}

TEST_F(DiskStoreTest, StaleMetadataOfObjectsRemovedByHandIsHarmless) {
  ASSERT_TRUE(store_->Put("bkt", "a/b", "old", PutOptions{"text/plain", {}}).ok());
  // By hand: the object "a/b" goes, a folder of the same name comes.
  fs::remove(bucket_ + "/a/b");
  WriteFile(bucket_ + "/a/b/c", "hello");
  EXPECT_EQ(AllKeys(), std::vector<std::string>{"a/b/c"});
  EXPECT_EQ(store_->Head("bkt", "a/b/c")->etag, kHelloMd5);
  EXPECT_TRUE(store_->Head("bkt", "a/b").status().IsNotFound());
  // And back again through the store.
  ASSERT_TRUE(store_->Delete("bkt", "a/b/c").ok());
  ASSERT_TRUE(store_->Put("bkt", "a/b", "again").ok());
  EXPECT_EQ(store_->Head("bkt", "a/b")->content_type, "binary/octet-stream");
}

TEST_F(DiskStoreTest, WriterStagesUnderTmpAndCleansUpWhenAborted) {
  auto writer = store_->OpenWriter("bkt", "staged.csv");
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Write(std::string(2 << 20, 'x')).ok());
  EXPECT_FALSE(fs::is_empty(root_ + "/.opendms/tmp"));
  EXPECT_FALSE(fs::exists(bucket_ + "/staged.csv"));
  writer->reset();
  EXPECT_TRUE(fs::is_empty(root_ + "/.opendms/tmp"));
  EXPECT_TRUE(AllKeys().empty());
}

TEST_F(DiskStoreTest, ChecksumSurvivesReopeningButNotAnOverwriteByHand) {
  PutOptions options;
  options.checksum_crc32 = "GfDGtA==";
  ASSERT_TRUE(store_->Put("bkt", "k.csv", "id,name\n1,foo\n", options).ok());
  Reopen();
  EXPECT_EQ(store_->Head("bkt", "k.csv")->checksum_crc32, "GfDGtA==");
  WriteFile(bucket_ + "/k.csv", "other bytes");
  Result<ObjectInfo> head = store_->Head("bkt", "k.csv");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->checksum_crc32, "");  // the recorded checksum described the old bytes
}

TEST_F(DiskStoreTest, FolderMarkerWriterRefusesBytes) {
  auto writer = store_->OpenWriter("bkt", "dir/");
  ASSERT_TRUE(writer.ok());
  EXPECT_TRUE((*writer)->Write("x").IsInvalidArgument());
  auto empty = store_->OpenWriter("bkt", "dir/");
  ASSERT_TRUE(empty.ok());
  ASSERT_TRUE((*empty)->Commit().ok());
  EXPECT_EQ(AllKeys(), std::vector<std::string>{"dir/"});
}

}  // namespace
}  // namespace opendms::objectstore

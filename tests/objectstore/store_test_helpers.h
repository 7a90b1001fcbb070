// Helpers shared by the objectstore tests: a temp folder, reading an object whole, listing keys.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "objectstore/objectstore.h"

namespace opendms::objectstore::testing {

// A fresh folder under $TMPDIR, removed with everything in it on destruction.
class TempFolder {
 public:
  TempFolder() {
    std::string pattern = (std::filesystem::temp_directory_path() / "objectstore-XXXXXX").string();
    char* made = ::mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path_ = pattern;
  }
  ~TempFolder() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline void WriteFile(const std::string& path, std::string_view content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  ASSERT_TRUE(out.good()) << path;
}

// Reads the reader to its end in reads of at most `chunk` bytes.
inline std::string ReadAll(ObjectReader& reader, size_t chunk = 4096) {
  std::string out;
  std::string buf(chunk, '\0');
  while (true) {
    Result<size_t> n = reader.Read(buf.data(), buf.size());
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    if (!n.ok() || *n == 0) break;
    out.append(buf.data(), *n);
  }
  return out;
}

inline std::vector<std::string> KeysOf(const ListResult& result) {
  std::vector<std::string> keys;
  for (const ObjectInfo& info : result.objects) keys.push_back(info.key);
  return keys;
}

// Every key in the bucket under `options` (prefix, delimiter), following pages; common prefixes
// are returned too, each with a trailing marker so tests can tell them apart: "P:<prefix>".
inline std::vector<std::string> ListEverything(ObjectStore& store, const std::string& bucket,
                                               ListOptions options, int* pages = nullptr) {
  std::vector<std::string> all;
  int count = 0;
  while (true) {
    Result<ListResult> page = store.List(bucket, options);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    if (!page.ok()) break;
    ++count;
    // Objects and prefixes interleave in key order.
    size_t o = 0, p = 0;
    while (o < page->objects.size() || p < page->common_prefixes.size()) {
      if (p == page->common_prefixes.size() ||
          (o < page->objects.size() && page->objects[o].key < page->common_prefixes[p])) {
        all.push_back(page->objects[o++].key);
      } else {
        all.push_back("P:" + page->common_prefixes[p++]);
      }
    }
    if (!page->truncated) break;
    EXPECT_FALSE(page->next_start_after.empty());
    options.start_after = page->next_start_after;
    if (count > 100000) break;
  }
  if (pages) *pages = count;
  return all;
}

}  // namespace opendms::objectstore::testing

// objectstore (internal): one page of a ListObjectsV2 answer, built from keys offered in
// ascending byte order. Every store walks its keys its own way and feeds them here, so prefix,
// delimiter, start_after, max_keys and truncation mean the same thing in all of them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.h"
#include "objectstore/objectstore.h"

namespace opendms::objectstore {

// The smallest string greater than every string that starts with `prefix`; empty when there is
// none (prefix empty or all 0xFF). Lets a walk jump past everything a common prefix rolled up.
std::string PrefixSuccessor(std::string_view prefix);

class ListPager {
 public:
  struct Entry {
    std::string key;  // an object's key, or a common prefix
    bool is_common_prefix = false;
  };

  // InvalidArgument when max_keys < 1; max_keys above 1000 is clamped to 1000.
  static Result<ListPager> Make(const ListOptions& options);

  const ListOptions& options() const { return options_; }

  // The common prefix `key` rolls up into under the delimiter, if any. `key` may also be a
  // directory's key ("a/b/"): when it rolls up, every key below it rolls up the same way.
  std::optional<std::string> CommonPrefixOf(std::string_view key) const;

  // Offer the next object key / common prefix, in ascending order (a common prefix sorts where
  // its first key does). Entries at or before start_after, outside the prefix, or repeating the
  // last common prefix are ignored. Returns false once the page is full: the entry offered then
  // was the first one past the page, so the answer is truncated and the walk should stop.
  bool OfferObject(std::string_view key);
  bool OfferCommonPrefix(std::string_view common_prefix);

  bool full() const { return truncated_; }
  // The page's entries in order (at most max_keys), and whether more follow.
  const std::vector<Entry>& entries() const { return entries_; }
  bool truncated() const { return truncated_; }
  // start_after for the next page ("" unless truncated).
  std::string NextStartAfter() const;

 private:
  explicit ListPager(ListOptions options) : options_(std::move(options)) {}
  bool Add(std::string_view key, bool is_common_prefix);

  ListOptions options_;
  std::vector<Entry> entries_;
  bool truncated_ = false;
};

}  // namespace opendms::objectstore

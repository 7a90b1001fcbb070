#include "objectstore/list_pager.h"

namespace opendms::objectstore {

std::string PrefixSuccessor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty()) {
    unsigned char last = static_cast<unsigned char>(s.back());
    if (last != 0xFF) {
      s.back() = static_cast<char>(last + 1);
      return s;
    }
    s.pop_back();
  }
  return s;
}

Result<ListPager> ListPager::Make(const ListOptions& options) {
  if (options.max_keys < 1) {
    return Status::InvalidArgument("max_keys must be at least 1, got " +
                                   std::to_string(options.max_keys));
  }
  ListOptions clamped = options;
  if (clamped.max_keys > 1000) clamped.max_keys = 1000;
  return ListPager(std::move(clamped));
}

std::optional<std::string> ListPager::CommonPrefixOf(std::string_view key) const {
  const std::string& delimiter = options_.delimiter;
  if (delimiter.empty() || !key.starts_with(options_.prefix)) return std::nullopt;
  size_t pos = key.find(delimiter, options_.prefix.size());
  if (pos == std::string_view::npos) return std::nullopt;
  return std::string(key.substr(0, pos + delimiter.size()));
}

bool ListPager::OfferObject(std::string_view key) {
  if (truncated_) return false;
  if (!key.starts_with(options_.prefix) || key <= options_.start_after) return true;
  return Add(key, false);
}

bool ListPager::OfferCommonPrefix(std::string_view common_prefix) {
  if (truncated_) return false;
  if (common_prefix <= options_.start_after) return true;
  if (!entries_.empty() && entries_.back().is_common_prefix &&
      entries_.back().key == common_prefix) {
    return true;
  }
  return Add(common_prefix, true);
}

bool ListPager::Add(std::string_view key, bool is_common_prefix) {
  if (entries_.size() == static_cast<size_t>(options_.max_keys)) {
    // A repeat of the page's last common prefix was filtered above, so this is a new entry.
    truncated_ = true;
    return false;
  }
  entries_.push_back(Entry{std::string(key), is_common_prefix});
  return true;
}

std::string ListPager::NextStartAfter() const {
  if (!truncated_ || entries_.empty()) return "";
  return entries_.back().key;
}

}  // namespace opendms::objectstore

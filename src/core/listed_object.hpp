#pragma once
// One entry of a listing: what a store's LIST returns and the inbox reads (a header of its own, so that
// the store interface need not include the inbox).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hoshino::core {

struct ListedObject {
  ListedObject(std::string k, std::uint64_t s = 0) : key(std::move(k)), size(s) {} // NOLINT: implicit from a key
  std::string key;
  std::uint64_t size = 0;
};

// One page of a listing: its entries, and the store's word (S3's IsTruncated) on whether more follow.
struct ListPage {
  std::vector<ListedObject> objects;
  bool truncated = false;
};

} // namespace hoshino::core

#pragma once
// One paged listing (LIST with start-after), the single pager of every listing the node and its tools
// make: which page to ask for next and whether what was read is the whole. The store's IsTruncated is
// its word on "more follow" (a short page may still be truncated); a listing cut short by its page bound,
// a failure or a page that does not move forward is incomplete, and an incomplete listing is never proof
// that a key is absent.
#include "core/listed_object.hpp"

#include <cstddef>
#include <optional>
#include <string>

namespace hoshino::core {

class Listing {
public:
  explicit Listing(std::size_t max_pages) : max_pages_(max_pages) {}

  // The start-after of the next page to read ("" for the first), or nullopt: the listing is over.
  std::optional<std::string> next_page() const;
  // read_on: the caller wants what follows too (false: enough for now; the listing stays incomplete if
  // the page was truncated).
  void on_page(const ListPage& page, bool read_on = true);
  void on_failed() { failed_ = true; }
  // The next page starts after `after` instead (keys between are skipped), if that is further on.
  void skip_to(std::string after) {
    if (after > after_) after_ = std::move(after);
  }

  bool complete() const noexcept { return complete_; }
  bool failed() const noexcept { return failed_; }
  std::size_t pages() const noexcept { return pages_; }

private:
  std::size_t max_pages_;
  std::size_t pages_ = 0;
  std::string after_;
  bool more_ = true;
  bool complete_ = false;
  bool failed_ = false;
  bool stalled_ = false; // truncated, but the page did not move past start-after: a broken or hostile server
};

} // namespace hoshino::core

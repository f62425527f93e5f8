#include "core/listing.hpp"

namespace hoshino::core {

std::optional<std::string> Listing::next_page() const {
  if (complete_ || failed_ || stalled_ || !more_ || pages_ >= max_pages_) return std::nullopt;
  return after_;
}

void Listing::on_page(const ListPage& page, bool read_on) {
  ++pages_;
  if (!page.truncated) {
    complete_ = true;
    more_ = false;
    return;
  }
  // Keys come in ascending order after start-after: a truncated page that does not move past it would
  // have us read the same page again (up to the bound) for nothing.
  if (page.objects.empty() || page.objects.back().key <= after_) {
    stalled_ = true;
    return;
  }
  after_ = page.objects.back().key;
  more_ = read_on;
}

} // namespace hoshino::core

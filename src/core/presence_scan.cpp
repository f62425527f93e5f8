#include "core/presence_scan.hpp"

#include <algorithm>

namespace hoshino::core {
namespace {

// A start-after past every key of `a` (peers/<32 hex>.<key>): the next address in hex, or past every hex
// digit when a is the last of its /64 (what follows is junk).
std::string past(const Address& a) {
  std::string s = a.hex();
  for (std::size_t i = s.size(); i-- > 16;) {
    if (s[i] == 'f') {
      s[i] = '0';
      continue;
    }
    s[i] = s[i] == '9' ? 'a' : static_cast<char>(s[i] + 1);
    return s;
  }
  return s.substr(0, 16) + "g";
}

} // namespace

PresenceScan::PresenceScan(std::string key_prefix, const Address& self, std::vector<Address> waiting,
                           PresenceScanConfig config)
    : key_prefix_(std::move(key_prefix)),
      prefix_(presence_prefix(key_prefix_) + self.hex().substr(0, 16)),
      self_(self),
      waiting_(std::move(waiting)),
      config_(config),
      pages_(config.max_pages) {}

std::optional<ListRequest> PresenceScan::next() const {
  if (failed_) return std::nullopt;
  if (!pages_over_) {
    if (auto after = pages_.next_page()) return ListRequest{prefix_, *after};
    return std::nullopt;
  }
  if (lookups_.empty()) return std::nullopt;
  return ListRequest{presence_prefix(key_prefix_) + lookups_.back().hex() + ".", ""};
}

void PresenceScan::take(std::string_view key) {
  auto pk = parse_presence_key(key_prefix_, key);
  if (!pk) return; // not a record's name: junk, costs its place in the page and nothing else
  if (last_ && *last_ == pk->address) {
    ++last_count_;
  } else {
    last_ = pk->address;
    last_count_ = 1;
  }
  // One more than the bound: enough for the directory to see that the address is ambiguous.
  if (pk->address != self_ && last_count_ <= config_.max_records_per_address + 1) found_.push_back(*pk);
}

void PresenceScan::on_page(const ListPage& page) {
  ++requests_;
  if (pages_over_) { // a lookup of one address
    if (lookups_.empty()) return;
    const Address a = lookups_.back();
    lookups_.pop_back();
    std::size_t n = 0;
    for (const auto& o : page.objects) {
      auto pk = parse_presence_key(key_prefix_, o.key);
      if (!pk || pk->address != a) continue;
      if (++n > config_.max_records_per_address + 1) break;
      found_.push_back(*pk);
    }
    looked_up_.push_back(a);
    return;
  }
  for (const auto& o : page.objects) take(o.key);
  pages_.on_page(page);
  // The page ended inside an address that has more records than a node writes: on past it.
  if (page.truncated && last_ && last_count_ > config_.max_records_per_address) {
    pages_.skip_to(presence_prefix(key_prefix_) + past(*last_));
    ++skipped_;
  }
  if (!pages_.next_page()) {
    pages_over_ = true;
    start_lookups();
  }
}

void PresenceScan::start_lookups() {
  if (pages_.complete()) return;
  for (const auto& w : waiting_) {
    if (lookups_.size() >= config_.max_lookups) break;
    if (w == self_ || (last_ && w < *last_)) continue; // the pages read it whole
    if (std::find(lookups_.begin(), lookups_.end(), w) == lookups_.end()) lookups_.push_back(w);
  }
  std::reverse(lookups_.begin(), lookups_.end()); // taken from the back: in the order they waited
}

Coverage PresenceScan::coverage() const {
  Coverage c;
  c.complete = pages_.complete() && !failed_;
  if (!c.complete) {
    c.below = last_;
    c.looked_up = looked_up_;
  }
  return c;
}

} // namespace hoshino::core

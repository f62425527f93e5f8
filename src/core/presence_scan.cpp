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
      peers_(presence_prefix(key_prefix_)),
      prefix_(peers_ + self.hex().substr(0, 16)),
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
  return ListRequest{peers_ + lookups_.back().hex() + ".", ""};
}

// The group a key under peers/ belongs to, for skipping: its 32 characters of address, or, if one of
// them is no lowercase hex digit, everything up to and including that character.
std::string_view group_of(std::string_view key, std::size_t prefix_size) {
  std::size_t end = std::min(key.size(), prefix_size + 32);
  for (std::size_t i = prefix_size; i < end; ++i)
    if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f'))) return key.substr(0, i + 1);
  return key.substr(0, end);
}

void PresenceScan::take(std::string_view key) {
  const std::string_view group = group_of(key, peers_.size());
  if (group == last_group_) {
    ++group_count_;
  } else {
    last_group_ = std::string(group);
    group_count_ = 1;
  }
  auto pk = parse_presence_key(key_prefix_, key);
  if (!pk) return; // not a record's name: junk, costs its place in the page (and its group is skipped)
  last_ = pk->address;
  // One more than the bound: enough for the directory to see that the address is ambiguous.
  if (pk->address != self_ && group_count_ <= config_.max_records_per_address + 1) found_.push_back(*pk);
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
    if (!page.truncated) looked_up_.push_back(a); // a full page may hide its real record: no proof of absence
    return;
  }
  for (const auto& o : page.objects) take(o.key);
  pages_.on_page(page);
  // The page ended inside a group with more keys than a node writes: on past it (a hex address: to the
  // next address; junk: past its first character that is no hex digit, if that can be incremented).
  if (page.truncated && group_count_ > config_.max_records_per_address) {
    const std::size_t prefix_size = peers_.size();
    if (last_group_.size() == prefix_size + 32) {
      if (auto a = Address::from_hex(std::string_view(last_group_).substr(prefix_size))) {
        pages_.skip_to(peers_ + past(*a));
        ++skipped_;
      }
    } else if (static_cast<unsigned char>(last_group_.back()) < 0x7e) {
      std::string after = last_group_;
      after.back() = static_cast<char>(after.back() + 1);
      pages_.skip_to(std::move(after));
      ++skipped_;
    }
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

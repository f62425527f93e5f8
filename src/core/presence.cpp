#include "core/presence.hpp"

#include <algorithm>
#include <charconv>
#include <map>

namespace hoshino::core {

std::string presence_prefix(std::string_view key_prefix) { return std::string(key_prefix) + "/peers/"; }

std::string presence_key(std::string_view key_prefix, const Address& node, const PublicKey& key) {
  return presence_prefix(key_prefix) + node.hex() + "." + key_to_base64url(key);
}

std::optional<PeerKey> parse_presence_key(std::string_view key_prefix, std::string_view key) {
  auto prefix = presence_prefix(key_prefix);
  if (!key.starts_with(prefix)) return std::nullopt;
  key.remove_prefix(prefix.size());
  if (key.size() != 32 + 1 + 43 || key[32] != '.') return std::nullopt;
  auto a = Address::from_hex(key.substr(0, 32));
  auto k = key_from_base64url(key.substr(33));
  if (!a || !k || key_to_base64url(*k) != key.substr(33)) return std::nullopt; // one spelling per key
  return PeerKey{*a, *k};
}

std::string format_presence(const PresenceRecord& r) {
  return "hoshino-presence 1\naddress " + r.address.str() + "\nhostname " + r.hostname + "\nversion " + r.version +
         "\nstarted " + std::to_string(r.started_ms) + "\n";
}

namespace {

std::string at(std::size_t line, std::string_view what) { return "line " + std::to_string(line) + ": " + std::string(what); }

bool printable(std::string_view s, std::size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s)
    if (c <= ' ' || c > '~') return false;
  return true;
}

} // namespace

Result<PresenceRecord, std::string> parse_presence(std::string_view body, const Address& expected) {
  if (body.size() > kMaxPresenceBytes) return std::string("larger than 1 KiB");
  PresenceRecord r;
  bool have_address = false, have_hostname = false, have_version = false, have_started = false;
  std::size_t line_no = 0;
  while (!body.empty()) {
    auto end = body.find('\n');
    if (end == std::string_view::npos) return std::string("the last line does not end with a newline");
    std::string_view line = body.substr(0, end);
    body.remove_prefix(end + 1);
    ++line_no;
    auto space = line.find(' ');
    if (space == std::string_view::npos) return at(line_no, "not 'field value'");
    std::string_view field = line.substr(0, space), value = line.substr(space + 1);
    if (line_no == 1) {
      if (field != "hoshino-presence" || value != "1") return std::string("not a version 1 presence record");
      continue;
    }
    auto once = [&](bool& seen) -> std::optional<std::string> {
      if (seen) return at(line_no, std::string(field) + " given twice");
      seen = true;
      return std::nullopt;
    };
    std::optional<std::string> err;
    if (field == "address") {
      if ((err = once(have_address))) return *err;
      auto a = Address::parse(value);
      if (!a) return at(line_no, "not an IPv6 address");
      if (*a != expected) return at(line_no, "the record speaks for " + a->str() + ", its key for " + expected.str());
      r.address = *a;
    } else if (field == "hostname") {
      if ((err = once(have_hostname))) return *err;
      if (!printable(value, 253)) return at(line_no, "hostname not printable or too long");
      r.hostname = value;
    } else if (field == "version") {
      if ((err = once(have_version))) return *err;
      if (!printable(value, 64)) return at(line_no, "version not printable or too long");
      r.version = value;
    } else if (field == "started") {
      if ((err = once(have_started))) return *err;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), r.started_ms);
      if (ec != std::errc{} || p != value.data() + value.size()) return at(line_no, "started is not a number");
    } else {
      return at(line_no, "unknown field '" + std::string(field.substr(0, 32)) + "'");
    }
  }
  if (line_no == 0) return std::string("empty");
  if (!have_address || !have_hostname || !have_version || !have_started)
    return std::string("a field is missing (address, hostname, version, started)");
  return r;
}

void PeerDirectory::remember(const Address& a, Clock::time_point now) {
  auto until = now + config_.present_ttl;
  if (auto it = present_.find(a); it != present_.end()) {
    it->second = std::max(it->second, until);
    return;
  }
  if (present_.size() >= config_.max_peers) std::erase_if(present_, [&](const auto& p) { return p.second <= now; });
  if (present_.size() >= config_.max_peers) return; // found by a listing again next time
  present_.emplace(a, until);
}

void PeerDirectory::pin(const Address& address, const PublicKey& key) {
  auto& k = keys_[address];
  k.current = key;
  k.previous.reset();
  k.pinned = true;
}

void PeerDirectory::restore(const Address& address, const PublicKey& key) {
  if (keys_.size() >= config_.max_peers) return;
  auto [it, added] = keys_.try_emplace(address);
  if (!added) return; // pinned, or restored already
  it->second.current = key;
  it->second.restored = true;
}

std::vector<PeerKey> PeerDirectory::keys_known(std::size_t max) const {
  // Peers this node heard from first (an authentic object: a real node), then the others; in address
  // order within each, so that junk records cannot push real peers out of the file at random.
  std::vector<std::pair<bool, PeerKey>> all;
  for (const auto& [address, k] : keys_)
    if (!k.pinned && k.current) all.push_back({!k.heard, PeerKey{address, *k.current}});
  std::sort(all.begin(), all.end());
  std::vector<PeerKey> out;
  for (std::size_t i = 0; i < all.size() && i < max; ++i) out.push_back(all[i].second);
  return out;
}

void PeerDirectory::learn(const Address& address, const std::vector<PublicKey>& listed, Clock::time_point now) {
  auto it = keys_.find(address);
  if (it != keys_.end() && it->second.restored && !it->second.confirmed && !config_.accept_key_changes) {
    // Remembered from an earlier run: the record as listed now must show that key. Another one alone was
    // put there while this node did not look (a rotation while it was down, or someone who can write
    // that record): refused, like ssh's changed host key, until the operator says so.
    auto& k = it->second;
    if (std::find(listed.begin(), listed.end(), *k.current) != listed.end()) {
      k.confirmed = true; // listed as it was (beside another during a rotation: followed from here on)
      if (listed.size() != 1) ++ambiguous_;
      return;
    }
    if (listed.size() == 1 && k.refused != listed.front()) {
      k.refused = listed.front();
      key_changes_.push_back({address, *k.current, listed.front(), true, true});
      ++key_changes_refused_;
    }
    if (listed.size() != 1) ++ambiguous_;
    return;
  }
  if (it != keys_.end() && it->second.pinned) {
    // Only the record's writer can have put another key there: with the least-privilege policy the
    // node itself (a rotation the peers file does not know yet), without it anyone with bucket access.
    auto& k = it->second;
    for (const auto& key : listed)
      if (key != *k.current && k.previous != key) { // reported once per listed key, not per listing
        k.previous = key;
        key_changes_.push_back({address, *k.current, key, true});
        ++key_change_count_;
      }
    return;
  }
  if (listed.size() != 1) {
    // Two records for one address: a rotation under way (the new record is written before the old is
    // removed), or someone adding one. Nothing changes until one is left: a writer who adds a record
    // cannot take the address over while the real one is there.
    ++ambiguous_;
    return;
  }
  const PublicKey& key = listed.front();
  if (it == keys_.end()) { // first use
    if (keys_.size() >= config_.max_peers)
      std::erase_if(keys_, [&](const auto& k) { return !k.second.pinned && !present_.contains(k.first); });
    if (keys_.size() >= config_.max_peers) return; // present, but its objects wait for a later listing
    keys_.emplace(address, PeerKeys{key, std::nullopt, {}, false});
    known_changed_ = true;
    return;
  }
  auto& k = it->second;
  k.confirmed = true; // (restored keys get here only when changes are accepted)
  if (k.current == key) return;
  known_changed_ = true;
  // The only record now names another key: a rotation finished (or, without the least-privilege
  // policy, someone replaced the record: logged loudly by the shell, and refused with --peers-file).
  key_changes_.push_back({address, k.current.value_or(PublicKey{}), key, false});
  ++key_change_count_;
  k.previous = k.current;
  k.previous_until = now + config_.key_overlap;
  k.current = key;
}

std::optional<PublicKey> PeerDirectory::key_of(const Address& dst) const {
  auto it = keys_.find(dst);
  if (it == keys_.end()) return std::nullopt;
  return it->second.current;
}

std::optional<PublicKey> PeerDirectory::key_with_id(const Address& peer, KeyId id, Clock::time_point now) const {
  auto it = keys_.find(peer);
  if (it == keys_.end()) return std::nullopt;
  const auto& k = it->second;
  if (k.current && key_id(*k.current) == id) return k.current;
  if (!k.pinned && k.previous && now < k.previous_until && key_id(*k.previous) == id) return k.previous;
  return std::nullopt;
}

bool PeerDirectory::knows(const Address& dst, Clock::time_point now) const {
  auto it = present_.find(dst);
  return it != present_.end() && it->second > now;
}

Route PeerDirectory::route(Outgoing& packet, Clock::time_point now) {
  const Address& dst = packet.view.dst;
  if (knows(dst, now) && (!config_.need_keys || key_of(dst))) return Route::send;
  if (!config_.need_keys && failed_at_ && now - *failed_at_ < config_.fail_open) return Route::send;
  if (listed_at_ && now - *listed_at_ < config_.absent_ttl && !listing_) return Route::unreachable;
  auto it = waiting_.find(dst);
  if (it == waiting_.end()) {
    if (waiting_.size() >= config_.max_waiting_peers) return Route::dropped;
    it = waiting_.emplace(dst, std::vector<Outgoing>{}).first;
    waiting_order_.push_back(dst);
  }
  if (it->second.size() >= config_.max_waiting_packets) return Route::dropped;
  it->second.push_back(std::move(packet));
  return Route::wait;
}

bool PeerDirectory::start_listing(Clock::time_point now) {
  if (listing_ || (waiting_.empty() && !wanted_)) return false;
  // Wanted by the inbox alone: at most one listing per wanted_interval (a writer of junk key ids must
  // not make the node LIST the directory at will; the inbox asks again while its object waits).
  if (waiting_.empty() && started_at_ && now - *started_at_ < config_.wanted_interval * static_cast<int>(pages_))
    return false;
  // After a failure, not at once again: packets that need a key wait for the next try (backoff).
  if (retry_at_ && now < *retry_at_) return false;
  wanted_ = false;
  started_at_ = now;
  listing_ = true;
  ++listings_;
  return true;
}

std::vector<Address> PeerDirectory::take_lookups() {
  std::vector<Address> out(waiting_order_.begin(), waiting_order_.end());
  for (const auto& a : wanted_senders_)
    if (!waiting_.contains(a)) out.push_back(a);
  wanted_senders_.clear();
  return out;
}

bool Coverage::covers(const Address& a) const {
  return complete || (below && a < *below) || std::find(looked_up.begin(), looked_up.end(), a) != looked_up.end();
}

std::vector<Resolved> PeerDirectory::release(const Coverage& coverage, Clock::time_point now) {
  std::vector<Resolved> out;
  out.reserve(waiting_order_.size());
  for (const auto& dst : waiting_order_) {
    auto it = waiting_.find(dst);
    if (it == waiting_.end()) continue;
    bool present = knows(dst, now) && (!config_.need_keys || key_of(dst));
    // Absent only if a listing read the address whole and found nothing: an address listed without a
    // key we can use (several records: a rotation, or junk under it) is there, just not reachable yet.
    const bool proven = coverage.covers(dst) && !knows(dst, now);
    // Not read, so not proven absent: without keys to wait for, sent as before the directory (fail open).
    if (!present && !proven && !config_.need_keys) present = true;
    out.push_back({dst, present, std::move(it->second), !present && !proven});
  }
  waiting_.clear();
  waiting_order_.clear();
  return out;
}

std::vector<Resolved> PeerDirectory::on_listed(const std::vector<PeerKey>& present, const Coverage& coverage,
                                               Clock::time_point now) {
  listing_ = false;
  const bool complete = coverage.complete;
  if (complete) {
    failures_in_row_ = 0;
    retry_at_.reset();
  } else {
    back_off(now, 1.0); // more records than a listing reads (junk, perhaps): not again at once either
  }
  std::erase_if(present_, [&](const auto& p) { return p.second <= now; });
  std::map<Address, std::vector<PublicKey>> by_address; // a listing may show two records for one node
  for (const auto& pk : present) {
    auto& keys = by_address[pk.address];
    if (std::find(keys.begin(), keys.end(), pk.key) == keys.end()) keys.push_back(pk.key); // read twice: one record
  }
  for (const auto& [address, listed] : by_address) {
    remember(address, now);
    learn(address, listed, now);
  }
  if (complete) {
    listed_at_ = now;
    failed_at_.reset();
  } else {
    failed_at_ = now; // more nodes than pages read: absence cannot be told
  }
  return release(coverage, now);
}

void PeerDirectory::back_off(Clock::time_point now, double random01) {
  const unsigned doublings = std::min(failures_in_row_++, 16u);
  const auto wait = std::min<Duration>(config_.retry_first * (1 << doublings), config_.fail_open);
  // Between half and all of it: a fleet whose listings failed together does not retry together.
  retry_at_ = now + std::chrono::duration_cast<Duration>(wait * (0.5 + 0.5 * std::clamp(random01, 0.0, 1.0)));
}

std::vector<Resolved> PeerDirectory::on_list_failed(Clock::time_point now, double random01) {
  listing_ = false;
  ++listing_failures_;
  failed_at_ = now;
  back_off(now, random01);
  // S3 trouble is no proof of absence: what waited goes out; but without keys nothing can be sealed,
  // so with identity sealing those packets wait for the next listing (bounded queues).
  if (config_.need_keys) {
    std::vector<Resolved> out;
    for (auto it = waiting_order_.begin(); it != waiting_order_.end();) {
      if (knows(*it, now) && key_of(*it)) {
        out.push_back({*it, true, std::move(waiting_[*it])});
        waiting_.erase(*it);
        it = waiting_order_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }
  return release(Coverage{}, now);
}

std::optional<Clock::time_point> PeerDirectory::next_listing() const {
  if (listing_ || waiting_.empty()) return std::nullopt;
  return retry_at_.value_or(Clock::time_point{}); // (no backoff: due now)
}

void PeerDirectory::on_heard(const Address& src, Clock::time_point now) {
  remember(src, now);
  if (auto it = keys_.find(src); it != keys_.end() && !it->second.heard) {
    it->second.heard = true;
    known_changed_ = true; // it moves ahead in the known peers
  }
}

bool PeerDirectory::allow_unreachable(Clock::time_point now) {
  if (now > tokens_at_) {
    double gained = std::chrono::duration<double>(now - tokens_at_) /
                    std::chrono::duration<double>(config_.unreachable_refill);
    tokens_ = std::min<double>(config_.unreachable_burst, tokens_ + gained);
    tokens_at_ = now;
  }
  if (tokens_ >= 1) {
    tokens_ -= 1;
    return true;
  }
  ++unreachable_limited_;
  return false;
}

} // namespace hoshino::core

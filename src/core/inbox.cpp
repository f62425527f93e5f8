#include "core/inbox.hpp"

#include <algorithm>

#include "core/bundle.hpp"

namespace hoshino::core {
namespace {
// A poll is worth its GET only if the room left can hold a packet or so.
constexpr std::uint64_t kMinPollBytes = 64 * 1024;
} // namespace

std::string_view to_string(DropReason r) {
  switch (r) {
    case DropReason::malformed_key: return "malformed_key";
    case DropReason::malformed_body: return "malformed_body";
    case DropReason::too_old: return "too_old";
    case DropReason::stale: return "stale";
    case DropReason::not_ipv6: return "not_ipv6";
    case DropReason::wrong_destination: return "wrong_destination";
    case DropReason::spoofed_source: return "spoofed_source";
    case DropReason::fetch_failed: return "fetch_failed";
    case DropReason::oversized: return "oversized";
    case DropReason::unsealed: return "unsealed";
    case DropReason::sealed_without_key: return "sealed_without_key";
    case DropReason::bad_seal: return "bad_seal";
    case DropReason::replayed: return "replayed";
    case DropReason::from_future: return "from_future";
    case DropReason::unknown_key: return "unknown_key";
  }
  return "unknown";
}

std::string_view to_string(NotTracked r) {
  switch (r) {
    case NotTracked::sender_share: return "sender_share";
    case NotTracked::inbox_full: return "inbox_full";
    case NotTracked::evicted: return "evicted";
  }
  return "unknown";
}

std::string_view to_string(Budget b) { return b == Budget::sender_bytes ? "sender_bytes" : "node_bytes"; }

Inbox::Inbox(InboxConfig config)
    : config_(std::move(config)), prefix_(inbox_prefix(config_.key_prefix, config_.self)), replay_(config_.replay) {}

std::uint64_t Inbox::fingerprint(std::string_view key, std::uint64_t size) const {
  // FNV-1a from a per-process random basis, then a splitmix64 finish: 8 bytes per remembered key instead
  // of the key (inlined keys are up to 1 KiB), and collisions cannot be aimed without the basis.
  std::uint64_t h = config_.fingerprint_seed ^ 0xcbf29ce484222325ULL;
  for (unsigned char c : key) h = (h ^ c) * 0x100000001b3ULL;
  for (int i = 0; i < 8; ++i) h = (h ^ ((size >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

void Inbox::consume(const std::string& key, std::uint64_t size) {
  if (std::uint64_t f = fingerprint(key, size); consumed_.insert(f).second) {
    consumed_order_.push_back(f);
    while (consumed_order_.size() > config_.remember) {
      consumed_.erase(consumed_order_.front());
      consumed_order_.pop_front();
    }
  }
  if (deleting_.insert(key).second) deletions_.push_back(key);
}

Inbox::Entry* Inbox::admit(const std::string& key, std::uint64_t size, std::uint64_t now_ms, ObjectKey& parsed) {
  // Refused for good: counted, and deleted like a consumed object (it is never read).
  auto refuse = [&](DropReason r) -> Entry* {
    drop(r);
    consume(key, size);
    return nullptr;
  };
  auto p = parse_key(config_.key_prefix, key);
  // A sender outside our /64 is nobody we could answer: refused before it costs a GET or a slot.
  if (!p || p->dst != config_.self || !std::equal(p->src.bytes.begin(), p->src.bytes.begin() + 8, config_.self.bytes.begin()))
    return refuse(DropReason::malformed_key);
  std::uint64_t t = p->id.time_ms();
  if (now_ms > t && now_ms - t > config_.max_age_ms) return refuse(DropReason::too_old);
  if (t > now_ms + config_.max_future_ms) return refuse(DropReason::from_future);
  if (t + config_.startup_grace_ms < config_.start_ms) return refuse(DropReason::stale);
  if (size > config_.max_object_bytes) return refuse(DropReason::oversized);
  if (replay_.seen(p->src, p->id)) return refuse(DropReason::replayed);
  auto q = senders_.find(p->src);
  // Another spelling of this object is being handled: it takes no second slot. Once that one is
  // consumed, this one is refused as replayed; if that one fails its checks, this one gets its turn.
  if (q != senders_.end() && q->second.contains(p->id)) {
    // An inline spelling is judged at once (no GET needed): one that does not open or decode is refused
    // and deleted, so a thousand junk spellings of one ULID cannot sit in the listing, LIST after LIST.
    if (!p->inline_body.empty()) {
      std::string_view body = p->inline_body;
      Bytes opened;
      bool wait = false;
      auto refused = open_body(p->src, p->id, base_of(config_.key_prefix, key), body, opened, &wait);
      if (wait) return nullptr; // judged once the key is known (a later listing offers it again)
      if (!refused && !decode_body(body)) refused = DropReason::malformed_body;
      if (refused) return refuse(*refused);
    }
    return nullptr;
  }
  // No slot: the next LIST offers it again.
  if (q != senders_.end() && q->second.size() >= config_.max_tracked_per_sender) {
    ++not_tracked_[static_cast<std::size_t>(NotTracked::sender_share)];
    return nullptr;
  }
  if (tracked_ >= config_.max_tracked && !make_room(p->src)) {
    ++not_tracked_[static_cast<std::size_t>(NotTracked::inbox_full)];
    return nullptr;
  }
  parsed = std::move(*p);
  if (q == senders_.end()) q = senders_.try_emplace(parsed.src).first;
  auto it = q->second.emplace(parsed.id, Entry{.key = key, .size = size}).first;
  where_.emplace(key, parsed.src);
  ++tracked_;
  return &it->second;
}

bool Inbox::make_room(const Address& sender) {
  const bool proven = replay_.knows(sender);
  auto mine_q = senders_.find(sender);
  const std::size_t mine = mine_q == senders_.end() ? 0 : mine_q->second.size();
  const std::size_t share = config_.max_tracked / (senders_.size() + (mine_q == senders_.end() ? 1 : 0));
  // Victims: senders we never received from before those we did (if this one is proven), then those
  // holding the most; the first that may give up a slot gives its latest object that is only listed
  // (not being fetched or held).
  std::vector<std::pair<std::pair<bool, std::size_t>, std::map<Address, SenderQueue>::iterator>> ranked;
  for (auto it = senders_.begin(); it != senders_.end(); ++it)
    if (it->first != sender) ranked.push_back({{proven && !replay_.knows(it->first), it->second.size()}, it});
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (const auto& [rank, victim] : ranked) {
    const bool over_junk = rank.first;
    if (!over_junk && !(mine < share && rank.second > mine + 1)) return false; // none further down may either
    auto& queue = victim->second;
    for (auto it = queue.rbegin(); it != queue.rend(); ++it) {
      Entry& e = it->second;
      if (e.state != State::listed) continue;
      end_retry_wait(e);
      where_.erase(e.key);
      queue.erase(std::next(it).base());
      --tracked_;
      if (queue.empty()) senders_.erase(victim);
      ++not_tracked_[static_cast<std::size_t>(NotTracked::evicted)];
      return true;
    }
  }
  return false;
}

void Inbox::count_bytes(const Address& sender, Entry& e, std::uint64_t bytes) {
  if (bytes == e.undelivered) return;
  undelivered_total_ = undelivered_total_ - e.undelivered + bytes;
  auto& mine = undelivered_by_[sender];
  mine = mine - e.undelivered + bytes;
  if (mine == 0) undelivered_by_.erase(sender);
  e.undelivered = bytes;
  undelivered_peak_ = std::max(undelivered_peak_, undelivered_total_);
}

std::optional<Budget> Inbox::over_budget(const Address& sender, std::uint64_t size, bool is_head) const {
  auto it = undelivered_by_.find(sender);
  const std::uint64_t mine = it == undelivered_by_.end() ? 0 : it->second;
  // A sender's first object is what hands over the rest of its objects: it may pass the sender's bound,
  // and the node's by one object at most (so one stuck sender cannot stop every other).
  if (!is_head && mine + size > config_.max_undelivered_bytes_per_sender) return Budget::sender_bytes;
  const std::uint64_t node = config_.max_undelivered_bytes + (is_head ? config_.max_object_bytes : 0);
  if (undelivered_total_ + size > node) return Budget::node_bytes;
  return std::nullopt;
}

std::uint64_t Inbox::fetch_limit(const std::string& key) const {
  auto w = where_.find(key);
  if (w == where_.end()) return config_.max_object_bytes;
  auto q = senders_.find(w->second);
  auto p = parse_key(config_.key_prefix, key);
  if (q == senders_.end() || !p) return config_.max_object_bytes;
  auto it = q->second.find(p->id);
  if (it == q->second.end()) return config_.max_object_bytes;
  return std::clamp<std::uint64_t>(it->second.size, 1, config_.max_object_bytes); // (0 would mean no cap)
}

std::size_t Inbox::on_listed(const std::vector<ListedObject>& objects, std::uint64_t now_ms) {
  std::size_t fresh = 0;
  for (const auto& [key, size] : objects) {
    if (handled(key, size)) {
      // Consumed before but still there: its delete failed or raced this listing. Delete it (again).
      if (deleting_.insert(key).second) deletions_.push_back(key);
      continue;
    }
    if (where_.contains(key)) continue; // already being handled
    ObjectKey parsed;
    Entry* e = admit(key, size, now_ms, parsed);
    if (!e) continue;
    ++fresh;
    if (!parsed.inline_body.empty()) {
      // The body is in the key: nothing to fetch. It still waits for earlier objects of its sender.
      ++inlined_objects_;
      e->in_key = true;
      unpack(*e, parsed.src, parsed.id, base_of(config_.key_prefix, key), parsed.inline_body, now_ms);
    }
  }
  // After the whole listing, so order within it holds: new inline objects, and objects whose wait for
  // a predecessor may be over.
  advance_ready(now_ms);
  return fresh;
}

void Inbox::advance_ready(std::uint64_t now_ms) {
  std::vector<Address> ready;
  for (const auto& [sender, queue] : senders_)
    if (queue.begin()->second.state == State::ready) ready.push_back(sender);
  for (const auto& sender : ready) advance(sender, now_ms);
}

void Inbox::forget_expired_chains(std::uint64_t now_ms) {
  std::erase_if(chains_, [&](const auto& c) { return now_ms - c.second.since_ms >= config_.chain_ttl_ms; });
}

bool Inbox::chained(std::uint64_t now_ms) {
  forget_expired_chains(now_ms);
  return std::any_of(chains_.begin(), chains_.end(), [](const auto& c) { return !c.second.answered; });
}

std::optional<std::string> Inbox::pollable(const Address& sender, const Announced& a) const {
  std::string key = format_key(config_.key_prefix, {config_.self, sender, a.next});
  // Answered already (its body announces the next; junk is not asked again until the chain's time is
  // up), found by a LIST, consumed (its successor is not announced yet), or being asked.
  if (a.answered || where_.contains(key) || replay_.seen(sender, a.next) || polling_.contains(key)) return std::nullopt;
  // Polled bodies count against the byte budgets like fetched ones: no room, no poll (a LIST finds it).
  if (room_for(sender) < std::min(kMinPollBytes, config_.max_object_bytes)) return std::nullopt;
  return key;
}

std::uint64_t Inbox::room_for(const Address& sender) const {
  auto it = undelivered_by_.find(sender);
  const std::uint64_t mine = it == undelivered_by_.end() ? 0 : it->second;
  const std::uint64_t sender_room =
      mine >= config_.max_undelivered_bytes_per_sender ? 0 : config_.max_undelivered_bytes_per_sender - mine;
  const std::uint64_t node_room =
      undelivered_total_ >= config_.max_undelivered_bytes ? 0 : config_.max_undelivered_bytes - undelivered_total_;
  return std::min({sender_room, node_room, config_.max_object_bytes});
}

void Inbox::end_poll(const std::string& key) {
  auto it = polling_.find(key);
  if (it == polling_.end()) return;
  const auto [sender, reserved] = it->second;
  polling_.erase(it);
  undelivered_total_ -= reserved;
  if (auto m = undelivered_by_.find(sender); m != undelivered_by_.end()) {
    m->second -= reserved;
    if (m->second == 0) undelivered_by_.erase(m);
  }
}

std::uint64_t Inbox::poll_limit(const std::string& key) const {
  auto it = polling_.find(key);
  return it == polling_.end() ? config_.max_object_bytes : it->second.reserved;
}

std::vector<std::string> Inbox::start_polls(std::uint64_t now_ms) {
  forget_expired_chains(now_ms);
  std::vector<std::string> out;
  for (const auto& [sender, announced] : chains_) {
    if (announced.poll_at_ms > now_ms) continue;
    auto key = pollable(sender, announced);
    if (!key) continue;
    const std::uint64_t room = room_for(sender);
    polling_.emplace(*key, Polling{sender, room});
    undelivered_total_ += room; // reserved while it is asked
    undelivered_by_[sender] += room;
    undelivered_peak_ = std::max(undelivered_peak_, undelivered_total_);
    out.push_back(std::move(*key));
  }
  return out;
}

bool Inbox::polls_due(std::uint64_t now_ms) {
  forget_expired_chains(now_ms);
  for (const auto& [sender, announced] : chains_)
    if (announced.poll_at_ms <= now_ms && pollable(sender, announced)) return true;
  return false;
}

std::optional<std::uint64_t> Inbox::next_poll_ms(std::uint64_t now_ms) {
  forget_expired_chains(now_ms);
  std::optional<std::uint64_t> next;
  for (const auto& [sender, announced] : chains_)
    if (announced.poll_at_ms > now_ms && (!next || announced.poll_at_ms < *next) && pollable(sender, announced))
      next = announced.poll_at_ms;
  return next;
}

void Inbox::on_polled(const std::string& key, std::string_view body, std::uint64_t now_ms) {
  end_poll(key);
  ++poll_hits_;
  // The announced key has answered: it is not asked again (an authentic body announces the next one;
  // anything else would otherwise be fetched on every beat until the chain's time is up).
  if (auto k = parse_key(config_.key_prefix, key)) {
    if (auto c = chains_.find(k->src); c != chains_.end() && c->second.next == k->id) c->second.answered = true;
  }
  if (handled(key, body.size())) return;
  Address sender;
  Ulid id;
  if (Entry* listed = find(key, &sender, &id)) {
    // A LIST found it meanwhile. Not fetched yet: this body saves the GET; being fetched: let that be.
    if (listed->state != State::listed) return;
    unpack(*listed, sender, id, key, body, now_ms);
    advance(sender, now_ms);
    return;
  }
  ObjectKey parsed;
  Entry* e = admit(key, body.size(), now_ms, parsed);
  if (!e) return;
  unpack(*e, parsed.src, parsed.id, key, body, now_ms);
  advance(parsed.src, now_ms);
}

void Inbox::on_poll_missed(const std::string& key, bool failed, std::uint64_t now_ms) {
  end_poll(key);
  ++(failed ? poll_errors_ : poll_misses_);
  // A stream's object is late: ask again after an eighth of its cadence, not at once.
  if (auto k = parse_key(config_.key_prefix, key)) {
    if (auto c = chains_.find(k->src); c != chains_.end() && c->second.next == k->id) {
      auto& a = c->second;
      if (streaming(a)) {
        a.poll_at_ms = now_ms + std::max<std::uint64_t>(1, a.gap_ms / 8);
      } else {
        // An error waits too: a SlowDown must not be answered with the next GET at once.
        a.poll_at_ms = now_ms + config_.conversation_poll_wait_ms;
      }
    }
  }
}

void Inbox::on_sent_to(const Address& peer) {
  if (auto c = chains_.find(peer); c != chains_.end() && !streaming(c->second)) {
    c->second.poll_at_ms = 0;
  }
}

void Inbox::on_poll_too_large(const std::string& key, std::uint64_t now_ms) {
  const std::uint64_t limit = poll_limit(key);
  end_poll(key);
  ++poll_errors_;
  if (where_.contains(key)) return; // listed meanwhile: its own GET decides
  if (limit < config_.max_object_bytes) { // larger than the room it had: a LIST and a GET take it
    if (auto k = parse_key(config_.key_prefix, key))
      if (auto c = chains_.find(k->src); c != chains_.end() && c->second.next == k->id) c->second.answered = true;
    return;
  }
  ObjectKey parsed;
  admit(key, config_.max_object_bytes + 1, now_ms, parsed); // refused as oversized, and deleted
}

void Inbox::announce(const Address& sender, const Ulid& of, const Ulid& next, std::uint64_t now_ms) {
  if (!(of < next)) return; // a successor sorts after its object: anything else would poll in circles
  auto it = chains_.find(sender);
  if (it != chains_.end()) {
    auto& a = it->second;
    if (!(a.next < next)) return; // an older object's news is no news
    // The sender's cadence, from the times its ULIDs carry (when it made its objects), not from when
    // they arrived here: arrival times follow how fast we poll, and would feed back into it.
    std::uint64_t made = of.time_ms(), before = a.of_ms;
    if (before != 0 && made >= before) {
      std::uint64_t gap = std::max<std::uint64_t>(made - before, 1);
      a.gap_ms = a.gap_ms == 0 ? gap : std::max<std::uint64_t>((a.gap_ms * 3 + gap) / 4, 1);
    }
    a.of_ms = made;
    a.next = next;
    a.since_ms = now_ms;
    a.answered = false;
    a.poll_at_ms = 0; // at once: in a stream the next object is often there already (pipelined PUTs)
    return;
  }
  if (chains_.size() >= config_.max_chains) forget_expired_chains(now_ms);
  if (chains_.size() >= config_.max_chains) return; // that sender is found by LIST
  chains_.emplace(sender, Announced{next, now_ms, 0, 0, false, of.time_ms()});
}

std::vector<std::string> Inbox::start_fetches(std::uint64_t now_ms) {
  std::vector<std::string> out;
  std::vector<Address> reread; // senders with an inline object judged again here
  for (auto& [sender, queue] : senders_) {
    for (auto& [id, e] : queue) {
      if (e.state != State::listed || e.retry_at_ms > now_ms || !e.in_key) continue;
      // Waited for its sender's key: its body is in the key, no GET.
      ++e.attempts;
      auto p = parse_key(config_.key_prefix, e.key);
      unpack(e, sender, id, base_of(config_.key_prefix, e.key), p ? std::string_view(p->inline_body) : "", now_ms);
      if (e.state == State::ready) reread.push_back(sender);
    }
  }
  for (const auto& sender : reread) advance(sender, now_ms);
  // GETs: senders we have received from before first (they hold a key; junk under made-up senders never
  // does), then the others; one object per sender per round, going round from where the last call
  // stopped, so that one sender's flood cannot starve another's objects; each sender's earliest first.
  std::vector<Address> order;
  order.reserve(senders_.size());
  const auto start = senders_.upper_bound(served_last_);
  for (auto it = start; it != senders_.end(); ++it) order.push_back(it->first);
  for (auto it = senders_.begin(); it != start; ++it) order.push_back(it->first);
  const auto known_end =
      std::stable_partition(order.begin(), order.end(), [&](const Address& a) { return replay_.knows(a); });
  auto next_of = [&](SenderQueue& queue) -> Entry* {
    for (auto& [id, e] : queue)
      if (e.state == State::listed && !e.in_key && e.retry_at_ms <= now_ms) return &e;
    return nullptr;
  };
  // One slot is kept for senders not heard from before while one of them has something to fetch: a
  // known sender's flood must not starve a new peer's first object (junk gets that slot too: bounded).
  bool newcomer_waits = false;
  for (auto it = known_end; it != order.end() && !newcomer_waits; ++it)
    if (auto q = senders_.find(*it); q != senders_.end() && next_of(q->second)) newcomer_waits = true;
  const std::size_t known_slots =
      newcomer_waits && config_.max_concurrent_gets >= 2 ? config_.max_concurrent_gets - 1 : config_.max_concurrent_gets;
  for (bool progress = true; progress && fetching_ < config_.max_concurrent_gets;) {
    progress = false;
    for (auto it = order.begin(); it != order.end(); ++it) {
      const Address& sender = *it;
      if (fetching_ >= config_.max_concurrent_gets) break;
      if (it < known_end && fetching_ >= known_slots) continue;
      auto q = senders_.find(sender);
      if (q == senders_.end()) continue;
      Entry* pick = next_of(q->second);
      if (!pick) continue;
      const std::uint64_t size = std::max<std::uint64_t>(pick->size, 1); // as listed (admit refused larger)
      if (auto over = over_budget(sender, size, pick == &q->second.begin()->second)) {
        if (!pick->deferred) ++deferred_[static_cast<std::size_t>(*over)];
        pick->deferred = true;
        continue;
      }
      end_retry_wait(*pick);
      pick->state = State::fetching;
      ++pick->attempts;
      ++fetching_;
      ++fetches_;
      count_bytes(sender, *pick, size);
      out.push_back(pick->key);
      served_last_ = sender;
      progress = true;
    }
  }
  return out;
}

Inbox::Entry* Inbox::find(const std::string& key, Address* sender, Ulid* id) {
  auto w = where_.find(key);
  if (w == where_.end()) return nullptr;
  auto ulid = parse_key(config_.key_prefix, key)->id;
  auto q = senders_.find(w->second); // never operator[]: an empty queue would break "begin() is the head"
  if (q == senders_.end()) return nullptr;
  auto it = q->second.find(ulid);
  if (it == q->second.end()) return nullptr;
  if (sender) *sender = w->second;
  if (id) *id = ulid;
  return &it->second;
}

void Inbox::on_fetched(const std::string& key, std::string_view body, std::uint64_t now_ms) {
  Address sender;
  Ulid id;
  Entry* e = find(key, &sender, &id);
  if (!e || e->state != State::fetching) return;
  --fetching_;
  unpack(*e, sender, id, key, body, now_ms);
  advance(sender, now_ms);
}

std::optional<DropReason> Inbox::open_body(const Address& sender, const Ulid& id, std::string_view base_key,
                                           std::string_view& body, Bytes& opened, bool* wait) const {
  if (config_.pair_key) {
    if (!is_sealed(body)) return DropReason::unsealed;
    auto ids = sealed_ids(body);
    if (!ids) return DropReason::bad_seal;
    auto found = config_.pair_key(sender, *ids, id.time_ms());
    if (found.status == KeyLookup::Status::wait) {
      *wait = true;
      return std::nullopt;
    }
    if (found.status == KeyLookup::Status::refuse) return DropReason::unknown_key;
    auto plain = open_sealed(found.key, base_key, body);
    if (!plain) return DropReason::bad_seal;
    opened = std::move(plain).value();
    body = opened;
  } else if (config_.psk) {
    auto plain = open_sealed(*config_.psk, base_key, body);
    if (!plain) return plain.error() == SealError::not_sealed ? DropReason::unsealed : DropReason::bad_seal;
    opened = std::move(plain).value();
    body = opened;
  } else if (is_sealed(body)) {
    return DropReason::sealed_without_key;
  }
  return std::nullopt;
}

void Inbox::unpack(Entry& e, const Address& sender, const Ulid& id, std::string_view base_key,
                   std::string_view body, std::uint64_t now_ms) {
  Bytes opened;
  bool wait = false;
  std::optional<DropReason> refused = open_body(sender, id, base_key, body, opened, &wait);
  end_retry_wait(e); // a poll may bring the body while it waits for a retry
  if (wait) {
    std::uint64_t t = id.time_ms();
    if (now_ms <= t || now_ms - t <= config_.max_age_ms) {
      // The sender's key is on its way (a listing of the peers): tried again when that listing ends
      // (retry_key_waits), or after retry_max_ms; not on the GET backoff, which would GET it again and again.
      ++key_waits_;
      end_retry_wait(e);
      e.state = State::listed;
      e.key_wait = true;
      e.retry_at_ms = now_ms + config_.retry_max_ms;
      ++retrying_;
      count_bytes(sender, e, 0);
      return;
    }
    refused = DropReason::unknown_key; // waited as long as an object may live
  }
  e.key_wait = false;
  e.state = State::ready;
  e.ready_ms = now_ms;
  if (refused) {
    drop(*refused);
    count_bytes(sender, e, 0);
    return;
  }
  auto bundle = decode_body(body);
  if (!bundle) {
    drop(DropReason::malformed_body);
  } else {
    e.authentic = true;
    e.after = bundle->after;
    if (bundle->next) announce(sender, id, *bundle->next, now_ms);
    for (auto& p : bundle->packets) {
      auto h = parse_ipv6(p);
      if (!h) drop(DropReason::not_ipv6);
      else if (h->dst != config_.self) drop(DropReason::wrong_destination);
      else if (h->src != sender) drop(DropReason::spoofed_source);
      else e.packets.push_back(std::move(p));
    }
  }
  std::uint64_t bytes = 0;
  for (const auto& p : e.packets) bytes += p.size();
  count_bytes(sender, e, bytes); // until handed over
}

void Inbox::on_fetch_failed(const std::string& key, FetchError error, std::uint64_t now_ms) {
  Address sender;
  Ulid id;
  Entry* e = find(key, &sender, &id);
  if (!e || e->state != State::fetching) return;
  --fetching_;
  std::uint64_t t = id.time_ms();
  bool young = now_ms <= t || now_ms - t <= config_.max_age_ms;
  count_bytes(sender, *e, 0);
  if (error == FetchError::transient && young) {
    retry_later(*e, now_ms);
    return;
  }
  drop(error == FetchError::too_large ? DropReason::oversized : DropReason::fetch_failed);
  e->state = State::ready; // with no packets: skipped in order
  e->ready_ms = now_ms;
  advance(sender, now_ms);
}

void Inbox::retry_key_waits(std::uint64_t now_ms) {
  for (auto& [sender, queue] : senders_)
    for (auto& [id, e] : queue)
      if (e.key_wait && e.state == State::listed && e.retry_at_ms > now_ms) e.retry_at_ms = std::max<std::uint64_t>(now_ms, 1);
}

void Inbox::retry_later(Entry& e, std::uint64_t now_ms) {
  int doublings = std::min(std::max(e.attempts, 1) - 1, 20);
  std::uint64_t delay = std::min(config_.retry_max_ms, config_.retry_base_ms << doublings);
  end_retry_wait(e);
  e.state = State::listed;
  e.retry_at_ms = now_ms + std::max<std::uint64_t>(delay, 1);
  ++retrying_;
}

void Inbox::advance(const Address& sender, std::uint64_t now_ms) {
  auto q = senders_.find(sender);
  if (q == senders_.end()) return;
  auto& queue = q->second;
  while (!queue.empty() && queue.begin()->second.state == State::ready) {
    auto& [id, e] = *queue.begin();
    if (e.after && !passed(sender, *e.after)) {
      // Its predecessor's PUT has not become visible yet. Wait for it, briefly: TCP takes a late
      // segment as loss (duplicate ACKs, a halved window), a few milliseconds' wait costs it little.
      if (now_ms < e.ready_ms + config_.reorder_hold_ms) {
        if (!e.held) ++held_;
        e.held = true;
        break;
      }
      ++hold_expired_;
    }
    if (!e.packets.empty()) {
      ++delivered_objects_;
      std::size_t bytes = 0;
      for (const auto& p : e.packets) bytes += p.size();
      delivered_from_.emplace_back(sender, bytes);
    }
    note_passed(sender, id, !e.packets.empty());
    for (auto& p : e.packets) deliveries_.push_back(std::move(p));
    // Only an object that passed its checks consumes its identity: a squatter's refused object at a
    // sender's key must not make the real one (under another spelling or, overwritten, this one) a replay.
    if (e.authentic) replay_.accept(sender, id, now_ms);
    count_bytes(sender, e, 0);
    consume(e.key, e.size);
    where_.erase(e.key);
    --tracked_;
    queue.erase(queue.begin());
  }
  if (queue.empty()) senders_.erase(q);
}

bool Inbox::passed(const Address& sender, const Ulid& id) const {
  auto it = last_passed_.find(sender);
  return it != last_passed_.end() && id <= it->second;
}

void Inbox::note_passed(const Address& sender, const Ulid& id, bool delivered) {
  // An object older than one already handed over from the same sender became visible too late (its
  // PUT took longer than a later one's plus the hold). It is still delivered (TCP copes with reordering
  // better than with loss), and counted. Bounded: cleared rather than grown without limit.
  if (last_passed_.size() >= 4096 && !last_passed_.contains(sender)) last_passed_.clear();
  auto [it, added] = last_passed_.try_emplace(sender, id);
  if (added) return;
  if (id < it->second) out_of_order_ += delivered ? 1 : 0;
  else it->second = id;
}

std::vector<Bytes> Inbox::take_deliveries() { return std::exchange(deliveries_, {}); }

void Inbox::on_fetch_abandoned(const std::string& key) {
  Address sender;
  Entry* e = find(key, &sender);
  if (!e || e->state != State::fetching) return;
  --fetching_;
  count_bytes(sender, *e, 0);
  e->state = State::listed;
}

bool Inbox::holding() const {
  for (const auto& [sender, queue] : senders_)
    if (queue.begin()->second.held) return true;
  return false;
}

std::optional<std::uint64_t> Inbox::next_wakeup_ms() const {
  std::optional<std::uint64_t> next;
  auto consider = [&](std::uint64_t t) {
    if (!next || t < *next) next = t;
  };
  // While every GET slot is taken, a due retry waits for one to free (each GET's end looks again).
  const bool can_fetch = fetching_ < config_.max_concurrent_gets;
  for (const auto& [sender, queue] : senders_) {
    const Entry& head = queue.begin()->second;
    if (head.held) consider(head.ready_ms + config_.reorder_hold_ms);
    if (retrying_ == 0) continue;
    // Inline objects waiting for a key need no GET slot.
    for (const auto& [id, e] : queue)
      if (e.state == State::listed && e.retry_at_ms != 0 && (can_fetch || e.in_key)) consider(e.retry_at_ms);
  }
  return next;
}

std::vector<std::string> Inbox::take_deletions(std::size_t max) {
  std::vector<std::string> out;
  while (!deletions_.empty() && out.size() < max) {
    out.push_back(std::move(deletions_.front()));
    deletions_.pop_front();
  }
  return out;
}

void Inbox::on_deleted(const std::vector<std::string>& keys) {
  for (const auto& k : keys) deleting_.erase(k);
}

} // namespace hoshino::core

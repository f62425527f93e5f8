// Ingress: the heartbeat's steps, carried out, and what they find handed to the kernel.
//   beat (IngressSchedule) -> LIST <prefix>/<self>/ (Listing) | GET announced keys | GET the bell (BellWatch)
//       -> Inbox -> GET -> Inbox (order, checks) -> device.write(); DeleteObjects of what was consumed
#include "node/node.hpp"

#include "core/ring.hpp"

#include "core/keys.hpp"
#include "core/listing.hpp"
#include "util/log.hpp"
#include "util/timer.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

namespace hoshino::node {

core::InboxView Node::inbox_view() {
  std::uint64_t now = now_ms();
  auto mono = Clock::now();
  auto at = [&](std::uint64_t ms) { return mono + std::chrono::milliseconds(ms > now ? ms - now : 0); };
  core::InboxView v;
  v.chained = inbox_.chained(now);
  v.polls_due = inbox_.polls_due(now);
  if (auto p = inbox_.next_poll_ms(now)) v.next_poll = at(*p);
  v.holding = inbox_.holding();
  v.fetching = inbox_.fetching();
  if (auto w = inbox_.next_wakeup_ms()) v.wakeup = at(*w);
  v.pending_deletions = inbox_.pending_deletions();
  return v;
}

void Node::after_beat() {
  metrics_.beat_interval_seconds = std::chrono::duration<double>(
      schedule_.idle(Clock::now()) ? schedule_.config().bell_interval : schedule_.pace().interval()).count();
  if (clock_) {
    metrics_.clock_offset_seconds = static_cast<double>(clock_->estimate_ms()) / 1000;
    metrics_.clock_outliers = clock_->outliers();
  }
  metrics_.ulid_restarts = chain_.ulid_restarts();
  metrics_.bells_found = schedule_.rings_found();
  metrics_.bells_empty = schedule_.rings_empty();
  metrics_.bells_limited = schedule_.rings_limited();
}

asio::awaitable<void> Node::check_bell() {
  metrics_.request(store::OpKind::get);
  auto known = bell_.etag_to_send();
  auto r = co_await store_.watch(bell_key_, known, 1024);
  if (stopping_) co_return;
  core::BellWatch::Outcome seen;
  std::optional<core::Address> ringer;
  if (r) {
    s3_succeeded();
    seen = bell_.on_answer(r->changed, r->etag);
    if (seen.conditional_ignored)
      log::warn("the S3 server ignores If-None-Match on GET: the doorbell compares ETags itself");
    if (seen.result == core::BellCheck::rang) ringer = proven_ringer(r->body);
  } else {
    seen = bell_.on_error(r.error());
    if (seen.report) s3_failed(store::OpKind::get, r.error());
  }
  if (ringer) ++metrics_.bells_proven;
  schedule_.on_bell(seen.result, Clock::now(), ringer);
  after_beat();
  heartbeat_.poke();
}

// The polls of one beat, in parallel; the beat ends when all have answered.
struct Node::PollRound {
  explicit PollRound(asio::io_context& io) : done(io, Clock::time_point::max()) {}
  Timer done; // cancelled when the last poll answers
  std::size_t pending = 0;
  std::size_t hits = 0;
  bool failed = false;
};

asio::awaitable<void> Node::poll_round(std::vector<std::string> keys) {
  auto round = std::make_shared<PollRound>(io_);
  round->pending = keys.size();
  for (auto& key : keys) spawn(poll_key(std::move(key), round));
  if (round->pending > 0) co_await round->done.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  if (stopping_) co_return;
  schedule_.on_polled(round->hits, round->failed, Clock::now());
  after_beat();
  heartbeat_.poke();
}

asio::awaitable<void> Node::poll_key(std::string key, std::shared_ptr<PollRound> round) {
  metrics_.request(store::OpKind::get);
  const std::uint64_t limit = inbox_.poll_limit(key); // the room the byte budgets reserved for it
  auto body = co_await store_.get(key, limit);
  if (stopping_) {
    // The device is closed: nothing read now could be delivered, so nothing is taken (the object
    // stays in the bucket for the next start).
    inbox_.on_poll_missed(key, true, now_ms());
  } else if (body) {
    ++round->hits;
    ++metrics_.ingress.objects;
    inbox_.on_polled(key, *body, now_ms());
    report_seal_mismatch(key);
  } else {
    // Not there yet (the S3 error policy's `missing`: also S3's 403 to callers without s3:ListBucket). A
    // real refusal of GetObject still shows: the GETs after LISTs report it. Bad credentials are not a miss.
    const auto& e = body.error();
    auto fault = core::classify_s3_error(e, true);
    bool absent = fault == core::S3Fault::missing;
    if (!absent) {
      round->failed = true;
      s3_failed(store::OpKind::get, e);
    }
    if (fault == core::S3Fault::too_large) inbox_.on_poll_too_large(key, now_ms());
    else inbox_.on_poll_missed(key, !absent, now_ms());
  }
  act_on_inbox();
  if (--round->pending == 0) round->done.cancel();
}

asio::awaitable<void> Node::list_once(bool second_list) {
  constexpr std::size_t kPage = 1000;
  std::size_t fresh = 0;
  std::uint64_t listed = 0;
  core::Listing listing(config_.max_list_pages);
  while (auto after = listing.next_page()) {
    metrics_.request(store::OpKind::list);
    auto page = co_await store_.list(inbox_prefix_, kPage, *after);
    if (stopping_) co_return;
    if (!page) {
      s3_failed(store::OpKind::list, page.error());
      schedule_.on_list_failed(second_list, Clock::now());
      after_beat();
      heartbeat_.poke();
      co_return;
    }
    s3_succeeded();
    std::size_t found = inbox_.on_listed(page->objects, now_ms());
    fresh += found;
    listed += page->objects.size();
    // A page that held nothing new (consumed keys whose deletes lag or are refused) may hide new objects
    // behind it: read on (to max_list_pages). Once something new turned up, the next LIST reads the rest.
    listing.on_page(*page, found == 0);
  }
  metrics_.inbox_listed = listed;
  std::uint64_t inlined = inbox_.inlined_objects(); // read from the listing itself
  metrics_.ingress.objects += inlined - metrics_.ingress.inlined_objects;
  metrics_.ingress.inlined_objects = inlined;
  schedule_.on_listed(fresh, second_list, Clock::now());
  after_beat();
  act_on_inbox();
}

void Node::act_on_inbox() {
  if (!stopping_) { // once the device is closed, nothing new is fetched or delivered (or consumed)
    for (auto& key : inbox_.start_fetches(now_ms())) spawn(get_object(std::move(key)));
    deliver();
    // An object waits for its sender's key: the directory's listing (rate limited there).
    if (config_.presence && directory_.start_listing(Clock::now())) spawn(list_peers());
  }
  heartbeat_.poke(); // the inbox moved on: deletes, polls, wake-ups may be due
}

asio::awaitable<void> Node::get_object(std::string key) {
  metrics_.request(store::OpKind::get);
  const std::uint64_t limit = inbox_.fetch_limit(key); // its listed size: what the byte budget counted
  auto body = co_await store_.get(key, limit);
  if (stopping_) {
    // Nothing read now could be delivered: the object is not taken (it stays for the next start).
    inbox_.on_fetch_abandoned(key);
    co_return;
  }
  if (body) {
    ++metrics_.ingress.objects;
    inbox_.on_fetched(key, *body, now_ms());
    report_seal_mismatch(key);
  } else {
    const auto& e = body.error();
    s3_failed(store::OpKind::get, e);
    if (stopping_) { // s3_failed may have stopped the node (expired credentials): take nothing now
      inbox_.on_fetch_abandoned(key);
      co_return;
    }
    auto fault = core::classify_s3_error(e, false);
    auto error = fault == core::S3Fault::too_large          ? core::FetchError::too_large
                 : core::policy_of(fault).retry ? core::FetchError::transient
                                                : core::FetchError::gone;
    inbox_.on_fetch_failed(key, error, now_ms());
  }
  act_on_inbox();
}

void Node::deliver() {
  // Write-ahead: the replay window's news reaches the state directory before the packets reach the
  // kernel, so a node killed in between cannot deliver them again after a restart.
  auto changes = inbox_.take_replay_changes();
  // It was awake when it made the object (its ULID's time), not when we got to it: no ring before that.
  for (const auto& c : changes) {
    std::uint64_t now = now_ms(), made = std::min(now, c.id.time_ms());
    rings_.on_heard(c.sender, Clock::now() - std::chrono::milliseconds(now - made));
    directory_.on_heard(c.sender, Clock::now()); // it is there: replies to it never wait for a listing
  }
  if (!changes.empty()) metrics_.peers_known = directory_.peers();
  if (config_.state_dir && !changes.empty() && !config_.state_dir->save(changes)) {
    metrics_.state_write_failures += changes.size();
    if (log_due(last_state_log_))
      log::error("cannot write {}: a restart may deliver recent packets again (logged at most every {} s)",
                 config_.state_dir->path(), kErrorLogInterval.count());
  }
  for (const auto& [sender, bytes] : inbox_.take_delivered_objects())
    metrics_.peers.on_received(sender, bytes, 1, Clock::now());
  for (auto& packet : inbox_.take_deliveries()) {
    if (device_.write(packet)) {
      ++metrics_.ingress.packets;
      metrics_.ingress.bytes += packet.size();
    } else {
      ++metrics_.dropped["device_full"];
    }
  }
}

asio::awaitable<void> Node::delete_consumed() {
  // When: the schedule's delete_interval (on the way out, at once).
  while (inbox_.pending_deletions() > 0) {
    auto keys = inbox_.take_deletions(1000);
    metrics_.request(store::OpKind::remove);
    auto r = co_await store_.remove(keys);
    if (!r) s3_failed(store::OpKind::remove, r.error());
    else if (!r->empty()) {
      // Refused one by one (a bucket policy without s3:DeleteObject, Object Lock): the inbox skips them
      // when listed, and the LIST pages past them, but they cost listing: say so.
      metrics_.delete_failures += r->size();
      if (log_due(last_delete_log_))
        log::error("S3 refused to delete {} consumed objects (first: {}): check the bucket policy and Object Lock "
                   "(logged at most every {} s)", r->size(), r->front(), kErrorLogInterval.count());
    }
    inbox_.on_deleted(keys);
    if (!r) break; // the next LIST offers them again
  }
  schedule_.on_deleted(Clock::now());
  heartbeat_.poke();
}

core::KeyLookup Node::open_key(const core::Address& sender, core::SealIds ids, std::uint64_t made_ms) {
  using Status = core::KeyLookup::Status;
  auto now = Clock::now();
  // Sealed for one of our keys: the current one, or one before a rotation that peers may still use.
  const core::KeyPair* mine = own_key(ids.receiver, now);
  if (!mine) return {Status::refuse, {}};
  if (auto key = directory_.key_with_id(sender, ids.sender, now)) {
    if (const core::Psk* pair = pair_key_for(*mine, sender, *key)) return {Status::key, *pair};
    return {Status::refuse, {}};
  }
  // A pinned sender's key is what the peers file says: nothing a listing shows can change it.
  if (auto k = directory_.keys().find(sender); k != directory_.keys().end() && k->second.pinned) return {Status::refuse, {}};
  // Not known: a listing that began after the object was made (with a second for clocks) and read the
  // sender's records would have shown its record, which a node writes before it sends anything. Then it
  // is nobody's. (An object dated ahead is judged by now: a future ULID must not buy a longer wait.)
  if (peer_listing_.started_ms > std::min(made_ms, now_ms()) + 1000 && peer_listing_.coverage.covers(sender))
    return {Status::refuse, {}};
  directory_.want_listing(sender);
  return {Status::wait, {}};
}

const core::KeyPair* Node::own_key(core::KeyId receiver, Clock::time_point now) const {
  if (receiver == core::key_id(config_.identity->public_key)) return &*config_.identity;
  return previous_keys_.receiving(receiver, now);
}

std::optional<core::Address> Node::proven_ringer(std::string_view body) {
  // A member's proof (core/ring.hpp): sealed with the key of our pair, over this bell, that ringer and a
  // ULID newer than its last. Only keys known now count: a ring never makes the node list its peers.
  if (!config_.identity) return std::nullopt;
  auto ring = core::parse_ring(body);
  if (!ring || ring->sealed.empty()) return std::nullopt;
  auto ids = core::sealed_ids(ring->sealed);
  if (!ids) return std::nullopt;
  const auto now = Clock::now();
  const core::KeyPair* mine = own_key(ids->receiver, now);
  auto theirs = directory_.key_with_id(ring->ringer, ids->sender, now);
  if (!mine || !theirs) return std::nullopt;
  const core::Psk* pair = pair_key_for(*mine, ring->ringer, *theirs);
  if (!pair || !core::open_sealed(*pair, core::ring_associated(bell_key_, ring->ringer, ring->id), ring->sealed))
    return std::nullopt;
  if (!ring_guard_.take(ring->ringer, ring->id, now_ms())) return std::nullopt;
  return ring->ringer;
}

void Node::report_seal_mismatch(const std::string& key) {
  using core::DropReason;
  std::uint64_t unsealed = inbox_.dropped(DropReason::unsealed);
  std::uint64_t no_key = inbox_.dropped(DropReason::sealed_without_key);
  std::uint64_t bad = inbox_.dropped(DropReason::bad_seal);
  std::uint64_t total = unsealed + no_key + bad;
  if (total == seal_refusals_) return;
  seal_refusals_ = total;
  // Nodes that disagree about sealing (--no-seal, --psk-file) must fail clearly, not silently: say which
  // way, loudly, but once per interval rather than per object.
  if (!log_due(last_seal_log_)) return;
  auto sender = core::parse_key(config_.key_prefix, key);
  std::string from = sender ? sender->src.str() : key;
  log::error("refusing objects from {}: {} unsealed (the sender runs --no-seal), {} sealed but not opened here "
             "(--no-seal here), {} failed authentication (another --psk-file or key, or forged) so far",
             from, unsealed, no_key, bad);
}

} // namespace hoshino::node

#include "node/node.hpp"

#include "core/icmpv6.hpp"
#include "core/keys.hpp"
#include "core/object.hpp"
#include "core/seal.hpp"
#include "util/crypto.hpp"
#include "util/log.hpp"
#include "util/timer.hpp"
#include "util/wall_clock.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/use_awaitable.hpp>


#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace hoshino::node {
namespace {

constexpr auto kErrorLogInterval = std::chrono::seconds(10);

// The inbox's tunables come from the config as they are; who this node is, from the rest of it.
core::InboxConfig inbox_config(const NodeConfig& c, std::uint64_t start_ms) {
  core::InboxConfig i = c.inbox;
  i.key_prefix = c.key_prefix;
  i.self = c.self;
  i.start_ms = start_ms;
  i.psk = c.psk;
  i.fingerprint_seed = crypto::random64();
  i.replay.forget_after_ms = i.max_age_ms + i.max_future_ms;
  return i;
}

} // namespace

Node::Node(asio::io_context& io, device::PacketDevice& device, store::ObjectStore& store, NodeConfig config,
           WallClock wall_ms)
    : io_(io),
      device_(device),
      store_(store),
      config_(std::move(config)),
      wall_ms_(wall_ms ? std::move(wall_ms) : WallClock(hoshino::wall_ms)),
      clock_(config_.clock),
      bundler_(config_.bundler),
      schedule_(config_.ingress, Clock::now()),
      inbox_(inbox_config(config_, now_ms())),
      chain_(config_.chain_keys, crypto::random64),
      rings_(config_.ingress.pace.hold / 2),
      inbox_prefix_(core::inbox_prefix(config_.key_prefix, config_.self)),
      bell_key_(core::bell_key(config_.key_prefix, config_.self)),
      heartbeat_(io, schedule_, [this] { return inbox_view(); }),
      ack_hold_timer_(io),
      random_(crypto::random64),
      directory_([&] {
        auto c = config_.peers;
        c.need_keys = config_.identity.has_value();
        return c;
      }()),
      presence_key_(core::presence_key(config_.key_prefix, config_.self,
                                       config_.identity ? config_.identity->public_key : core::PublicKey{})) {
  for (const auto& p : config_.pinned_peers) directory_.pin(p.address, p.key);
  if (config_.identity)
    inbox_.set_pair_key([this](const core::Address& sender, core::SealIds ids, std::uint64_t made_ms) {
      return open_key(sender, ids, made_ms);
    });
  start_ms_ = now_ms();
  metrics_.dropped["queue_full"] = 0; // exported from the start, updated only when drops happen
  if (config_.state_dir) {
    for (const auto& [sender, highest] : config_.state_dir->replay_records())
      inbox_.restore(sender, highest, now_ms());
  }
}

bool Node::log_due(Clock::time_point& last) {
  auto now = Clock::now();
  if (last.time_since_epoch().count() != 0 && now - last < kErrorLogInterval) return false;
  last = now;
  return true;
}

double Node::random01() { return static_cast<double>(random_() >> 11) * 0x1.0p-53; }

void Node::spawn(asio::awaitable<void> task) {
  ++tasks_;
  // Not detached: an exception in a task is a bug, and it must end the process loudly.
  asio::co_spawn(io_, std::move(task), [this](std::exception_ptr e) {
    --tasks_;
    if (e) std::rethrow_exception(e);
  });
}

void Node::s3_failed(store::OpKind op, const s3::Error& e) {
  metrics_.error(op, e.code);
  if (e.code == "ExpiredToken") {
    auto now = Clock::now();
    if (expired_since_ == Clock::time_point{}) expired_since_ = now;
    else if (now - expired_since_ >= config_.expired_credentials_limit && fatal_.empty()) {
      fatal_ = fmt::format("S3 has called the credentials expired for {} s: restart with fresh ones (temporary "
                           "credentials from the environment are not renewed)",
                           std::chrono::duration_cast<std::chrono::seconds>(now - expired_since_).count());
      log::error("{}", fatal_);
      stop();
    }
  }
  if (log_due(last_logged_[{static_cast<int>(op), e.code}])) {
    // Permission and credential errors will not heal by retrying: say so loudly.
    bool denied = e.http_status == 403 || e.code == "AccessDenied" || e.code == "InvalidAccessKeyId" ||
                  e.code == "SignatureDoesNotMatch" || e.code == "ExpiredToken";
    if (denied)
      log::error("S3 {} denied: {}: check the credentials and the bucket policy (logged at most every {} s)",
                 store::to_string(op), e.describe(), kErrorLogInterval.count());
    else
      log::warn("S3 {} failed: {} (logged at most every {} s per error)", store::to_string(op), e.describe(),
                kErrorLogInterval.count());
  }
}

asio::awaitable<void> Node::run() {
  using namespace asio::experimental::awaitable_operators;
  log::info("node {} polling {} ", config_.self.str(), inbox_prefix());
  if (config_.presence && config_.presence_published) {
    presence_published_ = true;
    presence_due_ = Clock::now() + config_.presence_refresh;
  } else if (config_.presence) {
    auto published = co_await publish_presence(); // failures are retried on the beats
    (void)published;
  }
  co_await (egress_loop() && ingress_loop() && ack_hold_loop());

  // Flush: whatever is still queued goes out, then pending PUTs and deletes get a bounded time.
  for (auto& batch : bundler_.drain()) spawn(put_batch(std::move(batch)));
  act_on_inbox();
  if (presence_published_) spawn(remove_presence()); // peers answer unreachable for us from now on
  if (inbox_.pending_deletions() > 0) spawn(delete_consumed()); // at once, not at the schedule's pace
  Timer wait(io_);
  auto deadline = Clock::now() + config_.flush_timeout;
  while (tasks_ > 0 && Clock::now() < deadline) {
    wait.expires_after(std::chrono::milliseconds(5));
    co_await wait.async_wait(asio::use_awaitable);
  }
  if (tasks_ > 0) log::warn("stopping with {} S3 requests unfinished", tasks_);
}

void Node::stop() {
  if (stopping_) return;
  stopping_ = true;
  device_.close();
  heartbeat_.stop();
  ack_hold_timer_.cancel();
}

asio::awaitable<void> Node::egress_loop() {
  // A burst (a TCP window opening, the ACKs for a delivered bundle) is read whole before bundling, so
  // it leaves as one object rather than as a lone first packet followed by the rest.
  constexpr std::size_t kMaxBurst = 1024;
  while (!stopping_) {
    auto packet = co_await device_.read();
    if (!packet) break; // closed
    bool sent = forward(std::move(*packet));
    for (std::size_t n = 1; n < kMaxBurst; ++n) {
      auto more = device_.try_read();
      if (!more) break;
      sent = forward(std::move(*more)) || sent;
    }
    // Some waited for the directory: one listing of peers/ answers for all of them.
    if (config_.presence && directory_.start_listing(Clock::now())) spawn(list_peers());
    if (!sent) continue;
    flush_bundles();
    schedule_.on_sent(Clock::now());
    heartbeat_.poke();
  }
}

asio::awaitable<void> Node::ack_hold_loop() {
  while (!stopping_) {
    auto at = bundler_.next_release();
    // Nothing held: sleep until watch_ack_holds() (or stop()) cancels the wait.
    if (at) ack_hold_timer_.expires_at(*at);
    else ack_hold_timer_.expires_after(std::chrono::hours(1));
    ack_hold_sleeping_ = true;
    co_await ack_hold_timer_.async_wait(asio::experimental::as_tuple(asio::use_awaitable)); // cancelled: look again
    ack_hold_sleeping_ = false;
    if (stopping_) break;
    if (at && Clock::now() >= *at) flush_bundles();
  }
}

void Node::watch_ack_holds() {
  // Only a hold that just started can end before the instant ack_hold_loop sleeps to: the counter says
  // whether one did, so bursts and PUT completions do not scan every destination for nothing.
  if (bundler_.ack_holds() == metrics_.ack_holds) return;
  metrics_.ack_holds = bundler_.ack_holds();
  if (!ack_hold_sleeping_) return; // awake: it looks at the bundler before it sleeps again
  if (auto at = bundler_.next_release(); at && *at < ack_hold_timer_.expiry()) ack_hold_timer_.cancel();
}

void Node::enqueue(const core::Address& dst, core::Bytes packet) {
  auto dropped = bundler_.dropped_packets();
  if (auto full = bundler_.add(dst, std::move(packet), Clock::now())) spawn(put_batch(std::move(*full)));
  // Charged to the destination being added to (the node-wide bound may have taken another's: rare).
  if (bundler_.dropped_packets() != dropped) metrics_.peers.on_dropped(dst, bundler_.dropped_packets() - dropped, Clock::now());
}

void Node::flush_bundles() {
  for (auto& batch : bundler_.flush(Clock::now())) spawn(put_batch(std::move(batch)));
  watch_ack_holds();
  metrics_.queued_bytes = bundler_.total_queued_bytes();
  metrics_.puts_in_flight = bundler_.total_in_flight();
  if (bundler_.dropped_packets() != queue_drops_) { // no map write per packet on the hot path
    queue_drops_ = bundler_.dropped_packets();
    metrics_.dropped["node_queue_full"] = bundler_.dropped_node_packets();
    metrics_.dropped["queue_full"] = queue_drops_ - bundler_.dropped_node_packets();
  }
}

void Node::answer_unreachable(std::string_view packet) {
  if (!directory_.allow_unreachable(Clock::now())) {
    metrics_.unreachable_limited = directory_.unreachable_limited();
    return;
  }
  auto answer = core::address_unreachable(packet, config_.self);
  if (answer && device_.write(*answer)) ++metrics_.unreachable_sent;
}

asio::awaitable<void> Node::list_peers() {
  constexpr std::size_t kPage = 1000;
  // Only records inside our /64 (the first 16 hex digits of every address in it): records of other
  // fleets sharing the prefix, or junk elsewhere, cost no pages.
  const auto prefix = core::presence_prefix(config_.key_prefix) + config_.self.hex().substr(0, 16);
  std::vector<core::PeerKey> present;
  std::size_t pages = 0;
  std::string after;
  bool complete = false, failed = false;
  listing_started_ms_ = now_ms();
  for (std::size_t page = 0; page < config_.max_peer_pages; ++page) {
    metrics_.request(store::OpKind::list);
    ++pages;
    auto keys = co_await store_.list(prefix, kPage, after);
    if (!keys) {
      s3_failed(store::OpKind::list, keys.error());
      failed = true;
      break;
    }
    for (const auto& k : *keys) {
      auto pk = core::parse_presence_key(config_.key_prefix, k.key);
      if (!pk || pk->address == config_.self) continue; // our own record is no peer
      // (A key nothing can be sealed to, a low-order point, is found out when first used: pair_key_for
      // fails and that peer's packets are dropped as no_key. Checking each listed key here would cost
      // an X25519 per junk record and listing.)
      present.push_back(*pk);
    }
    if (keys->size() < kPage) {
      complete = true;
      break;
    }
    after = keys->back().key;
  }
  ++metrics_.peer_listings;
  directory_.set_listing_pages(pages);
  auto now = Clock::now();
  auto resolved = failed ? directory_.on_list_failed(now) : directory_.on_listed(present, complete, now);
  if (failed) ++metrics_.peer_listing_failures;
  else if (complete) peer_listing_started_ms_ = listing_started_ms_;
  report_key_changes();
  inbox_.retry_key_waits(now_ms()); // objects that waited for a sender's key: judged again now
  metrics_.peers_known = directory_.peers();
  if (stopping_) co_return;
  bool sent = false;
  for (auto& r : resolved) {
    if (r.present) {
      for (auto& p : r.packets) enqueue(r.dst, std::move(p));
      sent = true;
    } else if (r.unproven) {
      metrics_.dropped["peer_unknown"] += r.packets.size(); // more records than a listing reads: no answer
    } else {
      metrics_.dropped["no_peer"] += r.packets.size();
      if (!r.packets.empty()) answer_unreachable(r.packets.front());
    }
  }
  if (sent) {
    flush_bundles();
    schedule_.on_sent(Clock::now());
  }
  act_on_inbox(); // objects that waited for a sender's key
}

asio::awaitable<Result<Unit, s3::Error>> Node::publish_presence() {
  core::PresenceRecord record{config_.self, config_.hostname.empty() ? "-" : config_.hostname,
                              config_.version.empty() ? "-" : config_.version, start_ms_};
  auto body = core::format_presence(record);
  metrics_.request(store::OpKind::put);
  auto r = co_await store_.put(presence_key_, body, false);
  if (r) {
    ++metrics_.presence_writes;
    presence_published_ = true;
    presence_due_ = Clock::now() + config_.presence_refresh;
  } else {
    ++metrics_.presence_write_failures;
    s3_failed(store::OpKind::put, r.error());
    presence_due_ = Clock::now() + std::chrono::minutes(1); // not for long: peers list us by it
  }
  co_return r;
}

asio::awaitable<void> Node::refresh_presence() {
  presence_writing_ = true;
  if (!previous_presence_key_.empty()) { // a rotation's old record is still there
    co_await replace_presence();
  } else {
    auto r = co_await publish_presence();
    (void)r; // counted and logged by publish_presence
  }
  presence_writing_ = false;
}

asio::awaitable<void> Node::remove_presence() {
  metrics_.request(store::OpKind::remove);
  std::vector<std::string> keys{presence_key_};
  auto r = co_await store_.remove(std::move(keys));
  if (!r) s3_failed(store::OpKind::remove, r.error());
  else if (!r->empty()) log::warn("could not remove the presence record {}: peers list this node until it expires",
                                  presence_key_);
}

bool Node::forward(core::Bytes packet) {
  auto d = core::classify_egress(packet, config_.prefix, config_.self);
  if (d.ignore) {
    ++metrics_.ignored[std::string(core::to_string(*d.ignore))];
    return false;
  }
  if (config_.presence) {
    switch (directory_.route(d.dst, packet, Clock::now())) {
      case core::Route::send: break;
      case core::Route::wait: return false; // the listing decides (list_peers)
      case core::Route::unreachable:
        ++metrics_.dropped["no_peer"];
        answer_unreachable(packet);
        return false;
      case core::Route::dropped: ++metrics_.dropped["peer_wait_full"]; return false;
    }
  }
  enqueue(d.dst, std::move(packet));
  return true;
}

void Node::put_finished(const core::Address& dst) {
  if (auto next = bundler_.on_put_done(dst, Clock::now())) spawn(put_batch(std::move(*next)));
  else watch_ack_holds();
  // A node-wide PUT slot came free: destinations that waited for one take their turns.
  for (auto& waiting : bundler_.take_unblocked()) spawn(put_batch(std::move(waiting)));
  metrics_.queued_bytes = bundler_.total_queued_bytes();
  metrics_.puts_in_flight = bundler_.total_in_flight();
}

asio::awaitable<void> Node::put_batch(core::Batch batch) {
  std::size_t count = batch.packets.size();
  // Before the chain's pick: a batch that cannot be sealed announces no key and takes no order slot.
  auto sealing = seal_for(batch.dst);
  if (config_.identity && !sealing) { // its key went away meanwhile (a pinned peer's listing, a bound)
    metrics_.dropped["no_key"] += count;
    metrics_.peers.on_dropped(batch.dst, count, Clock::now());
    put_finished(batch.dst);
    co_return;
  }
  auto pick = chain_.pick(batch.dst, now_ms());
  core::ObjectKey id{batch.dst, config_.self, pick.id, {}};
  // Pipelined behind a PUT still in flight: this object may become visible first, so it names the
  // latest of those and the receiver holds it until that one is through.
  auto& in_flight = puts_in_flight_[batch.dst];
  std::optional<core::Ulid> after;
  if (!in_flight.empty()) after = *in_flight.rbegin();
  in_flight.insert(id.id);
  std::optional<core::Psk> seal_key;
  core::SealIds ids;
  if (sealing) {
    seal_key = sealing->key;
    ids = sealing->ids;
  }
  auto nonce = seal_key ? core::random_nonce() : core::Nonce{};
  // An announced key is where the receiver polls: the body must be there, not in the key.
  bool allow_inline = config_.inline_small && !pick.announced;
  auto object =
      core::encode_object(config_.key_prefix, id, batch.packets, seal_key, allow_inline, nonce, after, pick.next, ids);
  batch.packets.clear();
  auto first_attempt = Clock::now();
  Timer retry(io_);
  Result<Unit, s3::Error> r = Unit{};
  bool squatted = false;
  for (int attempt = 1;; ++attempt) {
    metrics_.request(store::OpKind::put);
    // Create-only: a writer who guessed or copied an announced key cannot make us overwrite its object,
    // nor have us believe ours is there.
    bool create_only = conditional_puts_;
    r = co_await store_.put(object.key, object.body, create_only);
    if (r) {
      s3_succeeded();
      break;
    }
    const auto& e = r.error();
    if (create_only && e.code == store::kPreconditionFailed) {
      if (attempt > 1) { // an earlier attempt of ours landed, though its answer was lost
        r = Unit{};
        break;
      }
      // Someone wrote at our key first: the same object under a fresh, never announced key (the
      // receiver refuses the squatter's object, and finds ours by LIST).
      auto moved = squatted ? std::nullopt
                            : core::rekey_object(config_.key_prefix, object, chain_.fresh(now_ms()), seal_key,
                                                 seal_key ? core::random_nonce() : core::Nonce{});
      ++metrics_.squatted_keys;
      if (!moved) break;
      squatted = true;
      object = std::move(*moved);
      --attempt; // a first attempt again, at the new key
      continue;
    }
    if (create_only && e.code == "NotImplemented") {
      // A server that does not know If-None-Match on PUT: plain PUTs from now on (said once).
      conditional_puts_ = false;
      log::warn("the S3 server does not support conditional PUTs (If-None-Match: *): a bucket writer can "
                "overwrite objects at announced keys; see README, Hardening");
      --attempt;
      continue;
    }
    s3_failed(store::OpKind::put, r.error());
    auto delay = core::backoff_delay(config_.put_backoff, attempt, random01());
    if (!r.error().retryable() || stopping_ ||
        Clock::now() + delay - first_attempt > config_.put_deadline)
      break;
    // The destination's in-flight slot stays taken meanwhile: new packets accumulate (bounded) behind it.
    retry.expires_after(delay);
    co_await retry.async_wait(asio::use_awaitable);
  }
  if (r) {
    metrics_.egress.packets += count;
    metrics_.egress.bytes += batch.bytes;
    ++metrics_.egress.objects;
    if (object.inlined) ++metrics_.egress.inlined_objects;
    inbox_.on_sent_to(batch.dst);
    metrics_.peers.on_sent(batch.dst, batch.bytes, first_attempt, Clock::now());
    // The object is in the bucket: if the destination may be idle, its bell now (its LIST will find it).
    // (Also with the bell off here: only watching is off; a receiver that watches must be rung.)
    if (config_.ring && rings_.on_put(batch.dst, Clock::now())) spawn(ring(batch.dst));
  } else {
    metrics_.dropped["s3_put_failed"] += count;
    metrics_.peers.on_dropped(batch.dst, count, Clock::now());
  }
  if (auto it = puts_in_flight_.find(batch.dst); it != puts_in_flight_.end()) {
    it->second.erase(id.id);
    if (it->second.empty()) puts_in_flight_.erase(it);
  }
  put_finished(batch.dst);
}

asio::awaitable<void> Node::ring(core::Address dst) {
  // A body of its own each time: S3's ETag is the MD5 of the body, and the receiver watches the ETag.
  auto body_text = fmt::format("{} {}", config_.self.str(), chain_.fresh(now_ms()).str());
  core::Bytes body(body_text.begin(), body_text.end());
  auto key = core::bell_key(config_.key_prefix, dst);
  Timer retry(io_);
  for (int attempt = 1;; ++attempt) {
    metrics_.request(store::OpKind::put);
    auto r = co_await store_.put(key, body, false);
    if (r) {
      ++metrics_.rings_sent;
      co_return;
    }
    s3_failed(store::OpKind::put, r.error());
    // Not for long: the next object after a quiet spell rings again, and the receiver LISTs anyway
    // every idle_list_interval.
    if (!r.error().retryable() || stopping_ || attempt >= 3) break;
    auto delay = core::backoff_delay(config_.put_backoff, attempt, random01());
    retry.expires_after(delay);
    co_await retry.async_wait(asio::use_awaitable);
  }
  ++metrics_.ring_failures;
}

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
  metrics_.poll_interval_seconds = std::chrono::duration<double>(
      schedule_.idle(Clock::now()) ? schedule_.config().bell_interval : schedule_.pace().interval()).count();
  if (clock_) metrics_.clock_offset_seconds = static_cast<double>(clock_->estimate_ms()) / 1000;
  metrics_.bells_found = schedule_.rings_found();
  metrics_.bells_empty = schedule_.rings_empty();
  metrics_.bells_limited = schedule_.rings_limited();
}

asio::awaitable<void> Node::ingress_loop() {
  using core::IngressAction;
  while (!stopping_) {
    auto step = co_await heartbeat_.next();
    if (stopping_) break;
    // The presence record is rewritten rarely; beats come at least every bell interval or poll-max.
    if (config_.presence && !presence_writing_ && Clock::now() >= presence_due_) spawn(refresh_presence());
    switch (step.action) {
      case IngressAction::list: spawn(list_once(step.second_list)); break;
      case IngressAction::poll: {
        auto keys = inbox_.start_polls(now_ms());
        spawn(poll_round(std::move(keys)));
        break;
      }
      case IngressAction::check_bell: spawn(check_bell()); break;
      case IngressAction::delete_consumed: spawn(delete_consumed()); break;
      case IngressAction::tick_inbox:
        inbox_.on_tick(now_ms());
        act_on_inbox();
        break;
      case IngressAction::trim_memory:
        // After a burst of traffic the allocator keeps the freed bundles (megabytes) mapped.
#ifdef __GLIBC__
        ::malloc_trim(0);
#endif
        break;
      case IngressAction::wait: break;
    }
  }
}

asio::awaitable<void> Node::check_bell() {
  metrics_.request(store::OpKind::get);
  auto known = bell_conditional_ ? bell_etag_ : std::string();
  auto r = co_await store_.watch(bell_key_, known, 1024);
  if (stopping_) co_return;
  auto result = core::BellCheck::quiet;
  if (r) {
    s3_succeeded();
    // A server that ignores If-None-Match answers 200 with the same ETag: compare ETags here (said once).
    if (r->changed && !bell_etag_.empty() && r->etag == bell_etag_) {
      if (bell_conditional_) log::warn("the S3 server ignores If-None-Match on GET: the doorbell compares ETags itself");
      bell_conditional_ = false;
    } else if (r->changed) {
      result = core::BellCheck::rang;
    }
    bell_etag_ = r->etag;
  } else if (core::missing_object(r.error().http_status, r.error().code) ||
             r.error().code == store::kObjectTooLarge) {
    // No bell yet (nobody rang since the bucket was made), or junk too large to read: that it is
    // there and unread changes nothing; a real ring replaces it.
    if (r.error().code == store::kObjectTooLarge && !bell_etag_.empty()) result = core::BellCheck::rang;
    bell_etag_.clear();
  } else {
    s3_failed(store::OpKind::get, r.error());
    result = core::BellCheck::failed;
  }
  schedule_.on_bell(result, Clock::now());
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
  auto body = co_await store_.get(key, inbox_.config().max_object_bytes);
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
    // Not there yet (core::missing_object: also S3's 403 to callers without s3:ListBucket). A real
    // refusal of GetObject still shows: the GETs after LISTs report it. Bad credentials are not a miss.
    const auto& e = body.error();
    bool absent = core::missing_object(e.http_status, e.code);
    if (!absent) {
      round->failed = true;
      s3_failed(store::OpKind::get, e);
    }
    if (e.code == store::kObjectTooLarge) inbox_.on_poll_too_large(key, now_ms());
    else inbox_.on_poll_missed(key, !absent, now_ms());
  }
  act_on_inbox();
  if (--round->pending == 0) round->done.cancel();
}

asio::awaitable<void> Node::list_once(bool second_list) {
  constexpr std::size_t kPage = 1000;
  std::size_t fresh = 0;
  std::uint64_t listed = 0;
  std::string after;
  for (std::size_t page = 0; page < config_.max_list_pages; ++page) {
    metrics_.request(store::OpKind::list);
    auto keys = co_await store_.list(inbox_prefix_, kPage, after);
    if (stopping_) co_return;
    if (!keys) {
      s3_failed(store::OpKind::list, keys.error());
      schedule_.on_list_failed(second_list, Clock::now());
      after_beat();
      heartbeat_.poke();
      co_return;
    }
    s3_succeeded();
    std::size_t found = inbox_.on_listed(*keys, now_ms());
    fresh += found;
    listed += keys->size();
    // A full page that held nothing new (consumed keys whose deletes lag or are refused) may hide new
    // objects behind it: read on from its last key.
    if (keys->size() < kPage || found > 0) break;
    after = keys->back().key;
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
  auto body = co_await store_.get(key, inbox_.config().max_object_bytes);
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
    auto error = e.code == store::kObjectTooLarge ? core::FetchError::too_large
                 : e.retryable()                  ? core::FetchError::transient
                                                  : core::FetchError::gone;
    inbox_.on_fetch_failed(key, error, now_ms());
  }
  act_on_inbox();
}

const core::Psk* Node::pair_key_for(const core::Address& peer, const core::PublicKey& key) {
  auto k = std::make_pair(peer, key);
  if (auto it = pair_keys_.find(k); it != pair_keys_.end()) return &it->second;
  auto derived = core::pair_key(*config_.identity, config_.self, key, peer, config_.key_prefix, config_.psk);
  if (!derived) return nullptr; // a low-order key: nothing can be sealed to it
  if (pair_keys_.size() >= 4096) pair_keys_.clear(); // bounded; rebuilt as peers speak
  return &pair_keys_.emplace(k, *derived).first->second;
}

std::optional<Node::SealKey> Node::seal_for(const core::Address& dst) {
  if (!config_.identity) {
    if (!config_.psk) return std::nullopt;
    return SealKey{*config_.psk, {}};
  }
  auto key = directory_.key_of(dst);
  if (!key) return std::nullopt;
  const core::Psk* pair = pair_key_for(dst, *key);
  if (!pair) return std::nullopt;
  return SealKey{*pair, {core::key_id(config_.identity->public_key), core::key_id(*key)}};
}

core::KeyLookup Node::open_key(const core::Address& sender, core::SealIds ids, std::uint64_t made_ms) {
  using Status = core::KeyLookup::Status;
  auto now = Clock::now();
  // Sealed for one of our keys: the current one, or the one before a rotation while peers learn the new.
  const bool for_previous = previous_identity_ && now < previous_until_ &&
                            ids.receiver == core::key_id(previous_identity_->public_key) &&
                            ids.receiver != core::key_id(config_.identity->public_key);
  if (!for_previous && ids.receiver != core::key_id(config_.identity->public_key)) return {Status::refuse, {}};
  if (auto key = directory_.key_with_id(sender, ids.sender, now)) {
    if (for_previous) { // rare (a rotation's overlap): not cached
      auto pair = core::pair_key(*previous_identity_, config_.self, *key, sender, config_.key_prefix, config_.psk);
      if (pair) return {Status::key, *pair};
      return {Status::refuse, {}};
    }
    if (const core::Psk* pair = pair_key_for(sender, *key)) return {Status::key, *pair};
    return {Status::refuse, {}};
  }
  // A pinned sender's key is what the peers file says: nothing a listing shows can change it.
  if (auto k = directory_.keys().find(sender); k != directory_.keys().end() && k->second.pinned) return {Status::refuse, {}};
  // Not known: a listing that began after the object was made (with a second for clocks) would have
  // shown its sender's record, which a node writes before it sends anything. Then it is nobody's.
  // (An object dated ahead is judged by now: a future ULID must not buy a longer wait.)
  if (peer_listing_started_ms_ > std::min(made_ms, now_ms()) + 1000) return {Status::refuse, {}};
  directory_.want_listing();
  return {Status::wait, {}};
}

void Node::rotate_identity(const core::KeyPair& key) {
  if (!config_.identity || config_.identity->public_key == key.public_key) return;
  previous_identity_ = config_.identity;
  previous_until_ = Clock::now() + config_.peers.key_overlap;
  config_.identity = key;
  pair_keys_.clear();
  previous_presence_key_ = presence_key_;
  presence_key_ = core::presence_key(config_.key_prefix, config_.self, key.public_key);
  log::warn("new identity key: public key {} (objects for the previous one open for {} min)",
            core::key_to_base64(key.public_key),
            std::chrono::duration_cast<std::chrono::minutes>(config_.peers.key_overlap).count());
  spawn(replace_presence());
}

asio::awaitable<void> Node::replace_presence() {
  // The new record first: a peer that lists in between sees the node with one key or the other, never
  // with none (which would make it answer unreachable).
  auto written = co_await publish_presence();
  if (!written || previous_presence_key_.empty()) co_return; // a failed write is tried again on the beats
  metrics_.request(store::OpKind::remove);
  std::vector<std::string> keys{previous_presence_key_};
  auto r = co_await store_.remove(std::move(keys));
  if (!r) s3_failed(store::OpKind::remove, r.error());
  else previous_presence_key_.clear();
}

namespace {

std::string ago(std::optional<Clock::time_point> t, Clock::time_point now) {
  if (!t) return "never";
  auto s = std::chrono::duration_cast<std::chrono::seconds>(now - *t).count();
  if (s < 1) return "just now";
  if (s < 120) return fmt::format("{} s ago", s);
  if (s < 7200) return fmt::format("{} min ago", s / 60);
  return fmt::format("{} h ago", s / 3600);
}

std::string size(std::uint64_t bytes) {
  if (bytes < 10 * 1024) return fmt::format("{} B", bytes);
  if (bytes < 10 * 1024 * 1024) return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024);
  if (bytes < 10ULL * 1024 * 1024 * 1024) return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20));
  return fmt::format("{:.1f} GiB", static_cast<double>(bytes) / (1 << 30));
}

} // namespace

std::string Node::render_show() const {
  auto now = Clock::now();
  std::string out = fmt::format("node: {}\n", config_.self.str());
  if (config_.identity) out += fmt::format("  public key: {}\n", core::key_to_base64(config_.identity->public_key));
  else out += "  public key: (objects not sealed: --no-seal)\n";
  out += fmt::format("  inbox: {}\n  peers known: {}\n", inbox_prefix_, directory_.peers());
  // Peers in address order: those with traffic, then those only known from the directory.
  std::map<core::Address, const core::PeerStats*> rows;
  for (const auto& [a, st] : metrics_.peers.peers()) rows.emplace(a, &st);
  for (const auto& [a, k] : directory_.keys()) rows.try_emplace(a, nullptr);
  for (const auto& [a, st] : rows) {
    out += fmt::format("\npeer: {}", a.str());
    if (auto n = config_.peer_names.find(a); n != config_.peer_names.end() && !n->second.empty())
      out += fmt::format(" ({})", n->second);
    out += "\n";
    if (auto k = directory_.keys().find(a); k != directory_.keys().end() && k->second.current)
      out += fmt::format("  key: {}… ({})\n", core::fingerprint(*k->second.current),
                         k->second.pinned ? "pinned" : "trusted on first use");
    if (!st) continue;
    out += fmt::format("  latest received: {}\n  latest sent: {}\n", ago(st->last_in, now), ago(st->last_out, now));
    out += fmt::format("  transfer: {} received in {} objects, {} sent in {} objects\n", size(st->bytes_in),
                       st->objects_in, size(st->bytes_out), st->objects_out);
    if (st->dropped) out += fmt::format("  dropped: {} packets\n", st->dropped);
    if (st->rtt)
      out += fmt::format("  round trip: {:.1f} ms\n", std::chrono::duration<double, std::milli>(*st->rtt).count());
  }
  return out;
}

void Node::report_key_changes() {
  for (const auto& c : directory_.take_key_changes()) {
    if (c.refused)
      log::error("peer {}: its presence record shows key {} but the peers file pins {}: objects sealed with "
                 "it are refused (rotate the peers file, or someone can write that record)",
                 c.address.str(), core::key_to_base64(c.to), core::key_to_base64(c.from));
    else if (c.from != core::PublicKey{})
      log::error("peer {}: public key changed from {} to {} (a key rotation, or someone who can write its "
                 "presence record: pin it in the peers file)",
                 c.address.str(), core::key_to_base64(c.from), core::key_to_base64(c.to));
  }
  metrics_.peer_key_changes = directory_.key_changes();
}

void Node::report_seal_mismatch(const std::string& key) {
  using core::DropReason;
  std::uint64_t unsealed = inbox_.dropped(DropReason::unsealed);
  std::uint64_t no_key = inbox_.dropped(DropReason::sealed_without_key);
  std::uint64_t bad = inbox_.dropped(DropReason::bad_seal);
  std::uint64_t total = unsealed + no_key + bad;
  if (total == seal_refusals_) return;
  seal_refusals_ = total;
  // Nodes that disagree about --psk-file must fail clearly, not silently: say which way, loudly, but
  // once per interval rather than per object.
  if (!log_due(last_seal_log_)) return;
  auto sender = core::parse_key(config_.key_prefix, key);
  std::string from = sender ? sender->src.str() : key;
  log::error("refusing objects from {}: {} unsealed (sender has no --psk-file), {} sealed but no --psk-file here, "
             "{} failed authentication (different key, or forged) so far",
             from, unsealed, no_key, bad);
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

} // namespace hoshino::node

#include "node/node.hpp"

#include "core/keys.hpp"
#include "core/object.hpp"
#include "core/seal.hpp"
#include "util/crypto.hpp"
#include "util/log.hpp"
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

core::InboxConfig inbox_config(const NodeConfig& c, std::uint64_t start_ms) {
  core::InboxConfig i;
  i.key_prefix = c.key_prefix;
  i.self = c.self;
  i.max_concurrent_gets = c.max_concurrent_gets;
  i.max_age_ms = c.max_age_ms;
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
      heartbeat_(config_.heartbeat, core::Clock::now()),
      inbox_(inbox_config(config_, now_ms())),
      chain_(config_.chain_keys, crypto::random64),
      inbox_prefix_(core::inbox_prefix(config_.key_prefix, config_.self)),
      poll_timer_(io),
      lane_signal_(io),
      lane_timer_(io),
      delete_timer_(io),
      progress_(io),
      wakeup_timer_(io, std::chrono::steady_clock::time_point::max()),
      random_(crypto::random64) {
  metrics_.dropped["queue_full"] = 0; // exported from the start, updated only when drops happen
  if (config_.state_dir) {
    for (const auto& [sender, highest] : config_.state_dir->replay_records())
      inbox_.restore(sender, highest, now_ms());
  }
}

bool Node::log_due(std::chrono::steady_clock::time_point& last) {
  auto now = std::chrono::steady_clock::now();
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
    auto now = std::chrono::steady_clock::now();
    if (expired_since_ == std::chrono::steady_clock::time_point{}) expired_since_ = now;
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
  co_await (egress_loop() && ingress_loop() && second_lane() && wakeup_loop());

  // Flush: whatever is still queued goes out, then pending PUTs and deletes get a bounded time.
  for (auto& batch : bundler_.drain()) spawn(put_batch(std::move(batch)));
  pump();
  asio::steady_timer wait(io_);
  auto deadline = std::chrono::steady_clock::now() + config_.flush_timeout;
  while (tasks_ > 0 && std::chrono::steady_clock::now() < deadline) {
    wait.expires_after(std::chrono::milliseconds(5));
    co_await wait.async_wait(asio::use_awaitable);
  }
  if (tasks_ > 0) log::warn("stopping with {} S3 requests unfinished", tasks_);
}

void Node::stop() {
  if (stopping_) return;
  stopping_ = true;
  device_.close();
  poll_timer_.cancel();
  lane_signal_.cancel();
  lane_timer_.cancel();
  delete_timer_.cancel();
  progress_.cancel();
  wakeup_timer_.cancel();
}

asio::awaitable<void> Node::wakeup_loop() {
  while (!stopping_) {
    co_await wakeup_timer_.async_wait(asio::experimental::as_tuple(asio::use_awaitable)); // re-armed = cancelled
    if (stopping_) break;
    if (wakeup_timer_.expiry() > std::chrono::steady_clock::now()) continue; // an earlier wake-up was set
    wakeup_timer_.expires_at(std::chrono::steady_clock::time_point::max());
    inbox_.on_tick(now_ms());
    pump();
  }
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
    if (!sent) continue;
    for (auto& batch : bundler_.flush()) spawn(put_batch(std::move(batch)));
    heartbeat_.on_sent(core::Clock::now());
    wake_poller();
    if (bundler_.dropped_packets() != queue_drops_) { // no map write per packet on the hot path
      queue_drops_ = bundler_.dropped_packets();
      metrics_.dropped["queue_full"] = queue_drops_;
    }
  }
}

bool Node::forward(core::Bytes packet) {
  auto d = core::classify_egress(packet, config_.prefix, config_.self);
  if (d.ignore) {
    ++metrics_.ignored[std::string(core::to_string(*d.ignore))];
    return false;
  }
  if (auto full = bundler_.add(d.dst, std::move(packet))) spawn(put_batch(std::move(*full)));
  return true;
}

asio::awaitable<void> Node::put_batch(core::Batch batch) {
  auto pick = chain_.pick(batch.dst, now_ms());
  core::ObjectKey id{batch.dst, config_.self, pick.id, {}};
  // Pipelined behind a PUT still in flight: this object may become visible first, so it names the
  // latest of those and the receiver holds it until that one is through.
  auto& in_flight = puts_in_flight_[batch.dst];
  std::optional<core::Ulid> after;
  if (!in_flight.empty()) after = *in_flight.rbegin();
  in_flight.insert(id.id);
  std::size_t count = batch.packets.size();
  auto nonce = config_.psk ? core::random_nonce() : core::Nonce{};
  // An announced key is where the receiver polls: the body must be there, not in the key.
  bool allow_inline = config_.inline_small && !pick.announced;
  auto object =
      core::encode_object(config_.key_prefix, id, batch.packets, config_.psk, allow_inline, nonce, after, pick.next);
  batch.packets.clear();
  auto first_attempt = std::chrono::steady_clock::now();
  asio::steady_timer retry(io_);
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
                            : core::rekey_object(config_.key_prefix, object, chain_.fresh(now_ms()), config_.psk,
                                                 config_.psk ? core::random_nonce() : core::Nonce{});
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
        std::chrono::steady_clock::now() + delay - first_attempt > config_.put_deadline)
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
  } else {
    metrics_.dropped["s3_put_failed"] += count;
  }
  if (auto it = puts_in_flight_.find(batch.dst); it != puts_in_flight_.end()) {
    it->second.erase(id.id);
    if (it->second.empty()) puts_in_flight_.erase(it);
  }
  if (auto next = bundler_.on_put_done(batch.dst)) spawn(put_batch(std::move(*next)));
}

void Node::release_memory_when_idle() {
  // After a burst of traffic the allocator keeps the freed bundles (megabytes) mapped. Once the
  // heartbeat has slowed to 1 s or more the node is idle: hand that memory back, once per idle spell.
  bool idle = heartbeat_.interval() >= std::chrono::seconds(1);
  if (idle && !memory_released_) {
#ifdef __GLIBC__
    ::malloc_trim(0);
#endif
  }
  memory_released_ = idle;
}

void Node::wake_poller() {
  // The heartbeat just got faster: cut a long sleep short so the new interval applies now.
  if (sleeping_ && poll_timer_.expiry() > std::chrono::steady_clock::now() + heartbeat_.interval()) poll_timer_.cancel();
}

asio::awaitable<void> Node::ingress_loop() {
  while (!stopping_) {
    lane_signal_.cancel(); // the second lane staggers its look after this one
    co_await beat();
    if (stopping_) break;
    metrics_.poll_interval_seconds = std::chrono::duration<double>(heartbeat_.interval()).count();
    if (clock_) metrics_.clock_offset_seconds = static_cast<double>(clock_->estimate_ms()) / 1000;
    release_memory_when_idle();
    if (heartbeat_.interval() > core::Duration::zero()) {
      poll_timer_.expires_after(heartbeat_.interval());
      sleeping_ = true;
      co_await poll_timer_.async_wait(asio::experimental::as_tuple(asio::use_awaitable)); // cancel = wake
      sleeping_ = false;
    }
  }
}

asio::awaitable<void> Node::second_lane() {
  // During a conversation, a second LIST starts half a LIST after each of the main loop's: the wait
  // for the next LIST to begin halves. Streams and idle polling keep one lane (LISTs are the bill).
  while (!stopping_) {
    lane_signal_.expires_at(std::chrono::steady_clock::time_point::max());
    co_await lane_signal_.async_wait(asio::experimental::as_tuple(asio::use_awaitable)); // main LIST started
    if (stopping_) break;
    // Polls of announced keys take a GET's time (a third of a LIST's here) and come back to back: a
    // second lane would only ask for the same keys.
    auto wanted = [this] { return heartbeat_.conversation() && !inbox_.chained(now_ms()); };
    if (!wanted()) continue;
    lane_timer_.expires_after(list_latency_ / 2);
    co_await lane_timer_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (stopping_ || !wanted()) continue;
    co_await list_once();
  }
}

asio::awaitable<void> Node::beat() {
  // LIST finds what no announcement names: new senders, first objects, what a broken chain left. While
  // announced keys are awaited, that is needed only now and then; the beats in between GET those keys.
  // An object held for its predecessor wants LISTs too: nothing may have announced that one's key.
  bool list_due = !inbox_.chained(now_ms()) || inbox_.holding() ||
                  std::chrono::steady_clock::now() - last_list_ >= config_.chained_list_interval;
  if (!list_due) {
    auto keys = inbox_.start_polls(now_ms());
    if (!keys.empty()) {
      co_await poll_round(std::move(keys));
      co_return;
    }
    if (inbox_.fetching() > 0) {
      // A LIST found the announced object first and its GET is under way; its body names the next
      // key. Another LIST now would only find the same object (and then the next, one LIST each).
      progress_.expires_after(config_.chained_list_interval);
      co_await progress_.async_wait(asio::experimental::as_tuple(asio::use_awaitable)); // cancel = progress
      co_return;
    }
  }
  co_await list_once();
}

// The polls of one beat, in parallel; the beat ends when all have answered.
struct Node::PollRound {
  explicit PollRound(asio::io_context& io) : done(io, std::chrono::steady_clock::time_point::max()) {}
  asio::steady_timer done; // cancelled when the last poll answers
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
  if (round->failed && round->hits == 0) heartbeat_.on_error(core::Clock::now());
  else heartbeat_.on_list(round->hits, core::Clock::now());
}

asio::awaitable<void> Node::poll_key(std::string key, std::shared_ptr<PollRound> round) {
  metrics_.request(store::OpKind::get);
  auto body = co_await store_.get(key, inbox_.config().max_object_bytes);
  if (stopping_) {
    // The device is closed: nothing read now could be delivered, so nothing is taken (the object
    // stays in the bucket for the next start).
    inbox_.on_poll_missed(key, true);
  } else if (body) {
    ++round->hits;
    ++metrics_.ingress.objects;
    inbox_.on_polled(key, *body, now_ms());
    report_seal_mismatch(key);
  } else {
    // Not there yet. Without s3:ListBucket on the whole bucket (the least-privilege policy in
    // scripts/deploy), S3 answers a GET for a missing key with 403 AccessDenied rather than 404. A real
    // refusal of GetObject still shows: the GETs after LISTs report it. Bad credentials are not a miss.
    const auto& e = body.error();
    bool absent = e.http_status == 404 || (e.http_status == 403 && e.code == "AccessDenied");
    if (!absent) {
      round->failed = true;
      s3_failed(store::OpKind::get, e);
    }
    if (e.code == store::kObjectTooLarge) inbox_.on_poll_too_large(key, now_ms());
    else inbox_.on_poll_missed(key, !absent);
  }
  pump();
  if (--round->pending == 0) round->done.cancel();
}

asio::awaitable<void> Node::list_once() {
  constexpr std::size_t kPage = 1000;
  auto started = std::chrono::steady_clock::now();
  last_list_ = started;
  std::size_t fresh = 0;
  std::uint64_t listed = 0;
  std::string after;
  for (std::size_t page = 0; page < config_.max_list_pages; ++page) {
    metrics_.request(store::OpKind::list);
    auto keys = co_await store_.list(inbox_prefix_, kPage, after);
    if (stopping_) co_return;
    if (!keys) {
      s3_failed(store::OpKind::list, keys.error());
      heartbeat_.on_error(core::Clock::now());
      co_return;
    }
    s3_succeeded();
    if (page == 0) // a smoothed LIST latency paces the second lane
      list_latency_ = (list_latency_ * 7 + (std::chrono::steady_clock::now() - started)) / 8;
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
  heartbeat_.on_list(fresh, core::Clock::now());
  pump();
}

void Node::pump() {
  progress_.cancel();
  if (!stopping_) { // once the device is closed, nothing new is fetched or delivered (or consumed)
    std::uint64_t now = now_ms();
    for (auto& key : inbox_.start_fetches(now)) spawn(get_object(std::move(key)));
    if (auto due = inbox_.next_wakeup_ms()) {
      auto at = std::chrono::steady_clock::now() + std::chrono::milliseconds(*due > now ? *due - now : 0);
      if (at < wakeup_timer_.expiry()) wakeup_timer_.expires_at(at);
    }
    deliver();
  }
  if (!deleting_ && inbox_.pending_deletions() > 0) {
    deleting_ = true;
    spawn(delete_consumed());
  }
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
  pump();
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
  if (config_.state_dir && !changes.empty() && !config_.state_dir->save(changes)) {
    metrics_.state_write_failures += changes.size();
    if (log_due(last_state_log_))
      log::error("cannot write {}: a restart may deliver recent packets again (logged at most every {} s)",
                 config_.state_dir->path(), kErrorLogInterval.count());
  }
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
  // The first DeleteObjects goes at once (steady_clock's epoch is the boot: epoch + interval may still
  // be ahead on a machine up for less than the interval); on the way out, what is pending goes at once.
  if (!stopping_ && last_delete_ != std::chrono::steady_clock::time_point{}) {
    delete_timer_.expires_at(last_delete_ + config_.delete_interval);
    co_await delete_timer_.async_wait(asio::experimental::as_tuple(asio::use_awaitable)); // cancel = stop
  }
  last_delete_ = std::chrono::steady_clock::now();
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
  deleting_ = false;
}

} // namespace hoshino::node

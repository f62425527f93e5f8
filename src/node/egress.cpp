// Egress: packets the kernel routes into the interface, to objects in the destinations' inboxes.
//   device.read() -> classify (core::classify_egress) -> PeerDirectory -> Bundler -> PutAttempt -> PUT
// and, after a quiet spell, the destination's bell (RingPolicy).
#include "node/node.hpp"

#include "core/ring.hpp"

#include "core/icmpv6.hpp"
#include "core/keys.hpp"
#include "core/object.hpp"
#include "core/put_attempt.hpp"
#include "core/seal.hpp"
#include "util/log.hpp"
#include "util/timer.hpp"

#include <asio/use_awaitable.hpp>

namespace hoshino::node {

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

void Node::watch_ack_holds() {
  // Only a hold that just started can end before the instant the heartbeat sleeps to: the counter says
  // whether one did, so bursts and PUT completions do not wake it for nothing.
  if (bundler_.ack_holds() == metrics_.ack_holds) return;
  metrics_.ack_holds = bundler_.ack_holds();
  heartbeat_.poke();
}

void Node::enqueue(core::Outgoing packet) {
  const auto dst = packet.view.dst;
  auto dropped = bundler_.dropped_packets();
  if (auto full = bundler_.add(std::move(packet), Clock::now())) spawn(put_batch(std::move(*full)));
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

void Node::answer_unreachable(const core::Outgoing& packet) {
  if (!directory_.allow_unreachable(Clock::now())) {
    metrics_.unreachable_limited = directory_.unreachable_limited();
    return;
  }
  auto answer = core::address_unreachable(packet, config_.self);
  if (answer && device_.write(*answer)) ++metrics_.unreachable_sent;
}

bool Node::forward(core::Bytes packet) {
  // Read once: the directory, the ICMPv6 answer and the bundler use this view (core::PacketView).
  auto d = core::classify_egress(packet, config_.prefix, config_.self);
  if (d.ignore) {
    ++metrics_.ignored[std::string(core::to_string(*d.ignore))];
    return false;
  }
  core::Outgoing out{std::move(packet), d.view};
  if (config_.presence) {
    switch (directory_.route(out, Clock::now())) {
      case core::Route::send: break;
      case core::Route::wait: return false; // the listing decides (list_peers)
      case core::Route::unreachable:
        ++metrics_.dropped["no_peer"];
        answer_unreachable(out);
        return false;
      case core::Route::dropped: ++metrics_.dropped["peer_wait_full"]; return false;
    }
  }
  enqueue(std::move(out));
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
  core::PutAttempt attempt(core::RetryConfig{config_.put_backoff, config_.put_deadline}, conditional_puts_, Clock::now());
  Timer retry(io_);
  auto step = attempt.start();
  for (;;) {
    using Kind = core::PutAction::Kind;
    if (step.kind == Kind::sent || step.kind == Kind::failed) break;
    if (step.kind == Kind::wait) {
      // The destination's in-flight slot stays taken meanwhile: new packets accumulate (bounded) behind it.
      retry.expires_at(step.at);
      co_await retry.async_wait(asio::use_awaitable);
      step = attempt.on_waited();
      continue;
    }
    if (step.kind == Kind::rekey) {
      auto moved = core::rekey_object(config_.key_prefix, object, chain_.fresh(now_ms()), seal_key,
                                      seal_key ? core::random_nonce() : core::Nonce{});
      if (moved) object = std::move(*moved);
      step = attempt.on_rekeyed(moved.has_value());
      continue;
    }
    metrics_.request(store::OpKind::put);
    // Create-only: a writer who guessed or copied an announced key cannot make us overwrite its object,
    // nor have us believe ours is there.
    auto r = co_await store_.put(object.key, object.body, step.create_only);
    if (r) {
      s3_succeeded();
      step = attempt.on_sent();
      continue;
    }
    step = attempt.on_error(r.error(), stopping_, Clock::now(), random01());
    if (step.squatted) ++metrics_.squatted_keys;
    if (step.report) s3_failed(store::OpKind::put, r.error());
    if (step.plain_puts_now && conditional_puts_) {
      conditional_puts_ = false; // for every PUT from now on (said once)
      log::warn("the S3 server does not support conditional PUTs (If-None-Match: *): a bucket writer can "
                "overwrite objects at announced keys; see docs/security.md, Replays, squatting and restarts");
    }
  }
  auto first_attempt = attempt.first_attempt();
  if (step.kind == core::PutAction::Kind::sent) {
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
  // A body of its own each time (S3's ETag is the MD5 of the body, and the receiver watches the ETag),
  // with a proof that this member rang, sealed with our pair key (core/ring.hpp).
  auto key = core::bell_key(config_.key_prefix, dst);
  const core::Ring ring{config_.self, chain_.fresh(now_ms()), {}};
  auto proof = config_.identity ? seal_for(dst) : std::nullopt;
  core::Bytes body = core::ring_body(key, ring, proof ? &proof->key : nullptr, proof ? proof->ids : core::SealIds{});
  // Not for long: the next object after a quiet spell rings again, and the receiver LISTs anyway every
  // idle_list_interval.
  core::Retry attempts(core::RetryConfig{config_.put_backoff, std::nullopt, kRingAttempts}, Clock::now());
  Timer retry(io_);
  for (;;) {
    metrics_.request(store::OpKind::put);
    auto r = co_await store_.put(key, body, false);
    if (r) {
      ++metrics_.rings_sent;
      co_return;
    }
    s3_failed(store::OpKind::put, r.error());
    auto again = attempts.on_failure(core::classify_s3_error(r.error(), false), stopping_, Clock::now(), random01());
    if (!again) break;
    retry.expires_at(*again);
    co_await retry.async_wait(asio::use_awaitable);
  }
  ++metrics_.ring_failures;
}

const core::Psk* Node::pair_key_for(const core::KeyPair& me, const core::Address& peer, const core::PublicKey& key) {
  auto k = std::make_tuple(me.public_key, peer, key);
  if (auto it = pair_keys_.find(k); it != pair_keys_.end()) return it->second ? &*it->second : nullptr;
  if (pair_keys_.size() >= 4096) pair_keys_.clear(); // bounded; rebuilt as peers speak
  auto derived = core::pair_key(me, config_.self, key, peer, config_.key_prefix, config_.psk);
  auto& slot = pair_keys_.emplace(k, derived).first->second; // nullopt: a low-order key, known bad from now on
  return slot ? &*slot : nullptr;
}

std::optional<Node::SealKey> Node::seal_for(const core::Address& dst) {
  if (!config_.identity) {
    if (!config_.psk) return std::nullopt;
    return SealKey{*config_.psk, {}};
  }
  auto key = directory_.key_of(dst);
  if (!key) return std::nullopt;
  // While a record of a previous key of ours stands, peers know us by that key (core/previous_keys.hpp).
  const core::KeyPair* previous = previous_keys_.sealing();
  const core::KeyPair& me = previous ? *previous : *config_.identity;
  const core::Psk* pair = pair_key_for(me, dst, *key);
  if (!pair) return std::nullopt;
  return SealKey{*pair, {core::key_id(me.public_key), core::key_id(*key)}};
}

} // namespace hoshino::node

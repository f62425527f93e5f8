#include "core/bundler.hpp"

#include "core/bundle.hpp"

#include <algorithm>

namespace hoshino::core {

Bundler::Bundler(BundlerConfig config) : config_(config) {
  if (config_.max_in_flight == 0) config_.max_in_flight = 1;
  config_.max_bundle_packets = std::clamp<std::size_t>(config_.max_bundle_packets, 1, 65535);
}

Batch Bundler::take(const Address& dst, Queue& q) {
  Batch b{dst, {}, 0};
  // At least one packet; then as many as fit under the cap (and the format's packet count limit).
  while (!q.packets.empty() && b.packets.size() < config_.max_bundle_packets &&
         (b.packets.empty() || b.bytes + q.packets.front().size() <= config_.max_bundle_bytes)) {
    b.bytes += q.packets.front().size();
    q.bytes -= q.packets.front().size();
    total_bytes_ -= q.packets.front().size();
    b.packets.push_back(std::move(q.packets.front()));
    q.packets.pop_front();
  }
  ++q.in_flight;
  ++total_in_flight_;
  return b;
}

void Bundler::drop_front(Queue& q, bool node_bound) {
  ++dropped_packets_;
  if (node_bound) ++dropped_node_packets_;
  dropped_bytes_ += q.packets.front().size();
  q.bytes -= q.packets.front().size();
  total_bytes_ -= q.packets.front().size();
  q.packets.pop_front();
}

std::optional<Batch> Bundler::start_or_block(const Address& dst, Queue& q) {
  // Turns are FIFO: while others wait for a slot, a destination does not jump the queue.
  if (total_in_flight_ < config_.max_total_in_flight && (blocked_.empty() || q.blocked)) {
    if (q.blocked) {
      q.blocked = false;
      std::erase(blocked_, dst);
    }
    return take(dst, q);
  }
  if (!q.blocked) {
    q.blocked = true;
    blocked_.push_back(dst);
  }
  return std::nullopt;
}

bool Bundler::held(Queue& q, Clock::time_point now) {
  if (!holdable(q) || now >= q.hold_until) return false;
  if (!q.hold_counted) {
    q.hold_counted = true;
    ++ack_holds_;
  }
  return true;
}

bool Bundler::full(const Queue& q) const {
  return q.bytes >= config_.max_bundle_bytes || q.packets.size() >= config_.max_bundle_packets;
}

std::optional<Batch> Bundler::add(Outgoing outgoing, Clock::time_point now) {
  const Address dst = outgoing.view.dst;
  const bool ack = outgoing.view.pure_tcp_ack;
  Bytes packet = std::move(outgoing.bytes);
  Queue& q = queues_[dst];
  // Bounded: drop the oldest (they are the most likely to be useless by the time they would arrive).
  while (!q.packets.empty() && q.bytes + packet.size() > config_.max_queue_bytes) drop_front(q, false);
  // The node-wide bound: the oldest packet of the largest queue goes (this one's, if it is the largest),
  // so one busy destination cannot push out a quiet one's packets.
  while (total_bytes_ + packet.size() > config_.max_total_queue_bytes) {
    Queue* largest = nullptr;
    for (auto& [d, other] : queues_)
      if (!other.packets.empty() && (!largest || other.bytes > largest->bytes)) largest = &other;
    if (!largest) break;
    drop_front(*largest, true);
  }
  if (q.packets.empty()) {
    q.acks_only = ack;
    q.hold_until = now + config_.ack_hold;
    q.hold_counted = false;
  } else {
    q.acks_only = q.acks_only && ack;
  }
  q.bytes += packet.size();
  total_bytes_ += packet.size();
  q.packets.push_back(std::move(packet));
  if (full(q) && q.in_flight < config_.max_in_flight) return start_or_block(dst, q);
  return std::nullopt;
}

std::vector<Batch> Bundler::flush(Clock::time_point now) {
  std::vector<Batch> out;
  for (auto& [dst, q] : queues_)
    if (partial_ready(q) && !held(q, now))
      if (auto b = start_or_block(dst, q)) out.push_back(std::move(*b));
  return out;
}

std::vector<Batch> Bundler::take_unblocked() {
  std::vector<Batch> out;
  while (!blocked_.empty() && total_in_flight_ < config_.max_total_in_flight) {
    Address dst = blocked_.front();
    blocked_.pop_front();
    auto it = queues_.find(dst);
    if (it == queues_.end()) continue;
    it->second.blocked = false;
    // No ACK hold here: a queue that waited for a node-wide slot has waited long enough.
    if (eligible(it->second)) out.push_back(take(dst, it->second));
    else forget_if_idle(dst);
  }
  return out;
}

std::optional<Batch> Bundler::on_put_done(const Address& dst, Clock::time_point now) {
  auto it = queues_.find(dst);
  if (it == queues_.end()) return std::nullopt;
  Queue& q = it->second;
  if (q.in_flight > 0) {
    --q.in_flight;
    --total_in_flight_;
  }
  // A full bundle may join the PUTs in flight; a partial one waits until they are all done, and so
  // collects what arrives meanwhile.
  if (eligible(q) && !q.blocked && !held(q, now)) return start_or_block(dst, q);
  forget_if_idle(dst);
  return std::nullopt;
}

std::optional<Clock::time_point> Bundler::next_release() const {
  std::optional<Clock::time_point> next;
  for (const auto& [dst, q] : queues_)
    if (holdable(q) && partial_ready(q) && (!next || q.hold_until < *next))
      next = q.hold_until;
  return next;
}

std::vector<Batch> Bundler::drain() {
  std::vector<Batch> out;
  for (auto& [dst, q] : queues_) {
    while (!q.packets.empty()) {
      out.push_back(take(dst, q));
    }
  }
  return out;
}

std::size_t Bundler::in_flight(const Address& dst) const {
  auto it = queues_.find(dst);
  return it == queues_.end() ? 0 : it->second.in_flight;
}

std::size_t Bundler::queued_bytes(const Address& dst) const {
  auto it = queues_.find(dst);
  return it == queues_.end() ? 0 : it->second.bytes;
}

void Bundler::forget_if_idle(const Address& dst) {
  // Destinations come and go: an idle one costs no memory.
  auto it = queues_.find(dst);
  if (it != queues_.end() && it->second.in_flight == 0 && it->second.packets.empty() && !it->second.blocked)
    queues_.erase(it);
}

} // namespace hoshino::core

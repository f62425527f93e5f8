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
    b.packets.push_back(std::move(q.packets.front()));
    q.packets.pop_front();
  }
  ++q.in_flight;
  return b;
}

bool Bundler::full(const Queue& q) const {
  return q.bytes >= config_.max_bundle_bytes || q.packets.size() >= config_.max_bundle_packets;
}

std::optional<Batch> Bundler::add(const Address& dst, Bytes packet) {
  Queue& q = queues_[dst];
  // Bounded: drop the oldest (they are the most likely to be useless by the time they would arrive).
  while (!q.packets.empty() && q.bytes + packet.size() > config_.max_queue_bytes) {
    ++dropped_packets_;
    dropped_bytes_ += q.packets.front().size();
    q.bytes -= q.packets.front().size();
    q.packets.pop_front();
  }
  q.bytes += packet.size();
  q.packets.push_back(std::move(packet));
  if (full(q) && q.in_flight < config_.max_in_flight) return take(dst, q);
  return std::nullopt;
}

std::vector<Batch> Bundler::flush() {
  std::vector<Batch> out;
  for (auto& [dst, q] : queues_)
    if (q.in_flight == 0 && !q.packets.empty()) out.push_back(take(dst, q));
  return out;
}

std::optional<Batch> Bundler::on_put_done(const Address& dst) {
  auto it = queues_.find(dst);
  if (it == queues_.end()) return std::nullopt;
  Queue& q = it->second;
  if (q.in_flight > 0) --q.in_flight;
  // A full bundle may join the PUTs in flight; a partial one waits until they are all done, and so
  // collects what arrives meanwhile.
  if (!q.packets.empty() && q.in_flight < config_.max_in_flight && (q.in_flight == 0 || full(q)))
    return take(dst, q);
  forget_if_idle(dst);
  return std::nullopt;
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
  if (it != queues_.end() && it->second.in_flight == 0 && it->second.packets.empty()) queues_.erase(it);
}

} // namespace hoshino::core

#pragma once
// Egress group commit, per destination. A packet goes out at once when no PUT is in flight for its
// destination; while PUTs are in flight, packets accumulate. Full bundles (the byte or packet cap) may
// go at once, up to the in-flight bound; a partial one only when no PUT for that destination is in
// flight, so at most one small object is ever on its way. No timers: an idle pipe never delays a packet.
// A burst read from the device at once is add()ed whole and then flush()ed: one object, not one each.
#include "core/ipv6.hpp"

#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

namespace hoshino::core {

struct BundlerConfig {
  std::size_t max_in_flight = 4;          // PUTs per destination at once
  std::size_t max_bundle_bytes = 2 << 20; // packet bytes per object (see README, Benchmarks)
  std::size_t max_queue_bytes = 8 << 20;  // waiting bytes per destination; beyond it the oldest are dropped
  std::size_t max_bundle_packets = 65535; // packets per object (the format's limit; 1 = no bundling)
};

struct Batch {
  Address dst;
  std::vector<Bytes> packets;
  std::size_t bytes = 0;
};

class Bundler {
public:
  explicit Bundler(BundlerConfig config);

  // A packet for dst, part of a burst: queued; returns a batch only if a full bundle can start now.
  std::optional<Batch> add(const Address& dst, Bytes packet);
  // End of a burst: a batch for each destination with packets waiting and no PUT in flight.
  std::vector<Batch> flush();
  // A PUT for dst finished (successfully or not). Returns the next batch to PUT, if any.
  std::optional<Batch> on_put_done(const Address& dst);
  // Everything still waiting, one batch per destination (for shutdown), regardless of in-flight bounds.
  std::vector<Batch> drain();

  std::size_t in_flight(const Address& dst) const;
  std::size_t queued_bytes(const Address& dst) const;
  std::uint64_t dropped_packets() const noexcept { return dropped_packets_; }
  std::uint64_t dropped_bytes() const noexcept { return dropped_bytes_; }
  std::size_t destinations() const noexcept { return queues_.size(); }

private:
  struct Queue {
    std::deque<Bytes> packets;
    std::size_t bytes = 0;
    std::size_t in_flight = 0;
  };
  Batch take(const Address& dst, Queue& q);
  bool full(const Queue& q) const;
  void forget_if_idle(const Address& dst);

  BundlerConfig config_;
  std::unordered_map<Address, Queue, AddressHash> queues_;
  std::uint64_t dropped_packets_ = 0;
  std::uint64_t dropped_bytes_ = 0;
};

} // namespace hoshino::core

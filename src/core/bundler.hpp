#pragma once
// Egress group commit, per destination. A packet goes out at once when no PUT is in flight for its
// destination; while PUTs are in flight, packets accumulate. Full bundles (the byte or packet cap) may
// go at once, up to the in-flight bound; a partial one only when no PUT for that destination is in
// flight, so at most one small object is ever on its way. An idle pipe never delays a packet that carries
// data. A burst read from the device at once is add()ed whole and then flush()ed: one object, not one each.
//
// One exception to "at once": a batch of nothing but TCP ACKs waits ack_hold for company. A delivered
// bundle makes the receiving kernel ACK at once, and again moments later as the application reads (window
// updates); without the wait those are two objects, each a PUT for the receiver and a GET for the sender
// (docs/benchmarks.md, "The ACK hold").
#include "core/ipv6.hpp"
#include "util/clock.hpp"

#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

namespace hoshino::core {

struct BundlerConfig {
  std::size_t max_in_flight = 4;          // PUTs per destination at once
  std::size_t max_bundle_bytes = 2 << 20; // packet bytes per object (see docs/benchmarks.md)
  std::size_t max_queue_bytes = 8 << 20;  // waiting bytes per destination; beyond it the oldest are dropped
  std::size_t max_bundle_packets = 65535; // packets per object (the format's limit; 1 = no bundling)
  // The whole node, across destinations: many busy destinations must not add up without bound.
  std::size_t max_total_queue_bytes = 64 << 20; // beyond, the oldest packet of the largest queue is dropped
  std::size_t max_total_in_flight = 64;         // PUTs at once; destinations then take turns (FIFO)
  // A queue of pure TCP ACKs (core::is_pure_tcp_ack) starts its PUT this long after its first packet
  // came, unless other packets join it first (then at once). 0: at once, like any packet.
  Clock::duration ack_hold = std::chrono::milliseconds(1);
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
  std::optional<Batch> add(Outgoing packet, Clock::time_point now); // to packet.view.dst
  // End of a burst: a batch for each destination with packets waiting, no PUT in flight and no ACK hold
  // running. Also what to call when next_release() has come.
  std::vector<Batch> flush(Clock::time_point now);
  // A PUT for dst finished (successfully or not). Returns the next batch to PUT, if any.
  std::optional<Batch> on_put_done(const Address& dst, Clock::time_point now);
  // The earliest end of an ACK hold (then flush()), if a queue is held.
  std::optional<Clock::time_point> next_release() const;
  // Batches for destinations that waited for a node-wide PUT slot, in the order they started waiting;
  // call after on_put_done (a slot may have come free).
  std::vector<Batch> take_unblocked();
  // Everything still waiting, one batch per destination (for shutdown), regardless of in-flight bounds.
  std::vector<Batch> drain();

  std::size_t in_flight(const Address& dst) const;
  std::size_t queued_bytes(const Address& dst) const;
  std::uint64_t dropped_packets() const noexcept { return dropped_packets_; }
  std::uint64_t dropped_bytes() const noexcept { return dropped_bytes_; }
  // Of dropped_packets(), those dropped for the node-wide bound (max_total_queue_bytes).
  std::uint64_t dropped_node_packets() const noexcept { return dropped_node_packets_; }
  std::size_t destinations() const noexcept { return queues_.size(); }
  std::size_t total_queued_bytes() const noexcept { return total_bytes_; }
  std::size_t total_in_flight() const noexcept { return total_in_flight_; }
  std::uint64_t ack_holds() const noexcept { return ack_holds_; } // ACK holds started (data may end one early)

private:
  struct Queue {
    std::deque<Bytes> packets;
    std::size_t bytes = 0;
    std::size_t in_flight = 0;
    bool blocked = false; // in blocked_: waits for a node-wide PUT slot
    bool acks_only = false;       // every queued packet is a pure TCP ACK
    Clock::time_point hold_until; // for acks_only: not before this (first packet + ack_hold)
    bool hold_counted = false;    // this hold is in ack_holds_ already
  };
  // Whether q is a batch the ACK hold applies to: only ACKs, and not yet a full bundle (that may join the
  // PUTs in flight, which next_release() does not watch).
  bool holdable(const Queue& q) const {
    return config_.ack_hold > Clock::duration::zero() && q.acks_only && !full(q);
  }
  // Whether q waits for its ACK hold now (counted once per hold).
  bool held(Queue& q, Clock::time_point now);
  Batch take(const Address& dst, Queue& q);
  bool full(const Queue& q) const;
  // Whether q's packets would go at the end of a burst: none in flight, not waiting for a node-wide slot
  // (what flush() starts, and the only queues an ACK hold can keep waiting).
  bool partial_ready(const Queue& q) const { return q.in_flight == 0 && !q.packets.empty() && !q.blocked; }
  // Whether q may start a PUT by its own rules (the per-destination ones).
  bool eligible(const Queue& q) const {
    return !q.packets.empty() && q.in_flight < config_.max_in_flight && (q.in_flight == 0 || full(q));
  }
  // Starts a PUT for q if a node-wide slot is free; else it waits its turn in blocked_.
  std::optional<Batch> start_or_block(const Address& dst, Queue& q);
  void drop_front(Queue& q, bool node_bound);
  void forget_if_idle(const Address& dst);

  BundlerConfig config_;
  std::unordered_map<Address, Queue, AddressHash> queues_;
  std::uint64_t dropped_packets_ = 0;
  std::uint64_t dropped_bytes_ = 0;
  std::uint64_t dropped_node_packets_ = 0;
  std::size_t total_bytes_ = 0;
  std::size_t total_in_flight_ = 0;
  std::uint64_t ack_holds_ = 0;
  std::deque<Address> blocked_;
};

} // namespace hoshino::core

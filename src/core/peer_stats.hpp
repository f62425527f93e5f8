#pragma once
// What a node knows of each peer it talks to, for `hoshino show` and the per-peer metrics: last object
// received and sent, objects and bytes each way, dropped packets, and a round-trip estimate (from an
// object sent to a peer to the next object received from it: in a conversation, the tunnel's round
// trip). Bounded: at most max_peers, the one quiet for longest is forgotten first.
#include "core/ipv6.hpp"
#include "util/clock.hpp"

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

namespace hoshino::core {

struct PeerStats {
  std::uint64_t objects_in = 0, objects_out = 0;
  std::uint64_t bytes_in = 0, bytes_out = 0; // packet bytes
  std::uint64_t dropped = 0;                 // packets to it that were dropped (queue, PUT failed, no key)
  std::optional<Clock::time_point> last_in, last_out;
  std::optional<Clock::duration> rtt;        // smoothed (7/8 old + 1/8 new)
  std::optional<Clock::time_point> probe;    // an object sent, waiting for the next one back
};

class PeerTable {
public:
  explicit PeerTable(std::size_t max_peers = 256) : max_peers_(max_peers) {}

  // An object to peer landed; its PUT started at `started` (where the round trip begins).
  void on_sent(const Address& peer, std::size_t bytes, Clock::time_point started, Clock::time_point now);
  void on_received(const Address& peer, std::size_t packets_bytes, std::size_t objects, Clock::time_point now);
  void on_dropped(const Address& peer, std::size_t packets, Clock::time_point now);

  const std::unordered_map<Address, PeerStats, AddressHash>& peers() const noexcept { return peers_; }
  std::size_t max_peers() const noexcept { return max_peers_; }
  std::uint64_t forgotten() const noexcept { return forgotten_; }

private:
  PeerStats& at(const Address& peer, Clock::time_point now);
  std::size_t max_peers_;
  std::unordered_map<Address, PeerStats, AddressHash> peers_;
  std::uint64_t forgotten_ = 0;
};

} // namespace hoshino::core

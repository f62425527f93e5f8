#pragma once
// What a ring of a node's doorbell says (core/ingress_schedule.hpp): who rang, when, and a proof that a
// member rang: an empty message sealed with the pair key of (ringer, rung) over the bell's key, the
// ringer and the ULID. Anyone can write a bell; a ring that proves its ringer gets that ringer's own
// ring tokens, so junk rings (which spend the shared ones) cannot delay it, and a member that rings
// without end spends only its own. A proven ring is taken once: its ULID must be young and newer than
// the ringer's previous one (a copy of a real ring, written again, proves nothing).
//
// The body: "<ringer address> <ULID> <sealed, base64url>" (the third part absent when unsealed).
#include "core/ipv6.hpp"
#include "core/seal.hpp"
#include "core/ulid.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace hoshino::core {

struct Ring {
  Address ringer;
  Ulid id;
  std::string sealed; // the proof (raw bytes), empty if none
};

// What the proof is sealed over: the bell's key, the ringer and the ULID.
std::string ring_associated(std::string_view bell_key, const Address& ringer, const Ulid& id);
// The body of a ring; with a pair key and its ids, with a proof.
std::string ring_body(std::string_view bell_key, const Ring& ring, const Psk* pair, SealIds ids);
// Parses a bell's body (at most 1 KiB), nullopt if it is no ring.
std::optional<Ring> parse_ring(std::string_view body);

// Which proven rings are new: per ringer the latest ULID taken (bounded), and an age window.
class RingGuard {
public:
  explicit RingGuard(std::uint64_t max_age_ms = 60'000, std::uint64_t max_future_ms = 10'000, std::size_t max_ringers = 1024)
      : max_age_ms_(max_age_ms), max_future_ms_(max_future_ms), max_ringers_(max_ringers) {}
  // Whether a proven ring with this ULID is fresh (young, not ahead, newer than the ringer's last);
  // if so it is remembered.
  bool take(const Address& ringer, const Ulid& id, std::uint64_t now_ms);

private:
  std::uint64_t max_age_ms_, max_future_ms_;
  std::size_t max_ringers_;
  std::map<Address, Ulid> latest_;
};

} // namespace hoshino::core

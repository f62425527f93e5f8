#pragma once
// Key chaining, the sender's side. Every object announces (core/bundle.hpp, "next") the ULID that the
// sender's next object to the same destination will take. A receiver holding one object can then wait
// for the next with GET on that exact key ($0.0004 per 1000 requests, and the answer is the body
// itself) instead of LIST ($0.005 per 1000, and a GET after it). LIST remains the way to find first
// objects, and anything a broken chain left behind.
//
// An announced ULID is used only within kChainTtlMs of its making: later, the next object takes a
// fresh one (and is found by LIST). So no object carries an old time (the receiver's age and staleness
// checks stay meaningful), and a receiver polls an announced key only that long.
#include "core/ipv6.hpp"
#include "core/ulid.hpp"

#include <functional>
#include <optional>
#include <unordered_map>

namespace hoshino::core {

// Shorter than the inbox's startup grace (5 s), so a chained object is never taken as stale.
inline constexpr std::uint64_t kChainTtlMs = 3000;

struct KeyPick {
  Ulid id;
  std::optional<Ulid> next; // announce this as the successor's key
  bool announced = false;   // `id` was announced: the object must be stored at exactly that key (no inlining)
};

class KeyChain {
public:
  // enabled = false: every object takes a fresh ULID and announces nothing (the original design).
  // max_ahead_ms: see UlidGenerator (the node passes half of what receivers accept ahead).
  static constexpr std::size_t kMaxDestinations = 4096;
  KeyChain(bool enabled, std::function<std::uint64_t()> random64, std::size_t max_destinations = kMaxDestinations,
           std::uint64_t max_ahead_ms = 0);

  // The key of the next object to dst, made now. ULIDs are taken in call order, so per destination the
  // order of the keys is the order of the calls (an announced one was made before its successor's).
  KeyPick pick(const Address& dst, std::uint64_t now_ms);
  // A ULID that was never announced (for an object whose key someone took first).
  Ulid fresh(std::uint64_t now_ms) { return ulids_.next(now_ms); }

  std::size_t destinations() const noexcept { return links_.size(); }
  std::uint64_t ulid_restarts() const noexcept { return ulids_.restarts(); }

private:
  struct Link {
    Ulid next;
    std::uint64_t made_ms;
  };
  bool enabled_;
  std::size_t max_destinations_;
  UlidGenerator ulids_;
  std::unordered_map<Address, Link, AddressHash> links_;
};

} // namespace hoshino::core

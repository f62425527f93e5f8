#pragma once
// This node's key pairs before its rotations (SIGHUP), and when each may still be used. Peers learn a
// node's key from its presence record and switch when a listing shows the new record alone; until then
// they seal to the old key. So a previous key stays as long as its record stands in the bucket (its
// removal failed or is not done yet: peers see two records and keep the old key) and for `overlap`
// after it is gone (objects sealed before they switched may still be on their way). While a previous
// key's record stands, this node also seals with it (the oldest such: the one peers know), so that its
// objects open at peers that have not switched. I/O-free: the presence shell says which records stand.
#include "core/identity.hpp"
#include "util/clock.hpp"

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace hoshino::core {

class PreviousKeys {
public:
  explicit PreviousKeys(Duration overlap, std::size_t max_keys = 4) : overlap_(overlap), max_keys_(max_keys) {}

  // The node moved from `old` (whose presence record is `record`) to another key.
  void add(const KeyPair& old, std::string record, Clock::time_point now);
  // The node's records in the bucket under keys it no longer holds, as the presence publisher knows them
  // (PresencePublisher::stale): those of previous keys that are not among them are gone now.
  void on_standing(const std::vector<std::string>& standing, Clock::time_point now);

  // The key to seal with instead of the current one: the oldest previous key whose record stands.
  const KeyPair* sealing() const;
  // The previous key objects sealed for receiver key id `id` open with, if it may still be used.
  const KeyPair* receiving(KeyId id, Clock::time_point now) const;

  std::size_t size() const noexcept { return keys_.size(); }
  // Previous keys let go while still usable (more rotations in a row than max_keys): counted, logged.
  std::uint64_t dropped() const noexcept { return dropped_; }

private:
  struct Previous {
    KeyPair key;
    std::string record;
    bool standing = true;
    Clock::time_point until{}; // once its record is gone
  };
  void forget_expired(Clock::time_point now);

  Duration overlap_;
  std::size_t max_keys_;
  std::deque<Previous> keys_; // oldest first
  std::uint64_t dropped_ = 0;
};

} // namespace hoshino::core

#pragma once
// Which objects were consumed already, by identity: (sender, ULID), whatever the key's spelling (an
// inline key and a bare key of the same ULID are one object). The inbox asks this before it takes an
// object, so a bucket writer can neither make a node deliver an object twice (re-PUT under the same
// or the other spelling) nor push real entries out with junk: only objects that passed the inbox's
// checks (opened with the key, when sealing is on) are recorded, and nothing else evicts them.
//
// Per sender, like WireGuard's counter window: the latest `window` consumed ULIDs are remembered
// exactly, and everything at or below the oldest of them (the floor) counts as consumed. One sender's
// objects are made in ULID order, and a late one (a PUT that took long) is still accepted while it is
// within the window. The sender's highest ULID is what a restarted node needs (restore()): the shell
// persists it before the packets are delivered (take_changed()).
#include "core/ipv6.hpp"
#include "core/ulid.hpp"

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace hoshino::core {

struct ReplayConfig {
  std::size_t max_senders = 4096; // senders remembered; each costs at most window * 16 bytes
  std::size_t window = 256;       // ULIDs remembered exactly per sender, below its highest
  // A sender whose highest ULID is older than this may be forgotten safely: the age check refuses
  // anything of it anyway (the inbox's maximum age plus the clock tolerance).
  std::uint64_t forget_after_ms = 70'000;
};

class ReplayWindow {
public:
  explicit ReplayWindow(ReplayConfig config = {});

  // True if this object was consumed already, or lies at or below the sender's floor.
  bool seen(const Address& sender, const Ulid& id) const;
  // Records a consumed object.
  void accept(const Address& sender, const Ulid& id, std::uint64_t now_ms);
  // After a restart: everything of that sender up to `highest` counts as consumed.
  void restore(const Address& sender, const Ulid& highest, std::uint64_t now_ms);
  struct Highest {
    Address sender;
    Ulid id;
  };
  // Senders whose highest ULID changed since the last call, with it (what to persist).
  std::vector<Highest> take_changed();

  std::size_t senders() const noexcept { return senders_.size(); }
  // Whether an object of this sender was consumed (authentic, or restored from the state directory):
  // such a sender holds a key, so the inbox serves it before senders it has never heard from.
  bool knows(const Address& sender) const { return senders_.contains(sender); }
  // Senders forgotten while their objects could still be young (the table was full of live senders):
  // objects of unknown senders up to that time are then refused, never delivered twice.
  std::uint64_t evicted_live() const noexcept { return evicted_live_; }

private:
  struct Sender {
    Ulid floor{};              // at or below: consumed (all zero: nothing yet)
    std::vector<Ulid> recent;  // consumed, above the floor, sorted; at most window
    const Ulid& highest() const { return recent.empty() ? floor : recent.back(); }
  };
  Sender& slot(const Address& sender, std::uint64_t now_ms);

  ReplayConfig config_;
  std::unordered_map<Address, Sender, AddressHash> senders_;
  std::unordered_map<Address, Ulid, AddressHash> changed_; // sender -> highest, not yet taken
  std::uint64_t forgotten_until_ms_ = 0; // unknown senders' objects up to this time count as consumed
  std::uint64_t evicted_live_ = 0;
};

} // namespace hoshino::core

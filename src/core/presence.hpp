#pragma once
// Who is in the bucket. Each node publishes a small presence record,
// <key-prefix>/peers/<address as 32 hex digits>.<public key, 43 characters of base64url>, at start
// (refreshed rarely, removed on a clean stop), so that a packet to an address of the /64 that nobody
// holds can be answered at once (ICMPv6 address unreachable, core/icmpv6.hpp) instead of becoming a paid
// PUT into an inbox nobody reads, so that `hoshino peers` can list the fleet, and so that a LIST alone
// tells every node's public key (core/identity.hpp): no GET per peer. A node has one record at a time;
// a key rotation writes the new one and removes the old.
//
// The record (text, one "field value" per line, at most kMaxPresenceBytes):
//   hoshino-presence 1
//   address fd5e::a1a1:a1a1:a1a1:a1a1
//   hostname vm1
//   version 0.9.0
//   started 1764626400000          (unix milliseconds)
//
// PeerDirectory decides, per outgoing packet, whether its destination is there: send, wait for the
// directory's listing, or answer unreachable. It learns who is there from LISTs of peers/ (one LIST names
// up to 1000 nodes: a scan of a /112 costs at most one LIST per absent_ttl, never a PUT per address) and
// from every authentic object received (its sender is there: replies never wait). I/O-free, like the
// rest of core/: the node lists, and reports what it found.
#include "core/identity.hpp"
#include "core/ipv6.hpp"
#include "core/pace.hpp"
#include "util/clock.hpp"

#include <algorithm>
#include <deque>
#include <utility>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace hoshino::core {

inline constexpr std::size_t kMaxPresenceBytes = 1024;

struct PresenceRecord {
  Address address;
  std::string hostname; // printable ASCII, at most 253 characters
  std::string version;
  std::uint64_t started_ms = 0;
};

// <key_prefix>/peers/ and <key_prefix>/peers/<hex>.<key>.
std::string presence_prefix(std::string_view key_prefix);
std::string presence_key(std::string_view key_prefix, const Address& node, const PublicKey& key);

// A node and its public key, as a presence record's name tells them.
struct PeerKey {
  Address address;
  PublicKey key{};
  auto operator<=>(const PeerKey&) const = default;
};
// What a key under presence_prefix names (nullopt: not a presence key in canonical form).
std::optional<PeerKey> parse_presence_key(std::string_view key_prefix, std::string_view key);

std::string format_presence(const PresenceRecord& r);
// Strict: the header line, the four fields once each, nothing else, and an address equal to `expected`
// (the one its key names: a record cannot speak for another node).
Result<PresenceRecord, std::string> parse_presence(std::string_view body, const Address& expected);

struct PeerDirectoryConfig {
  // A listing this young answers "nobody holds that address"; an older one is taken again first.
  Duration absent_ttl = std::chrono::seconds(5);
  // A peer found by a listing, or heard from, is taken to be there for this long without asking again.
  Duration present_ttl = std::chrono::minutes(10);
  // After a failed listing, unknown destinations are sent to (as before the directory) for this long:
  // an S3 hiccup must not cut peers off.
  Duration fail_open = std::chrono::seconds(5);
  // After a failed listing, packets that need a key wait for the next one: it comes after retry_first,
  // doubling with each failure in a row up to fail_open (a 500 or a SlowDown must not cost 5 s of
  // packets beyond max_waiting_packets). An incomplete listing (more records than max_pages) backs off
  // the same way: junk records must not make every waiting packet start another many-page listing.
  Duration retry_first = std::chrono::milliseconds(250);
  std::size_t max_peers = 65536;        // remembered present peers (a listing reads at most max_pages)
  // A peer's previous key is still accepted this long after its new one was seen: objects sealed
  // before its rotation may still be on their way (and it keeps its old private key as long).
  Duration key_overlap = std::chrono::minutes(15);
  std::size_t max_waiting_peers = 256;  // destinations waiting for a listing at once
  std::size_t max_waiting_packets = 32; // packets per waiting destination (as a neighbour cache's queue)
  // ICMPv6 errors: at most burst at once, one more per refill (RFC 4443 §2.4 f asks for a rate limit).
  // Identity sealing: a destination is sent to only once its public key is known (no fail-open for keys).
  bool need_keys = false;
  // A key restored from the state directory (remembered from an earlier run) that a listing shows
  // replaced is refused (reported, counted) until the operator allows it: false. A key learnt in this
  // run follows the record as it changes (a rotation, logged). true: restored keys are followed too.
  bool accept_key_changes = false;
  // Listings wanted by the inbox alone (an object sealed with a key not known yet): at most one per this.
  Duration wanted_interval = std::chrono::seconds(1);
  unsigned unreachable_burst = 10;
  Duration unreachable_refill = std::chrono::milliseconds(100);
};

enum class Route {
  send,        // the destination is there (or cannot be known now): hand the packet to the bundler
  wait,        // held until the listing under way answers
  unreachable, // nobody holds the address: answer ICMPv6 unreachable, drop the packet
  dropped,     // held queues are full: dropped (counted as wait_full)
};

// What the directory knows of a peer's keys.
struct PeerKeys {
  std::optional<PublicKey> current;
  std::optional<PublicKey> previous; // until previous_until (its rotation)
  Clock::time_point previous_until{};
  bool pinned = false;               // from the peers file: listings cannot change it
  bool restored = false;             // remembered from an earlier run (the state directory) ...
  bool confirmed = false;            // ... and seen listed as it is in this run
  std::optional<PublicKey> refused;  // a listed key that replaced a restored one, refused (reported once)
  bool heard = false;                // an authentic object came from it (kept first in known_peers)
};

// How the directory judged a key a listing showed for a peer.
enum class KeySeen { first, same, changed, refused_pinned };

// A key change the shell must report (loudly: a rotation, or someone who can write that record).
struct KeyChange {
  Address address;
  PublicKey from{}, to{};
  bool refused = false; // pinned, or restored and not allowed to change: the listed key is not trusted
  bool restored = false; // refused because it replaced a key remembered from an earlier run
};

// What a listing (or its failure) decided for the packets that waited for it.
struct Resolved {
  Address dst;
  bool present = false; // true: send them; false: nobody holds dst (unreachable)
  std::vector<Outgoing> packets;
  bool unproven = false; // not present, but the listing was incomplete: drop them without an answer
};

// Which addresses a listing speaks for: all (complete), or those it read whole (every address below
// `below`, and those looked up one by one: core/presence_scan.hpp). Of any other, absence is unproven.
struct Coverage {
  Coverage() = default;
  Coverage(bool whole) : complete(whole) {} // NOLINT: a listing that read everything, or nothing provable
  bool complete = false;
  std::optional<Address> below;
  std::vector<Address> looked_up;
  bool covers(const Address& a) const;
};

class PeerDirectory {
public:
  explicit PeerDirectory(PeerDirectoryConfig config = {}) : config_(config), tokens_(config.unreachable_burst) {}

  // A packet for dst: what to do with it. For `wait`, the packet is kept here (Resolved later).
  // (The packet is taken only when it waits.)
  Route route(Outgoing& packet, Clock::time_point now);
  // A listing of peers/ should start now (someone waits and none is under way). Marks it started.
  bool start_listing(Clock::time_point now);
  // A listing found these nodes and keys; `coverage`: of which addresses it read every record (else absence
  // cannot be concluded).
  std::vector<Resolved> on_listed(const std::vector<PeerKey>& present, const Coverage& coverage, Clock::time_point now);
  // For the listing that started: the destinations that wait for it, in the order they came, then the
  // senders the inbox wants (taken: the next listing gets the next ones), to be looked up one by one if
  // its pages do not reach them.
  std::vector<Address> take_lookups();
  // Key changes seen by listings since the last call (for the log and a counter).
  std::vector<KeyChange> take_key_changes() { return std::exchange(key_changes_, {}); }
  // A peer from the peers file: its key is this one, whatever a listing says (trust on first use otherwise).
  void pin(const Address& address, const PublicKey& key);
  // A key learnt in an earlier run (the state directory's known peers, like ssh's known_hosts).
  void restore(const Address& address, const PublicKey& key);
  // Keys learnt on first use or changed since the last call: the known peers to persist (the node then
  // writes keys_known()).
  bool take_known_changed() { return std::exchange(known_changed_, false); }
  // The keys trusted on first use (not pinned, not refused), for the state directory: at most max.
  std::vector<PeerKey> keys_known(std::size_t max) const;
  // Listed keys refused because they replaced a restored one (hoshino_peer_key_changes_refused_total).
  std::uint64_t key_changes_refused() const noexcept { return key_changes_refused_; }
  // The key to seal objects to dst with (its current one).
  std::optional<PublicKey> key_of(const Address& dst) const;
  // The peer's key whose id is `id`, if the directory trusts it now (current, or previous within the overlap).
  std::optional<PublicKey> key_with_id(const Address& peer, KeyId id, Clock::time_point now) const;
  // Whether a listing newer than absent_ttl stands behind what the directory says (else ask: want_listing).
  bool fresh(Clock::time_point now) const { return listed_at_ && now - *listed_at_ < config_.absent_ttl; }
  // Someone (the inbox: an object from `sender` sealed with a key not known yet) wants a listing even
  // though no packet waits; the sender is looked up by itself if the listing's pages do not reach it.
  void want_listing(std::optional<Address> sender = std::nullopt) {
    wanted_ = true;
    if (sender && wanted_senders_.size() < config_.max_waiting_peers &&
        std::find(wanted_senders_.begin(), wanted_senders_.end(), *sender) == wanted_senders_.end())
      wanted_senders_.push_back(*sender);
  }
  // How many pages the latest listing read: listings wanted by the inbox alone wait wanted_interval per
  // page, so junk records cannot make them expensive.
  void set_listing_pages(std::size_t pages) { pages_ = std::max<std::size_t>(pages, 1); }
  // The listing failed: the waiting packets go out anyway, and unknown destinations are sent to for fail_open.
  // random01 (0..1) spreads the retry over the second half of its backoff.
  std::vector<Resolved> on_list_failed(Clock::time_point now, double random01 = 1.0);
  // When start_listing will next say yes for packets that wait (after failures, the backoff ends), if
  // any wait and no listing is under way: the node's timer.
  std::optional<Clock::time_point> next_listing() const;
  // An authentic object from src was received: src is there.
  void on_heard(const Address& src, Clock::time_point now);
  // Whether an ICMPv6 error may be sent now (token bucket); false counts as rate limited.
  bool allow_unreachable(Clock::time_point now);

  bool knows(const Address& dst, Clock::time_point now) const;
  std::size_t peers() const noexcept { return present_.size(); }
  const std::unordered_map<Address, PeerKeys, AddressHash>& keys() const noexcept { return keys_; }
  std::uint64_t key_changes() const noexcept { return key_change_count_; }
  std::uint64_t ambiguous() const noexcept { return ambiguous_; } // addresses listed with several keys
  std::size_t waiting_peers() const noexcept { return waiting_.size(); }
  std::uint64_t listings() const noexcept { return listings_; }
  std::uint64_t listing_failures() const noexcept { return listing_failures_; }
  std::uint64_t unreachable_limited() const noexcept { return unreachable_limited_; }

private:
  void remember(const Address& a, Clock::time_point now);
  // What a listing showed for one address: every key listed for it.
  void learn(const Address& address, const std::vector<PublicKey>& listed, Clock::time_point now);
  // Hands every waiting packet on: present (known, with a key if one is needed), absent (the listing
  // covers it), or unproven (sent anyway without identity sealing, dropped unanswered with it).
  std::vector<Resolved> release(const Coverage& coverage, Clock::time_point now);
  void back_off(Clock::time_point now, double random01);

  PeerDirectoryConfig config_;
  std::unordered_map<Address, Clock::time_point, AddressHash> present_; // peer -> until when it is trusted there
  std::optional<Clock::time_point> listed_at_;   // the latest complete listing
  std::optional<Clock::time_point> failed_at_;   // the latest failed or incomplete listing
  std::optional<Clock::time_point> started_at_;  // the latest listing's start
  std::optional<Clock::time_point> retry_at_;    // after failed listings: not before this
  unsigned failures_in_row_ = 0;
  bool listing_ = false;
  bool wanted_ = false;
  std::vector<Address> wanted_senders_; // taken by the next listing (take_lookups)
  std::size_t pages_ = 1;
  std::unordered_map<Address, PeerKeys, AddressHash> keys_; // bounded with present_ (pinned ones stay)
  std::vector<KeyChange> key_changes_;
  std::uint64_t key_change_count_ = 0;
  std::uint64_t key_changes_refused_ = 0;
  bool known_changed_ = false;
  std::uint64_t ambiguous_ = 0;
  std::unordered_map<Address, std::vector<Outgoing>, AddressHash> waiting_;
  std::deque<Address> waiting_order_;
  double tokens_;
  Clock::time_point tokens_at_{};
  std::uint64_t listings_ = 0, listing_failures_ = 0, unreachable_limited_ = 0;
};

} // namespace hoshino::core

#pragma once
// Ingress bookkeeping for one node's inbox: which listed objects to GET, which packets to hand to the
// kernel and in what order, which objects to delete, and what to drop (with a reason).
//
// Keys are not trusted to arrive in order across senders (clocks differ; some S3 flavours do not sort
// listings), so every listing is taken whole: keys older than the maximum age are dropped, and each
// sender's objects are delivered in ULID order. An object is (sender, ULID), however its key is spelt:
// one of them is tracked at a time, and once consumed (core/replay.hpp) every spelling of it is
// refused as `replayed`. Keys already handled are skipped quietly (a bounded, evictable memory that
// only saves work; the replay window is what decides).
// An object whose sender pipelined it behind a PUT still in flight names that predecessor ("after",
// core/bundle.hpp); it waits until the predecessor has been handed over, or reorder_hold_ms at most.
//
// Objects also announce their successor's key (core/chain.hpp). The inbox remembers the latest
// announcement per sender for kChainTtlMs and offers those keys to poll with GET: a hit is an object
// with its body, found without a LIST; a miss costs a twelfth of a LIST.
#include "core/chain.hpp"
#include "core/ipv6.hpp"
#include "core/keys.hpp"
#include "core/listed_object.hpp"
#include "core/pace.hpp"
#include "core/replay.hpp"
#include "core/seal.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace hoshino::core {

// The key a sealed body from a sender opens with, as the node's directory of peers knows it.
struct KeyLookup {
  enum class Status {
    key,    // open with `key`
    wait,   // not known yet; a listing of the peers has been asked for: try again shortly
    refuse, // no such sender or key (the directory is fresh): refused as unknown_key
  };
  Status status = Status::refuse;
  Psk key{};
};

struct InboxConfig {
  std::string key_prefix = "hoshino";
  Address self;
  std::size_t max_concurrent_gets = 8;
  std::uint64_t max_age_ms = 60'000;   // older objects are dropped unread
  std::uint64_t max_future_ms = 10'000; // objects dated further ahead are dropped unread (clock skew bound)
  std::uint64_t start_ms = 0;          // wall clock at startup
  std::uint64_t startup_grace_ms = 5'000; // objects from before start - grace are stale: not delivered
  std::size_t max_tracked = 4096;      // objects between LIST and delivery at once
  // One sender's share of those: a flood from one sender (a stolen key) cannot take every slot. When all
  // are taken, a sender holding less than an equal share takes one from the sender holding the most
  // (a listed object not fetched yet: it is listed again later), and a sender we have received from
  // before takes one from a sender we never have.
  std::size_t max_tracked_per_sender = 1024;
  // Bodies fetched or being fetched and not yet handed to the kernel (held back for order or for a
  // predecessor): a fetch waits while it would pass either bound. A sender's first object may pass the
  // node-wide bound by one object (it is what frees the rest of that sender's), never by more.
  std::uint64_t max_undelivered_bytes = 64 << 20;
  std::uint64_t max_undelivered_bytes_per_sender = 16 << 20;
  std::size_t remember = 65536;        // handled keys remembered, to skip them quietly if listed again
  std::uint64_t max_object_bytes = 16 << 20; // larger objects are dropped unread (no sender makes them)
  std::optional<Psk> psk;              // set: every body must be sealed with this key shared by all nodes
  // Set: every body must be sealed with the key of the pair (this node, its sender) (core/identity.hpp);
  // replaces psk. Asked for each sealed body with the key ids its header names and its ULID's time.
  std::function<KeyLookup(const Address& sender, SealIds ids, std::uint64_t made_ms)> pair_key;
  std::uint64_t fingerprint_seed = 0;  // random per process: consumed keys are remembered by a keyed hash
  // How long an object waits for its named predecessor (a PUT that was still in flight when it started,
  // so normally a few milliseconds behind it). Past this, it is delivered without it.
  std::uint64_t reorder_hold_ms = 500;
  std::size_t max_chains = 1024;       // senders whose announced next key is remembered for polling
  std::uint64_t chain_ttl_ms = kChainTtlMs; // how long an announced key is polled
  // A sender whose objects are made closer together than this (their ULIDs' times) is streaming: after
  // a poll of its next key misses, the next poll waits an eighth of that cadence instead of going back
  // to back (most of those polls miss). 0: always back to back (tests).
  // The pace's stream window: one definition of a stream.
  std::uint64_t stream_gap_ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(PaceConfig{}.stream_window).count());
  // A conversation's next key (a sender that is not streaming) is polled again conversation_poll_wait_ms
  // after a miss or an error. Back to back, both nodes' polls kept the server so busy that every request
  // slowed: waiting 1 ms takes 26-43% of a conversation's GETs away and the pings got faster, not slower
  // (docs/benchmarks.md, "Conversation polls"). 0: back to back (tests).
  std::uint64_t conversation_poll_wait_ms = 1;
  ReplayConfig replay;                 // which (sender, ULID) were consumed
  // A failed GET is tried again after retry_base_ms, doubling up to retry_max_ms, until the object is
  // older than max_age_ms (a SlowDown burst delays packets; it does not lose them).
  std::uint64_t retry_base_ms = 50;
  std::uint64_t retry_max_ms = 2'000;
};

// Labels of hoshino_packets_dropped_total{reason}.
enum class DropReason {
  malformed_key,     // the key does not parse as <prefix>/<self>/<src>/<ulid>
  malformed_body,    // the body is neither a bundle nor one IPv6 packet
  too_old,           // older than the maximum age
  stale,             // sent before this node started (a previous incarnation's traffic)
  not_ipv6,          // a bundled packet that is not a valid IPv6 packet
  wrong_destination, // a packet not addressed to this node
  spoofed_source,    // a packet whose source is not the sender named in the key
  fetch_failed,      // the object could not be read (gone, or kept failing)
  oversized,         // larger than any sender writes: not fetched
  unsealed,          // a plain body while this node requires sealed ones (the sender runs --no-seal)
  sealed_without_key,// a sealed body, but this node opens none (it runs --no-seal, without --psk-file)
  bad_seal,          // does not open with our key under its object key: forged, moved, or another key
  replayed,          // this (sender, ULID) was consumed already, under this spelling or another
  from_future,       // dated further ahead than clocks can differ
  unknown_key,       // sealed with a key of no node the directory knows (no presence record, or not that key)
};
std::string_view to_string(DropReason r);
inline constexpr std::size_t kDropReasons = 15;

// Labels of hoshino_inbox_not_tracked_total{reason}: listed objects the inbox did not take (yet).
enum class NotTracked {
  sender_share, // the sender holds max_tracked_per_sender already: taken when a later LIST offers it again
  inbox_full,   // every slot is taken by senders that hold no more than their share
  evicted,      // taken back from the sender holding the most, for a sender holding less (listed again later)
};
std::string_view to_string(NotTracked r);
inline constexpr std::size_t kNotTrackedReasons = 3;

// Labels of hoshino_inbox_fetches_deferred_total{budget}: GETs that waited for bytes to be handed over.
enum class Budget { sender_bytes, node_bytes };
std::string_view to_string(Budget b);

// Why a GET of an object failed.
enum class FetchError {
  transient, // 5xx, SlowDown, timeout, connection: try again later
  gone,      // 404 and other final answers: the object cannot be read
  too_large, // the body passed max_object_bytes: the transfer was cut
};

class Inbox {
public:
  explicit Inbox(InboxConfig config);

  // One LIST result (keys under the inbox prefix). Returns how many objects were new. Also releases
  // objects whose wait for a predecessor is over (the LISTs go on while objects arrive).
  std::size_t on_listed(const std::vector<ListedObject>& objects, std::uint64_t now_ms);
  // Objects to GET now (marked in progress); bounded by max_concurrent_gets.
  std::vector<std::string> start_fetches(std::uint64_t now_ms);
  // A GET finished with the object's body.
  void on_fetched(const std::string& key, std::string_view body, std::uint64_t now_ms);
  // A GET failed. Transient failures put the object back, to be fetched again after a backoff.
  void on_fetch_failed(const std::string& key, FetchError error, std::uint64_t now_ms);
  // A GET's answer came when it could no longer be used (the node is stopping): the object is left as
  // listed, neither consumed nor deleted.
  void on_fetch_abandoned(const std::string& key);
  // When the inbox has something to do without any S3 answer: a failed GET's retry is due, or an
  // object's wait for its predecessor ends (nullopt: nothing waits). Then call on_tick, and fetch.
  std::optional<std::uint64_t> next_wakeup_ms() const;
  // Whether an object waits for its predecessor: that one may be findable only by LIST (nothing
  // announced its key, or it travels inline), so LISTs should not pause meanwhile.
  bool holding() const;
  // Time has passed: hands over objects whose wait for a predecessor is over.
  void on_tick(std::uint64_t now_ms) { advance_ready(now_ms); }
  // Announced keys to poll with GET now, at most one per sender (marked in progress).
  std::vector<std::string> start_polls(std::uint64_t now_ms);
  // Whether start_polls would return keys now; when the earliest paced poll becomes due (if none is now).
  bool polls_due(std::uint64_t now_ms);
  std::optional<std::uint64_t> next_poll_ms(std::uint64_t now_ms);
  // Whether any sender's announced key is being waited for (polls would have something to ask).
  bool chained(std::uint64_t now_ms);
  // A poll found the object: it is taken like a listed and fetched one (unless a LIST got it first).
  void on_polled(const std::string& key, std::string_view body, std::uint64_t now_ms);
  // A poll found nothing yet (failed: it could not ask): the key stays announced until its time is up.
  void on_poll_missed(const std::string& key, bool failed, std::uint64_t now_ms);
  // This node sent to `peer`: its reply is likely, so its next key is polled back to back again.
  void on_sent_to(const Address& peer);
  // A poll's body passed its poll_limit: past max_object_bytes the object is refused (oversized) and
  // deleted; past a smaller room, it is left to a LIST (not polled again).
  void on_poll_too_large(const std::string& key, std::uint64_t now_ms);
  // Packets ready for the kernel, in order per sender. Persist take_replay_changes() first.
  std::vector<Bytes> take_deliveries();
  // The sender of each object delivered since the last call, with its packet bytes (per-peer statistics).
  std::vector<std::pair<Address, std::size_t>> take_delivered_objects() { return std::exchange(delivered_from_, {}); }
  // Senders whose highest consumed ULID moved (core/replay.hpp): what a restart must remember.
  std::vector<ReplayWindow::Highest> take_replay_changes() { return replay_.take_changed(); }
  // From the state directory, before the first LIST.
  void restore(const Address& sender, const Ulid& highest, std::uint64_t now_ms) { replay_.restore(sender, highest, now_ms); }
  const ReplayWindow& replay() const noexcept { return replay_; }
  const InboxConfig& config() const noexcept { return config_; }
  // A listing of the peers finished: objects that waited for their sender's key are tried again now
  // (and otherwise only every retry_max_ms: each try of a body is a GET).
  void retry_key_waits(std::uint64_t now_ms);
  // Identity sealing's key lookup (InboxConfig::pair_key), once its owner exists.
  void set_pair_key(std::function<KeyLookup(const Address&, SealIds, std::uint64_t)> lookup) {
    config_.pair_key = std::move(lookup);
  }
  // Consumed objects to delete, at most `max` (one DeleteObjects request).
  std::vector<std::string> take_deletions(std::size_t max = 1000);
  // A DeleteObjects request finished; failed keys become eligible to be deleted again when listed.
  void on_deleted(const std::vector<std::string>& keys);

  std::uint64_t dropped(DropReason r) const { return dropped_[static_cast<std::size_t>(r)]; }
  std::uint64_t delivered_objects() const noexcept { return delivered_objects_; }
  std::uint64_t inlined_objects() const noexcept { return inlined_objects_; } // read from the LIST, no GET
  // Objects handed over after a later one from the same sender (they became visible too late).
  std::uint64_t out_of_order() const noexcept { return out_of_order_; }
  // Objects that waited for their predecessor; of those, how many stopped waiting without it.
  std::uint64_t held() const noexcept { return held_; }
  std::uint64_t hold_expired() const noexcept { return hold_expired_; }
  std::uint64_t fetches() const noexcept { return fetches_; } // GETs handed out by start_fetches (not polls)
  std::uint64_t poll_hits() const noexcept { return poll_hits_; }
  std::uint64_t poll_misses() const noexcept { return poll_misses_; }
  std::uint64_t poll_errors() const noexcept { return poll_errors_; }
  std::size_t tracked() const noexcept { return tracked_; }
  std::size_t fetching() const noexcept { return fetching_; }
  std::size_t pending_deletions() const noexcept { return deletions_.size(); }
  std::size_t retrying() const noexcept { return retrying_; }
  std::uint64_t key_waits() const noexcept { return key_waits_; } // bodies put back: their sender's key was not known yet
  std::uint64_t not_tracked(NotTracked r) const { return not_tracked_[static_cast<std::size_t>(r)]; }
  std::uint64_t deferred(Budget b) const { return deferred_[static_cast<std::size_t>(b)]; }
  std::uint64_t undelivered_bytes() const noexcept { return undelivered_total_; }
  std::uint64_t undelivered_bytes_peak() const noexcept { return undelivered_peak_; }
  // The most a GET of this tracked key may read: its size as listed (objects are never rewritten; one
  // that grew since is refused as oversized and cannot pass the byte budget), else max_object_bytes.
  std::uint64_t fetch_limit(const std::string& key) const;
  // The most a poll of this announced key may read: the room the byte budgets had when it started (a
  // body that does not fit is left to a LIST and a GET, which wait for room), at most max_object_bytes.
  std::uint64_t poll_limit(const std::string& key) const;

private:
  enum class State { listed, fetching, ready };
  struct Entry {
    std::string key;
    std::uint64_t size = 0; // as listed (0 for inline keys), or the polled body's
    State state = State::listed;
    int attempts = 0;
    std::uint64_t retry_at_ms = 0; // listed again after a failed GET: not before this
    bool authentic = false;        // its body opened and decoded: its (sender, ULID) is consumed with it
    std::vector<Bytes> packets{};
    std::optional<Ulid> after{}; // from the body: hand over only after this object of the sender
    std::uint64_t ready_ms = 0;
    bool held = false;
    bool in_key = false;           // its body is in the key (inline): a retry re-reads it from there
    bool key_wait = false;         // put back because its sender's key was not known yet
    std::uint64_t undelivered = 0; // bytes counted against the budgets (max_undelivered_bytes)
    bool deferred = false;         // its GET waited for the byte budget (counted once)
  };
  using SenderQueue = std::map<Ulid, Entry>;

  struct Announced {
    Ulid next;
    std::uint64_t since_ms;     // local time it was learnt
    std::uint64_t gap_ms = 0;   // smoothed time between the sender's announcements (0: unknown)
    std::uint64_t poll_at_ms = 0; // a streaming sender's next key is not polled before this
    bool answered = false;      // a poll found it (the cadence is kept for the next announcement)
    std::uint64_t of_ms = 0;    // the time in the ULID of the object that announced it
  };
  bool streaming(const Announced& a) const { return a.gap_ms > 0 && a.gap_ms < config_.stream_gap_ms; }
  // The announced key, if it is still worth asking for (not listed, consumed or asked already).
  std::optional<std::string> pollable(const Address& sender, const Announced& a) const;

  Entry* find(const std::string& key, Address* sender = nullptr, Ulid* id = nullptr);
  // Checks a key found by LIST or poll and starts tracking it; nullptr if it was dropped or no room.
  Entry* admit(const std::string& key, std::uint64_t size, std::uint64_t now_ms, ObjectKey& parsed);
  // Makes room for one object of `sender` when every slot is taken (see max_tracked_per_sender).
  bool make_room(const Address& sender);
  // Sets the bytes an entry holds against the budgets.
  void count_bytes(const Address& sender, Entry& e, std::uint64_t bytes);
  // Whether a GET of `size` bytes for this sender fits the budgets now (is_head: its first object).
  std::optional<Budget> over_budget(const Address& sender, std::uint64_t size, bool is_head) const;
  void end_retry_wait(Entry& e) { // keeps retrying_ equal to the entries with a retry_at_ms
    if (e.retry_at_ms == 0) return;
    e.retry_at_ms = 0;
    --retrying_;
  }
  bool handled(const std::string& key, std::uint64_t size) const { return consumed_.contains(fingerprint(key, size)); }
  void announce(const Address& sender, const Ulid& of, const Ulid& next, std::uint64_t now_ms);
  void forget_expired_chains(std::uint64_t now_ms);
  void drop(DropReason r, std::uint64_t count = 1) { dropped_[static_cast<std::size_t>(r)] += count; }
  // Remembers the key as handled and queues its deletion.
  void consume(const std::string& key, std::uint64_t size);
  // Of the spelling and the size: a squatter's refused object must not hide the real one if the sender
  // overwrites it (on a server without conditional PUTs).
  std::uint64_t fingerprint(std::string_view key, std::uint64_t size) const;
  // Opens a sealed body under its base key (into `opened`, and `body` then views it), or says why not.
  // *wait: the sender's key is not known yet (pair keys): neither opened nor refused.
  std::optional<DropReason> open_body(const Address& sender, const Ulid& id, std::string_view base_key,
                                      std::string_view& body, Bytes& opened, bool* wait) const;
  // Puts an entry back to be tried again after the retry backoff (a failed GET, a key not known yet).
  void retry_later(Entry& e, std::uint64_t now_ms);
  // Opens (if sealed) and checks a body, filling the entry's packets and making it ready.
  void unpack(Entry& e, const Address& sender, const Ulid& id, std::string_view base_key, std::string_view body,
              std::uint64_t now_ms);
  // Hands over the sender's leading ready objects, in ULID order, and forgets them.
  void advance(const Address& sender, std::uint64_t now_ms);
  void advance_ready(std::uint64_t now_ms); // every sender whose head is ready
  bool passed(const Address& sender, const Ulid& id) const;
  void note_passed(const Address& sender, const Ulid& id, bool delivered);

  InboxConfig config_;
  std::string prefix_;
  std::map<Address, SenderQueue> senders_;
  std::unordered_map<std::string, Address> where_; // key -> sender, for tracked keys
  std::size_t tracked_ = 0;
  std::size_t fetching_ = 0;
  std::vector<Bytes> deliveries_;
  std::vector<std::pair<Address, std::size_t>> delivered_from_; // drained with deliveries_
  std::deque<std::string> deletions_;
  std::unordered_set<std::string> deleting_;       // in deletions_ or in a DeleteObjects request
  std::unordered_set<std::uint64_t> consumed_;     // fingerprints of handled keys, bounded by remember (FIFO)
  std::deque<std::uint64_t> consumed_order_;
  std::uint64_t dropped_[kDropReasons] = {};
  std::uint64_t delivered_objects_ = 0;
  std::uint64_t inlined_objects_ = 0;
  std::uint64_t out_of_order_ = 0;
  std::uint64_t held_ = 0;
  std::uint64_t hold_expired_ = 0;
  std::map<Address, Ulid> last_passed_; // per sender: the latest object handed over (bounded)
  std::map<Address, Announced> chains_;  // per sender: its announced next key (bounded by max_chains)
  struct Polling {
    Address sender;
    std::uint64_t reserved = 0; // bytes counted against the budgets while it is asked (its GET's cap)
  };
  std::unordered_map<std::string, Polling> polling_; // keys with a poll in progress
  // A poll's answer: its reservation handed back.
  void end_poll(const std::string& key);
  // Bytes the budgets leave for one more body of this sender now (0: none).
  std::uint64_t room_for(const Address& sender) const;
  std::uint64_t fetches_ = 0;
  std::uint64_t poll_hits_ = 0;
  std::uint64_t poll_misses_ = 0;
  std::uint64_t poll_errors_ = 0;
  std::size_t retrying_ = 0; // entries listed again after a failed GET
  std::uint64_t key_waits_ = 0;
  std::uint64_t not_tracked_[kNotTrackedReasons] = {};
  std::uint64_t deferred_[2] = {};
  std::uint64_t undelivered_total_ = 0, undelivered_peak_ = 0;
  std::unordered_map<Address, std::uint64_t, AddressHash> undelivered_by_; // senders holding bytes
  Address served_last_{}; // GETs go round the senders from the one after this
  ReplayWindow replay_;
};

} // namespace hoshino::core

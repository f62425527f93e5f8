#pragma once
// A hoshino node: moves packets between a PacketDevice and an ObjectStore. Every decision is made by an
// I/O-free core (Bundler, PutAttempt, IngressSchedule, Inbox, BellWatch, RingPolicy, Listing,
// PeerDirectory, PresencePublisher, KeyChain); this class only runs the coroutines that carry bytes and
// timers between them. Its code is split by concern, as wireguard-go's device/ is:
//   node.cpp      lifetime (run, stop, the heartbeat's beats), S3 failures
//   egress.cpp    device.read() -> classify -> Bundler -> PutAttempt: PUT <prefix>/<dst>/<self>/<ulid>
//                 [-> ring: PUT <prefix>/bell/<dst>]
//   ingress.cpp   heartbeat (IngressSchedule) -> LIST <prefix>/<self>/ | GET announced keys | GET bell
//                 -> Inbox -> GET -> Inbox (order, checks) -> device.write(); DeleteObjects of what was consumed
//   presence.cpp  this node's presence record (PresencePublisher), listing the peers (PeerDirectory), keys
//   show.cpp      `hoshino show`
#include "core/backoff.hpp"
#include "core/bundler.hpp"
#include "core/chain.hpp"
#include "core/clock_offset.hpp"
#include "core/inbox.hpp"
#include "core/presence_publisher.hpp"
#include "core/identity.hpp"
#include "core/ingress_schedule.hpp"
#include "core/presence.hpp"
#include "core/previous_keys.hpp"
#include "core/ring.hpp"
#include "core/ulid.hpp"
#include "device/packet_device.hpp"
#include "node/heartbeat.hpp"
#include "node/node_config.hpp"
#include "node/metrics.hpp"
#include "node/state_dir.hpp"
#include "store/object_store.hpp"
#include "util/clock.hpp"
#include "util/timer.hpp"

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>

namespace hoshino::node {

class Node {
public:
  using WallClock = std::function<std::uint64_t()>; // milliseconds since the epoch (ULIDs, ages)

  Node(asio::io_context& io, device::PacketDevice& device, store::ObjectStore& store, NodeConfig config,
       WallClock wall_ms = {});

  // Runs until stop(), then flushes what is pending (bounded by flush_timeout) and returns.
  asio::awaitable<void> run();
  void stop();
  // Writes this node's presence record at startup, before run() (a refusal is a startup error), and
  // marks this address's records under other keys for removal. The beats rewrite it every
  // presence_refresh (PresencePublisher); run() removes it on the way out.
  asio::awaitable<Result<Unit, s3::Error>> publish_presence();
  // A new identity key (SIGHUP after the key file changed): objects to peers are sealed with it at
  // once, its presence record replaces the old one, and objects sealed for the old key still open for
  // key_overlap (peers learn the new key at their next listing, at the latest when their knowledge of
  // this node expires: PeerDirectoryConfig::present_ttl, which the overlap outlasts). Identity mode only.
  void rotate_identity(const core::KeyPair& key);
  // Why the node stopped by itself (empty: it did not, or stop() was called).
  const std::string& fatal_error() const noexcept { return fatal_; }

  const Metrics& metrics() const noexcept { return metrics_; }
  const core::Inbox& inbox() const noexcept { return inbox_; }
  const core::IngressSchedule& schedule() const noexcept { return schedule_; }
  const std::string& inbox_prefix() const noexcept { return inbox_prefix_; }
  const core::PeerDirectory& peers() const noexcept { return directory_; }
  // What `hoshino show` prints (like `wg show`): this node, then each peer.
  std::string render_show() const;

private:
  asio::awaitable<void> egress_loop();
  asio::awaitable<void> beat_loop(); // carries out what the heartbeat says, one step at a time
  void on_timers();                  // a beat: the ACK holds and the presence record that are due
  std::optional<Clock::time_point> next_timer() const; // the earliest of those (for the heartbeat)
  core::InboxView inbox_view();         // what the schedule needs to know of the inbox, now
  asio::awaitable<void> list_once(bool second_list);
  asio::awaitable<void> poll_round(std::vector<std::string> keys);
  asio::awaitable<void> check_bell();
  asio::awaitable<void> ring(core::Address dst);
  struct PollRound;
  asio::awaitable<void> poll_key(std::string key, std::shared_ptr<PollRound> round);
  asio::awaitable<void> put_batch(core::Batch batch);
  void put_finished(const core::Address& dst); // a PUT slot of dst came free: the next batches go
  bool forward(core::Bytes packet); // classify and queue one outgoing packet; false if it is not ours to send
  void enqueue(core::Outgoing packet); // to the bundler (a full bundle goes at once)
  void flush_bundles();                // the end of a burst: partial bundles with nothing in flight go
  void watch_ack_holds();              // a hold may have started: the heartbeat looks again if it must
  void answer_unreachable(const core::Outgoing& packet);
  asio::awaitable<void> list_peers();
  asio::awaitable<void> presence_step(core::PresenceAction action);
  asio::awaitable<Result<Unit, s3::Error>> write_presence(std::string key);
  asio::awaitable<void> remove_presence(); // on the way out: every record of this node
  asio::awaitable<void> get_object(std::string key);
  asio::awaitable<void> delete_consumed();
  void spawn(asio::awaitable<void> task);
  // The inbox moved on: start the GETs it asks for, deliver what is ready, list the peers if a sender's
  // key is missing; the heartbeat re-plans.
  void act_on_inbox();
  void deliver();
  void after_beat(); // the schedule's state into the metrics
  void s3_failed(store::OpKind op, const s3::Error& e);
  double random01();
  void report_seal_mismatch(const std::string& key);
  // The key and key ids to seal an object to dst with: nullopt without sealing, or (identity) while
  // dst's public key is not known.
  struct SealKey {
    core::Psk key;
    core::SealIds ids;
  };
  std::optional<SealKey> seal_for(const core::Address& dst);
  const core::Psk* pair_key_for(const core::KeyPair& me, const core::Address& peer, const core::PublicKey& key);
  // Our key pair that objects sealed for `receiver` open with: the current one, or a previous one that
  // may still be used (core/previous_keys.hpp).
  const core::KeyPair* own_key(core::KeyId receiver, Clock::time_point now) const;
  // The member a bell's body proves rang, if it does (and the ring is new).
  std::optional<core::Address> proven_ringer(std::string_view body);
  core::KeyLookup open_key(const core::Address& sender, core::SealIds ids, std::uint64_t made_ms);
  void report_key_changes();
  static constexpr auto kErrorLogInterval = std::chrono::seconds(10);
  static constexpr int kRingAttempts = 3; // a ring is cheap to lose: the receiver LISTs anyway
  // True at most once per kErrorLogInterval for the same `last` (which it updates).
  static bool log_due(Clock::time_point& last);

  asio::io_context& io_;
  device::PacketDevice& device_;
  store::ObjectStore& store_;
  NodeConfig config_;
  WallClock wall_ms_;
  const core::ClockOffset* clock_;
  // The time ULIDs carry and ages are judged by: the wall clock, corrected to the bucket's if it is off.
  std::uint64_t now_ms() const {
    return wall_ms_() + static_cast<std::uint64_t>(clock_ ? clock_->correction_ms() : 0);
  }
  core::Bundler bundler_;
  core::IngressSchedule schedule_;
  core::Inbox inbox_;
  core::KeyChain chain_;
  core::RingPolicy rings_;
  const std::string inbox_prefix_; // what every LIST asks for: built once, not per LIST
  const std::string bell_key_;     // this node's doorbell
  core::BellWatch bell_;
  Metrics metrics_;
  Heartbeat heartbeat_;
  Timer drained_;                    // run()'s wait on the way out, cancelled when the last task ends
  // ULIDs of the PUTs in flight per destination: a pipelined object names the latest as its predecessor.
  std::unordered_map<core::Address, std::set<core::Ulid>, core::AddressHash> puts_in_flight_;
  std::function<std::uint64_t()> random_;
  bool conditional_puts_ = true; // until the server says it cannot do them
  bool stopping_ = false;
  std::size_t tasks_ = 0;
  // Last time each (op, code) was logged: S3 trouble is reported once per interval, not per packet.
  std::map<std::pair<int, std::string>, Clock::time_point> last_logged_;
  std::string fatal_;
  Clock::time_point expired_since_{}; // first ExpiredToken since the last success
  void s3_succeeded() { expired_since_ = {}; }
  std::uint64_t seal_refusals_ = 0;
  std::uint64_t queue_drops_ = 0; // the bundler's drop count last copied into metrics_
  Clock::time_point last_seal_log_{};
  Clock::time_point last_presence_remove_log_{};
  Clock::time_point last_state_log_{};
  Clock::time_point last_delete_log_{};
  core::PeerDirectory directory_;
  core::PresencePublisher presence_;
  // Pair keys by (peer, its public key): an X25519 and an HKDF per object would be wasted work. Bounded.
  // Pair keys by (our public key, peer, its key); nullopt: a low-order key nothing can be sealed to,
  // remembered so that it is not derived again per object. Bounded (cleared at 4096, rebuilt as peers speak).
  std::map<std::tuple<core::PublicKey, core::Address, core::PublicKey>, std::optional<core::Psk>> pair_keys_;
  core::PreviousKeys previous_keys_; // our keys before rotations (core/previous_keys.hpp)
  core::RingGuard ring_guard_;       // proven rings taken, per ringer (core/ring.hpp)
  // The latest listing of the peers that was answered: when it started (wall clock) and what it read.
  struct PeerListing {
    std::uint64_t started_ms = 0;
    core::Coverage coverage;
  } peer_listing_;
  std::uint64_t listing_started_ms_ = 0;      // ... of the one under way
  std::uint64_t start_ms_ = 0; // wall clock at construction (the presence record's start time)
};

} // namespace hoshino::node

#pragma once
// When and how a node looks at its inbox: every ingress decision that depends on time, as an I/O-free
// state machine (the model is Boost.Redis's exec_fsm::resume and boringtun's update_timers). The node's
// heartbeat (node/heartbeat.hpp) asks next(): one action to start now, or the instant to wait until.
// It starts the action, reports the result (on_*), and asks again; nothing here reads a clock.
//
//   active   The Pace sets the interval between beats. A beat LISTs or, while senders' next keys are
//            announced (core/chain.hpp), GETs those keys when the inbox says they are due (a stream's
//            cadence paces them); a LIST then only every chained_list_interval. In a conversation a
//            second LIST starts half a LIST after each LIST.
//   idle     Once the pace has slowed to bell_interval, LISTs stop: the node checks its doorbell (one
//            conditional GET, 1/12.5 of a LIST's price) every bell_interval, LISTs when it rang, and
//            anyway every idle_list_interval. A sender rings a node it has exchanged nothing with for
//            the hold time (RingPolicy), once its object is in the bucket.
//   always   DeleteObjects at most every delete_interval; the inbox's own wake-ups (GET retries, ends
//            of reorder holds); memory handed back once per idle spell.
//
// A bucket writer can ring any bell. A ring costs the receiver one LIST; rings whose LIST finds nothing
// spend a token (bell_burst, one back per bell_refill), so junk rings cost a bounded number of LISTs.
#include "core/ipv6.hpp"
#include "core/pace.hpp"
#include "core/s3_errors.hpp"

#include <optional>
#include <map>
#include <string_view>
#include <unordered_map>

namespace hoshino::core {

struct IngressConfig {
  PaceConfig pace;
  // While announced keys are polled, LIST only this often: to find new senders and broken chains.
  Duration chained_list_interval = std::chrono::seconds(1);
  // At most one DeleteObjects per interval: under load, one per object consumed would be ~1 request in 5.
  Duration delete_interval = std::chrono::milliseconds(250);
  bool bell = true; // idle nodes watch their doorbell instead of LISTing (off: LIST every pace.max)
  // Idle: one bell check this often. The idle cost is 86400 s / bell_interval GETs a day ($0.0004 per
  // 1000 at S3 Standard: 1.75 s is $0.0198), and a cold packet waits bell_interval / 2 on average.
  Duration bell_interval = std::chrono::milliseconds(1750);
  // Idle: a LIST this often anyway, for objects whose ring was lost or overwritten.
  Duration idle_list_interval = std::chrono::minutes(30);
  unsigned bell_burst = 4;                        // rings whose LIST found nothing, allowed at once
  Duration bell_refill = std::chrono::seconds(30); // one more such ring allowed per this
  Duration trim_after = std::chrono::seconds(1);  // the pace's interval at which the node is idle
};

// What the inbox says, gathered by the shell before each next().
struct InboxView {
  bool chained = false;   // announced keys are awaited
  bool polls_due = false; // some of them are due to be polled now
  std::optional<Clock::time_point> next_poll; // when a paced poll becomes due (none due now)
  bool holding = false;   // an object waits for its predecessor (which only a LIST may find)
  std::size_t fetching = 0;
  std::optional<Clock::time_point> wakeup; // a GET's retry or a hold's end
  std::size_t pending_deletions = 0;
};

enum class IngressAction {
  wait,            // nothing is due before `until` (or an event: report it, then ask again)
  list,            // LIST the inbox (second_list: the staggered one)
  poll,            // GET the announced keys that are due (Inbox::start_polls)
  check_bell,      // a conditional GET of this node's bell
  delete_consumed, // one DeleteObjects round of what the inbox consumed
  tick_inbox,      // Inbox::on_tick: retries and holds are due
  trim_memory,     // the node went idle: hand freed memory back to the system
};
std::string_view to_string(IngressAction a);

struct IngressStep {
  IngressAction action = IngressAction::wait;
  Clock::time_point until = Clock::time_point::max(); // for wait
  bool second_list = false;                          // for list
};

// What a bell check found.
enum class BellCheck { quiet, rang, failed };

// This node's bell, watched with conditional GETs (If-None-Match: the ETag of the latest check): what an
// answer means, and which ETag to send next. A server that ignores If-None-Match (200 with the ETag we
// sent) is found out once; from then on the ETags are compared here.
class BellWatch {
public:
  struct Outcome {
    BellCheck result = BellCheck::quiet;
    bool report = false;             // an S3 failure: count and log it
    bool conditional_ignored = false; // found out just now (said once)
  };
  // The If-None-Match of the next check (empty: unknown, or the server ignores it).
  std::string etag_to_send() const { return conditional_ ? etag_ : std::string(); }
  Outcome on_answer(bool changed, const std::string& etag);
  Outcome on_error(const s3::Error& e);
  bool conditional() const noexcept { return conditional_; }

private:
  std::string etag_;       // at the latest check (empty: unknown, or no bell yet)
  bool conditional_ = true; // until the server shows it ignores If-None-Match
};

class IngressSchedule {
public:
  IngressSchedule(IngressConfig config, Clock::time_point now);

  // The next action (marked started), or how long to wait.
  IngressStep next(const InboxView& inbox, Clock::time_point now);

  void on_listed(std::size_t fresh, bool second_list, Clock::time_point now);
  void on_list_failed(bool second_list, Clock::time_point now);
  void on_polled(std::size_t hits, bool failed, Clock::time_point now);
  // ringer: the member a rang bell proves rang (core/ring.hpp): its LIST spends that ringer's tokens;
  // none: the shared tokens of rings nobody proves (junk, a node without keys).
  void on_bell(BellCheck result, Clock::time_point now, std::optional<Address> ringer = std::nullopt);
  void on_deleted(Clock::time_point now);
  void on_sent(Clock::time_point now); // this node sent packets: a reply is likely

  const Pace& pace() const noexcept { return pace_; }
  const IngressConfig& config() const noexcept { return config_; }
  // Watching the bell instead of LISTing: the pace has slowed to the bell interval, and this node sent
  // nothing for the hold time (whoever heard from it since will not ring it: RingPolicy), whether or not
  // sending speeds up its pace (anticipation).
  bool idle(Clock::time_point now) const noexcept {
    return config_.bell && pace_.interval() >= config_.bell_interval && now - last_sent_ >= config_.pace.hold;
  }

  std::uint64_t rings() const noexcept { return rings_; }             // bell changes seen
  std::uint64_t rings_found() const noexcept { return rings_found_; } // ... whose LIST found objects
  std::uint64_t rings_empty() const noexcept { return rings_empty_; } // ... whose LIST found nothing
  std::uint64_t rings_limited() const noexcept { return rings_limited_; } // ... that waited for a token

private:
  IngressStep start(IngressAction a, Clock::time_point now);
  IngressStep start_list(bool second_list, Clock::time_point now);
  void end_beat(Clock::time_point now);
  // Ring tokens: bell_burst at once, one more per bell_refill.
  struct Tokens {
    double left;
    Clock::time_point at;
  };
  Tokens& tokens_of(const std::optional<Address>& ringer, Clock::time_point now); // refilled to now
  void give_back(const std::optional<Address>& ringer);

  IngressConfig config_;
  Pace pace_;
  bool beat_busy_ = false;           // a beat's LIST, poll round or bell check is under way
  IngressAction beat_ = IngressAction::wait;
  Clock::time_point beat_started_{};
  Clock::time_point beat_ended_;
  bool second_list_busy_ = false;    // the second LIST is under way
  bool second_list_used_ = false;    // ... or already ran for the beat's current LIST
  Clock::time_point last_list_;      // start of the latest LIST (the beat's or the second)
  Clock::time_point second_list_started_{};
  Duration list_latency_ = std::chrono::milliseconds(5); // smoothed: paces the second LIST
  bool deleting_ = false;
  std::optional<Clock::time_point> last_delete_; // none yet: the first DeleteObjects goes at once
  std::optional<Clock::time_point> last_tick_;
  Clock::time_point last_sent_{};
  Clock::time_point list_retry_at_{}; // after a failed LIST: the next not before this
  bool trimmed_ = false;             // memory handed back in this idle spell
  Clock::time_point last_bell_{};    // start of the latest bell check
  bool rang_ = false;                // the bell rang; its LIST has not started
  bool ring_list_ = false;           // the beat's LIST answers a ring
  std::optional<Address> ringer_;    // who proved it rang (the pending ring, or the one whose LIST runs)
  Tokens shared_;                    // rings nobody proves
  std::map<Address, Tokens> ringers_; // proven rings, per ringer (bounded: kMaxRingers)
  static constexpr std::size_t kMaxRingers = 1024;
  std::uint64_t rings_ = 0, rings_found_ = 0, rings_empty_ = 0, rings_limited_ = 0;
};

// The sender's side of the doorbell: whether to ring a destination after an object to it landed.
// A node rings when it has exchanged nothing with the destination (no object sent there, none
// received from there) for `quiet` (half the pace's hold time: a receiver stops LISTing only after the
// whole hold and a doubling up to the bell interval), so a node watching its bell is always rung.
class RingPolicy {
public:
  explicit RingPolicy(Duration quiet, std::size_t max_peers = 4096) : quiet_(quiet), max_peers_(max_peers) {}
  // An object to dst is in the bucket: true if dst's bell should be rung now.
  bool on_put(const Address& dst, Clock::time_point now);
  // Objects from src were consumed (src is awake: it sent them).
  void on_heard(const Address& src, Clock::time_point now);
  std::size_t peers() const noexcept { return last_.size(); }

private:
  void touch(const Address& peer, Clock::time_point now);
  Duration quiet_;
  std::size_t max_peers_; // beyond, the longest-quiet peer is forgotten (it is rung at its next object)
  std::unordered_map<Address, Clock::time_point, AddressHash> last_;
};

} // namespace hoshino::core

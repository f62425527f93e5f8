#pragma once
// When to look at the inbox next (a LIST, or GETs of announced keys: a beat). Activity (objects found,
// or packets just sent: a reply is likely) makes beats fast; an empty beat after a quiet spell makes
// them slower, up to the maximum; errors back off.
#include "util/clock.hpp"

#include <chrono>
#include <cstdint>

namespace hoshino::core {

using Clock = hoshino::Clock;
using hoshino::Duration;

struct PaceConfig {
  Duration min = std::chrono::milliseconds(0);  // back-to-back LISTs (one in flight at most)
  Duration max = std::chrono::seconds(5);       // idle: at most one LIST every 5 s
  Duration hold = std::chrono::seconds(2);      // stay fast this long after the last activity
  Duration first_step = std::chrono::milliseconds(10); // doubling starts here when min is 0
  Duration error_floor = std::chrono::milliseconds(200); // at least this between LISTs after an error
  bool anticipation = true; // sending counts as activity (a reply is likely); off: only arrivals do
  // While objects keep arriving (two LISTs found some within stream_window of each other, the latest
  // within stream_window of now), LIST at this pace instead of the minimum: objects then wait a little
  // and are picked up several per LIST. Under bulk load, LISTs are most of the bill. A conversation
  // (ping, interactive typing) has gaps longer than the window and stays at the minimum.
  Duration busy = std::chrono::milliseconds(0);
  Duration stream_window = std::chrono::milliseconds(100);
  bool second_list = true; // a second, staggered LIST during conversations (see conversation())
  // Activity drops the interval straight to min; false: halves it (only test/bench/pace_ab.cpp's A/B:
  // docs/design.md has its figures).
  bool drop_on_activity = true;
};

class Pace {
public:
  explicit Pace(PaceConfig config, Clock::time_point now);

  // Delay between the end of one LIST and the start of the next.
  Duration interval() const noexcept { return interval_; }
  // Polling at the minimum for a conversation (not a stream): worth a second, staggered LIST, so that
  // an object appearing just after a LIST started waits half a LIST instead of a whole one.
  bool conversation() const noexcept {
    return config_.second_list && interval_ == config_.min && !streaming_;
  }

  // A beat looked at the inbox (a LIST, or GETs of announced keys) and found `objects` new objects.
  void on_inbox_checked(std::size_t objects, Clock::time_point now);
  // This node just sent packets: a reply is likely soon.
  void on_sent(Clock::time_point now);
  // A beat's LIST, or all of its GETs of announced keys, failed.
  void on_error(Clock::time_point now);
  // Activity of any kind (a doorbell's LIST found objects, or this node sent without anticipation):
  // back to the fastest pace, as objects found do.
  void wake(Clock::time_point now) { faster(now); }

private:
  void faster(Clock::time_point now);
  void slower(Duration floor);

  PaceConfig config_;
  Duration interval_;
  Clock::time_point last_activity_;
  Clock::time_point last_find_{};     // the latest LIST that found objects
  Clock::time_point previous_find_{}; // the one before it
  std::uint64_t finds_ = 0;
  bool streaming_ = false;            // objects are arriving continuously
};

} // namespace hoshino::core

#include "core/pace.hpp"

#include <algorithm>

namespace hoshino::core {

Pace::Pace(PaceConfig config, Clock::time_point now)
    : config_(config), interval_(config.min), last_activity_(now) {
  if (config_.max < config_.min) config_.max = config_.min;
}

void Pace::faster(Clock::time_point now) {
  // Straight to the minimum rather than halving: from the 5 s idle interval, halving would need a dozen
  // events before a conversation (ping, TCP) became fast (test/bench/pace_ab.cpp measures both). Polling
  // then stays at the minimum for the hold time after the last activity.
  interval_ = config_.drop_on_activity ? config_.min : std::max(config_.min, interval_ / 2);
  last_activity_ = now;
}

void Pace::slower(Duration floor) {
  Duration next = std::max({interval_ * 2, config_.first_step, floor});
  interval_ = std::clamp(next, config_.min, config_.max);
}

void Pace::on_inbox_checked(std::size_t objects, Clock::time_point now) {
  if (objects > 0) {
    previous_find_ = last_find_;
    last_find_ = now;
    ++finds_;
  }
  // A stream: the last two finds were close together, and the latest is recent. (Consecutive LISTs
  // are not the test: under load, empty LISTs between arrivals are common and would flap the state.)
  streaming_ = finds_ >= 2 && now - last_find_ <= config_.stream_window &&
               last_find_ - previous_find_ <= config_.stream_window;
  if (streaming_) {
    last_activity_ = now;
    interval_ = std::clamp<Duration>(config_.busy, config_.min, config_.max);
  } else if (objects > 0) {
    faster(now);
  } else if (now - last_activity_ >= config_.hold) {
    slower(Duration::zero());
  } else {
    interval_ = config_.min; // a stream just paused: back to the fast pace for a reply
  }
}

void Pace::on_sent(Clock::time_point now) {
  if (!config_.anticipation) return;
  if (streaming_) last_activity_ = now; // replies to a stream come with the stream: keep its pace
  else faster(now);
}

void Pace::on_error(Clock::time_point) {
  finds_ = 0;
  streaming_ = false;
  slower(config_.error_floor);
}

} // namespace hoshino::core

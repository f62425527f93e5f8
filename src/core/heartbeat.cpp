#include "core/heartbeat.hpp"

#include <algorithm>

namespace hoshino::core {

Heartbeat::Heartbeat(HeartbeatConfig config, Clock::time_point now)
    : config_(config), interval_(config.min), last_activity_(now) {
  if (config_.max < config_.min) config_.max = config_.min;
}

void Heartbeat::faster(Clock::time_point now) {
  // Straight to the minimum rather than halving: from the 5 s idle interval, halving would need a dozen
  // events before a conversation (ping, TCP) became fast. Polling then stays at the minimum for the hold
  // time after the last activity.
  interval_ = config_.min;
  last_activity_ = now;
}

void Heartbeat::slower(Duration floor) {
  Duration next = std::max({interval_ * 2, config_.first_step, floor});
  interval_ = std::clamp(next, config_.min, config_.max);
}

void Heartbeat::on_list(std::size_t objects, Clock::time_point now) {
  if (objects > 0) {
    faster(now);
  } else if (now - last_activity_ >= config_.hold) {
    slower(Duration::zero());
  }
}

void Heartbeat::on_sent(Clock::time_point now) { faster(now); }

void Heartbeat::on_error(Clock::time_point) { slower(config_.error_floor); }

} // namespace hoshino::core

#pragma once
// An asio timer on the node's clock (util/clock.hpp). Under a test's virtual time, asio's wait for the
// earliest timer does not sleep: the clock moves straight to it (test/support/virtual_time.hpp).
#include "util/clock.hpp"

#include <asio/basic_waitable_timer.hpp>

namespace hoshino {

struct ClockWaitTraits {
  static Clock::duration to_wait_duration(const Clock::duration& d) {
    if (!Clock::is_virtual()) return d;
    Clock::pass(d);
    return Clock::duration::zero();
  }
  static Clock::duration to_wait_duration(const Clock::time_point& t) { return to_wait_duration(t - Clock::now()); }
};

using Timer = asio::basic_waitable_timer<Clock, ClockWaitTraits>;

} // namespace hoshino

#pragma once
// An asio timer on the node's clock (util/clock.hpp): asio asks the installed TimeSource, if any, how long
// to wait for its earliest timer.
#include "util/clock.hpp"

#include <asio/basic_waitable_timer.hpp>

namespace hoshino {

struct ClockWaitTraits {
  static Clock::duration to_wait_duration(const Clock::duration& d) {
    if (auto* source = Clock::source()) return source->wait_for(d);
    return d;
  }
  static Clock::duration to_wait_duration(const Clock::time_point& t) { return to_wait_duration(t - Clock::now()); }
};

using Timer = asio::basic_waitable_timer<Clock, ClockWaitTraits>;

} // namespace hoshino

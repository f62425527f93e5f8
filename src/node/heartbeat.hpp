#pragma once
// The node's adaptive heartbeat, its one wake-up: `co_await heartbeat.next()` sleeps on one timer until
// the ingress schedule (core/ingress_schedule.hpp) has something to do, or the node's other timed steps
// are due (ACK holds ending, the presence record: `timers`), and returns that step (`wait`: only the
// timers). The schedule's pace doubles the interval after a beat that found nothing and drops it to the
// minimum when one finds work (core/pace.hpp). Whatever the schedule or the timers depend on (a result
// reported, packets sent, the inbox moving on, a hold started) calls poke(): a sleep in progress ends
// and both are asked again.
#include "core/ingress_schedule.hpp"
#include "util/timer.hpp"

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>

#include <functional>
#include <optional>

namespace hoshino::node {

class Heartbeat {
public:
  Heartbeat(asio::io_context& io, core::IngressSchedule& schedule, std::function<core::InboxView()> view,
            std::function<std::optional<Clock::time_point>()> timers);

  // The next step to carry out (`wait`: the timers are due, or stop() was called).
  asio::awaitable<core::IngressStep> next();
  void poke();
  void stop();

private:
  Timer timer_;
  core::IngressSchedule& schedule_;
  std::function<core::InboxView()> view_;
  std::function<std::optional<Clock::time_point>()> timers_;
  bool sleeping_ = false;
  bool stopped_ = false;
};

} // namespace hoshino::node

#pragma once
// The node's adaptive heartbeat: `co_await heartbeat.next()` sleeps on one timer until the ingress
// schedule (core/ingress_schedule.hpp) has something to do, and returns that step. Whatever the schedule
// depends on (a result reported to it, packets sent, the inbox moving on) calls poke(): a sleep in
// progress ends and the schedule is asked again.
#include "core/ingress_schedule.hpp"
#include "util/timer.hpp"

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>

#include <functional>

namespace hoshino::node {

class Heartbeat {
public:
  Heartbeat(asio::io_context& io, core::IngressSchedule& schedule, std::function<core::InboxView()> view);

  // The next step to carry out (never `wait`, unless stop() was called).
  asio::awaitable<core::IngressStep> next();
  void poke();
  void stop();

private:
  Timer timer_;
  core::IngressSchedule& schedule_;
  std::function<core::InboxView()> view_;
  bool sleeping_ = false;
  bool stopped_ = false;
};

} // namespace hoshino::node

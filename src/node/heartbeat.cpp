#include "node/heartbeat.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>

namespace hoshino::node {

Heartbeat::Heartbeat(asio::io_context& io, core::IngressSchedule& schedule, std::function<core::InboxView()> view,
                     std::function<std::optional<Clock::time_point>()> timers)
    : timer_(io), schedule_(schedule), view_(std::move(view)), timers_(std::move(timers)) {}

asio::awaitable<core::IngressStep> Heartbeat::next() {
  while (!stopped_) {
    auto view = view_();
    auto now = Clock::now();
    auto step = schedule_.next(view, now);
    if (step.action != core::IngressAction::wait) co_return step;
    auto timer = timers_ ? timers_() : std::nullopt;
    if (timer && *timer <= now) co_return step; // wait: only the timers are due
    timer_.expires_at(timer ? std::min(*timer, step.until) : step.until);
    sleeping_ = true;
    co_await timer_.async_wait(asio::experimental::as_tuple(asio::use_awaitable)); // cancelled = poked
    sleeping_ = false;
  }
  co_return core::IngressStep{};
}

void Heartbeat::poke() {
  if (sleeping_) timer_.cancel();
}

void Heartbeat::stop() {
  stopped_ = true;
  timer_.cancel();
}

} // namespace hoshino::node

#include "node/heartbeat.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

namespace hoshino::node {

Heartbeat::Heartbeat(asio::io_context& io, core::IngressSchedule& schedule, std::function<core::InboxView()> view)
    : timer_(io), schedule_(schedule), view_(std::move(view)) {}

asio::awaitable<core::IngressStep> Heartbeat::next() {
  while (!stopped_) {
    auto view = view_();
    auto step = schedule_.next(view, Clock::now());
    if (step.action != core::IngressAction::wait) co_return step;
    timer_.expires_at(step.until);
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

#pragma once
// The last step of the node's local endpoints (/metrics, the control socket of `hoshino show`): write
// the whole answer within `timeout`, then shut the connection down. A client that stops reading
// cannot hold the connection longer than that.
#include "util/clock.hpp"

#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <chrono>
#include <string>

namespace hoshino::net {

// `answer` by value: a coroutine parameter must outlive the caller's full-expression (GCC 12).
template <class Socket>
asio::awaitable<void> answer_and_close(Socket& socket, asio::steady_timer& deadline, std::string answer,
                                       Duration timeout) {
  using namespace asio::experimental::awaitable_operators;
  constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
  deadline.expires_after(timeout);
  auto write = asio::async_write(socket, asio::buffer(answer), use_tuple);
  auto expired = deadline.async_wait(use_tuple);
  auto either = std::move(write) || std::move(expired);
  co_await std::move(either);
  asio::error_code ignored;
  socket.shutdown(Socket::shutdown_both, ignored);
}

} // namespace hoshino::net

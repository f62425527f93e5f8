#pragma once
// A minimal HTTP/1.1 endpoint serving GET /metrics (Prometheus text). One request per connection,
// bounded request size, a timeout per connection and a cap on connections: a slow or hostile client
// cannot hold it, and running out of descriptors does not make it spin.
#include "util/clock.hpp"
#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "util/result.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace hoshino::net {

struct MetricsServerLimits {
  std::size_t max_connections = 16;             // served at once; more are accepted and closed at once
  Duration timeout = std::chrono::milliseconds(5000);      // to read a request, and again to write the answer
  Duration accept_backoff = std::chrono::milliseconds(100); // after a failed accept (EMFILE, ENFILE...)
};

// "HOST:PORT" ("[::1]:9100" for IPv6) as an endpoint, or why not ("--metrics '...': ..."). Pure: the
// config file's check (app/options.cpp) and bind() judge an address the same way.
Result<asio::ip::tcp::endpoint, std::string> parse_metrics_address(const std::string& address);

class MetricsServer {
public:
  using Render = std::function<std::string()>;
  // Binds now, so a taken port is a startup error. `address` is "HOST:PORT" ("[::1]:9100" for IPv6).
  static Result<std::unique_ptr<MetricsServer>, std::string> bind(asio::io_context& io, const std::string& address,
                                                                   Render render, MetricsServerLimits limits = {});
  asio::awaitable<void> run();
  void stop();
  unsigned short port() const;

  // Also in /metrics, after the rendered page.
  std::uint64_t refused() const noexcept { return counts_->refused; }
  std::uint64_t accept_errors() const noexcept { return counts_->accept_errors; }
  std::size_t connections() const noexcept { return counts_->active; }

private:
  // Shared with the connections' coroutines, whose frames may outlive the server at shutdown.
  struct Counts {
    std::size_t active = 0;
    std::uint64_t refused = 0;
    std::uint64_t accept_errors = 0;
  };

  struct Slot; // a connection's place under the cap, given back when its coroutine ends

  MetricsServer(asio::io_context& io, asio::ip::tcp::acceptor acceptor, Render render, MetricsServerLimits limits);
  asio::awaitable<void> serve(asio::ip::tcp::socket socket, Slot slot);
  std::string own_metrics() const;

  asio::io_context& io_;
  asio::ip::tcp::acceptor acceptor_;
  Render render_;
  MetricsServerLimits limits_;
  asio::steady_timer backoff_;
  std::shared_ptr<Counts> counts_ = std::make_shared<Counts>();
};

} // namespace hoshino::net

#pragma once
// A minimal HTTP/1.1 endpoint serving GET /metrics (Prometheus text). One request per connection,
// bounded request size and a timeout per connection: a slow or hostile client cannot hold it.
#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include "util/result.hpp"

#include <functional>
#include <memory>
#include <string>

namespace hoshino::node {

class MetricsServer {
public:
  using Render = std::function<std::string()>;
  // Binds now, so a taken port is a startup error. `address` is "HOST:PORT" ("[::1]:9100" for IPv6).
  static Result<std::unique_ptr<MetricsServer>, std::string> bind(asio::io_context& io, const std::string& address,
                                                                   Render render);
  asio::awaitable<void> run();
  void stop();
  unsigned short port() const;

private:
  MetricsServer(asio::io_context& io, asio::ip::tcp::acceptor acceptor, Render render);
  asio::awaitable<void> serve(asio::ip::tcp::socket socket);

  asio::io_context& io_;
  asio::ip::tcp::acceptor acceptor_;
  Render render_;
};

} // namespace hoshino::node

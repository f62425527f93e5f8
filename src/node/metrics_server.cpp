#include "node/metrics_server.hpp"

#include "util/log.hpp"
#include "util/spawn.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/streambuf.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/core.h>

namespace hoshino::node {
namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxRequest = 8192;
constexpr auto kConnectionTimeout = std::chrono::seconds(5);

} // namespace

Result<std::unique_ptr<MetricsServer>, std::string> MetricsServer::bind(asio::io_context& io, const std::string& address,
                                                                        Render render) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return "--metrics '" + address + "' must be ADDR:PORT or off";
  std::string host = address.substr(0, colon), port = address.substr(colon + 1);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  asio::error_code ec;
  auto ip = asio::ip::make_address(host, ec);
  if (ec) return "--metrics '" + address + "': '" + host + "' is not an IP address";
  unsigned long p = 0;
  try {
    p = std::stoul(port);
  } catch (...) {
    p = 70000;
  }
  if (p > 65535) return "--metrics '" + address + "': bad port";
  asio::ip::tcp::acceptor acceptor(io);
  asio::ip::tcp::endpoint ep(ip, static_cast<unsigned short>(p));
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return "--metrics " + address + ": " + ec.message();
  return std::unique_ptr<MetricsServer>(new MetricsServer(io, std::move(acceptor), std::move(render)));
}

MetricsServer::MetricsServer(asio::io_context& io, asio::ip::tcp::acceptor acceptor, Render render)
    : io_(io), acceptor_(std::move(acceptor)), render_(std::move(render)) {}

unsigned short MetricsServer::port() const { return acceptor_.local_endpoint().port(); }

void MetricsServer::stop() {
  asio::error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> MetricsServer::run() {
  while (acceptor_.is_open()) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted) break;
      log::warn("metrics: accept failed: {}", ec.message());
      continue;
    }
    asio::co_spawn(io_, serve(std::move(socket)), rethrow);
  }
}

asio::awaitable<void> MetricsServer::serve(asio::ip::tcp::socket socket) {
  using namespace asio::experimental::awaitable_operators;
  asio::streambuf request(kMaxRequest);
  asio::steady_timer deadline(io_, kConnectionTimeout);
  auto read = asio::async_read_until(socket, request, "\r\n\r\n", use_tuple);
  auto outcome = co_await (std::move(read) || deadline.async_wait(use_tuple));
  if (outcome.index() != 0 || std::get<0>(std::get<0>(outcome))) co_return; // timeout, too large, or closed
  std::string head(asio::buffers_begin(request.data()), asio::buffers_end(request.data()));
  std::string status = "200 OK", body, type = "text/plain; version=0.0.4; charset=utf-8";
  if (head.starts_with("GET /metrics ") || head.starts_with("GET /metrics?")) {
    body = render_();
  } else if (head.starts_with("GET ")) {
    status = "404 Not Found";
    body = "not found: try /metrics\n";
    type = "text/plain";
  } else {
    status = "405 Method Not Allowed";
    body = "only GET\n";
    type = "text/plain";
  }
  std::string response = fmt::format("HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                                     status, type, body.size(), body);
  deadline.expires_after(kConnectionTimeout);
  auto write = asio::async_write(socket, asio::buffer(response), use_tuple);
  co_await (std::move(write) || deadline.async_wait(use_tuple));
  asio::error_code ignored;
  socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
}

} // namespace hoshino::node

#include "net/metrics_server.hpp"

#include "net/answer.hpp"
#include "util/log.hpp"
#include "util/rethrow.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/streambuf.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/core.h>

#include <charconv>

namespace hoshino::net {
namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxRequest = 8192;

} // namespace

// Taken in run() before the connection's coroutine is spawned (so a burst of accepts cannot overshoot the
// cap), given back when that coroutine's frame goes, however it ends.
struct MetricsServer::Slot {
  explicit Slot(std::shared_ptr<Counts> c) : counts(std::move(c)) { ++counts->active; }
  Slot(Slot&&) noexcept = default;
  Slot& operator=(Slot&&) = delete;
  ~Slot() {
    if (counts) --counts->active;
  }
  std::shared_ptr<Counts> counts;
};

Result<asio::ip::tcp::endpoint, std::string> parse_metrics_address(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return "--metrics '" + address + "' must be ADDR:PORT or off";
  std::string host = address.substr(0, colon), port = address.substr(colon + 1);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  asio::error_code ec;
  auto ip = asio::ip::make_address(host, ec);
  if (ec) return "--metrics '" + address + "': '" + host + "' is not an IP address";
  unsigned p = 0;
  auto [end, err] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (err != std::errc{} || end != port.data() + port.size() || port.empty() || p > 65535)
    return "--metrics '" + address + "': bad port";
  return asio::ip::tcp::endpoint(ip, static_cast<unsigned short>(p));
}

Result<std::unique_ptr<MetricsServer>, std::string> MetricsServer::bind(asio::io_context& io, const std::string& address,
                                                                        Render render, MetricsServerLimits limits) {
  auto parsed = parse_metrics_address(address);
  if (!parsed) return std::move(parsed).error();
  const asio::ip::tcp::endpoint ep = *parsed;
  asio::error_code ec;
  asio::ip::tcp::acceptor acceptor(io);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return "--metrics " + address + ": " + ec.message();
  return std::unique_ptr<MetricsServer>(new MetricsServer(io, std::move(acceptor), std::move(render), limits));
}

MetricsServer::MetricsServer(asio::io_context& io, asio::ip::tcp::acceptor acceptor, Render render,
                             MetricsServerLimits limits)
    : io_(io), acceptor_(std::move(acceptor)), render_(std::move(render)), limits_(limits), backoff_(io) {}

unsigned short MetricsServer::port() const { return acceptor_.local_endpoint().port(); }

void MetricsServer::stop() {
  asio::error_code ignored;
  acceptor_.close(ignored);
  backoff_.cancel();
}

asio::awaitable<void> MetricsServer::run() {
  bool failing = false; // one log line per series of failed accepts, not one per retry
  while (acceptor_.is_open()) {
    auto accept = acceptor_.async_accept(use_tuple);
    auto [ec, socket] = co_await std::move(accept);
    if (ec == asio::error::operation_aborted) break;
    if (ec) {
      // Out of descriptors (EMFILE, ENFILE) or memory: the connection stays in the backlog and the socket
      // stays readable, so accepting again at once would spin. Asio retries ECONNABORTED by itself, so
      // every error that gets here is worth a pause.
      ++counts_->accept_errors;
      if (!failing)
        log::warn("metrics: accept failed: {} (retrying every {} ms)", ec.message(), std::chrono::duration_cast<std::chrono::milliseconds>(limits_.accept_backoff).count());
      failing = true;
      backoff_.expires_after(limits_.accept_backoff);
      auto pause = backoff_.async_wait(use_tuple);
      co_await std::move(pause);
      continue;
    }
    failing = false;
    if (counts_->active >= limits_.max_connections) {
      // Over the cap: closed at once rather than left unaccepted in the kernel's backlog. Queued behind
      // idle connections, a scrape would wait for their timeouts; closed, the client fails fast and can
      // retry, and the refusal is counted where an operator sees it.
      ++counts_->refused;
      asio::error_code ignored;
      socket.close(ignored);
      continue;
    }
    asio::co_spawn(io_, serve(std::move(socket), Slot(counts_)), rethrow);
  }
}

std::string MetricsServer::own_metrics() const {
  return fmt::format("# HELP hoshino_metrics_connections_refused_total Connections to this endpoint closed unserved "
                     "(over the cap of {}).\n"
                     "# TYPE hoshino_metrics_connections_refused_total counter\n"
                     "hoshino_metrics_connections_refused_total {}\n"
                     "# HELP hoshino_metrics_accept_errors_total Failed accepts on this endpoint (e.g. out of "
                     "descriptors).\n"
                     "# TYPE hoshino_metrics_accept_errors_total counter\n"
                     "hoshino_metrics_accept_errors_total {}\n",
                     limits_.max_connections, counts_->refused, counts_->accept_errors);
}

asio::awaitable<void> MetricsServer::serve(asio::ip::tcp::socket socket, [[maybe_unused]] Slot slot) {
  using namespace asio::experimental::awaitable_operators;
  asio::streambuf request(kMaxRequest);
  asio::steady_timer deadline(io_, limits_.timeout);
  auto read = asio::async_read_until(socket, request, "\r\n\r\n", use_tuple);
  auto read_expired = deadline.async_wait(use_tuple);
  auto read_or_timeout = std::move(read) || std::move(read_expired);
  auto outcome = co_await std::move(read_or_timeout);
  if (outcome.index() != 0 || std::get<0>(std::get<0>(outcome))) co_return; // timeout, too large, or closed
  std::string head(asio::buffers_begin(request.data()), asio::buffers_end(request.data()));
  std::string status = "200 OK", body, type = "text/plain; version=0.0.4; charset=utf-8";
  if (head.starts_with("GET /metrics ") || head.starts_with("GET /metrics?")) {
    body = render_() + own_metrics();
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
  auto written = answer_and_close(socket, deadline, std::move(response), limits_.timeout);
  co_await std::move(written);
}

} // namespace hoshino::net

// The /metrics endpoint over loopback: connections over the cap are closed at once and counted and the
// server answers again once the others go; out of descriptors, the accept loop pauses instead of
// spinning, and recovers. Everything runs on one thread, one handler at a time: no sleeps.
#define CATCH_CONFIG_MAIN
#include "net/metrics_server.hpp"
#include "util/rethrow.hpp"

#include <asio/co_spawn.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

using namespace hoshino;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<net::MetricsServer> start(asio::io_context& io, net::MetricsServerLimits limits = {}) {
  auto s = net::MetricsServer::bind(io, "127.0.0.1:0", [] { return std::string("test_metric 1\n"); }, limits);
  REQUIRE(s);
  auto server = std::move(s).value();
  asio::co_spawn(io, server->run(), rethrow);
  return server;
}

// A blocking connect: the kernel completes it from the listen backlog, before the server accepts.
tcp::socket connect(asio::io_context& io, unsigned short port) {
  tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  return s;
}

// Runs the handlers one at a time until `done()`. The wait for each is only a guard against a hang: a
// test that never gets there fails.
bool run_until(asio::io_context& io, const std::function<bool()>& done) {
  io.restart();
  while (!done())
    if (io.run_one_for(30s) == 0) return false;
  return true;
}

void send_request(tcp::socket& s) { asio::write(s, asio::buffer(std::string("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"))); }

// Everything the server sends on `s` until it closes it.
std::string read_answer(asio::io_context& io, tcp::socket& s) {
  std::string answer;
  bool closed = false;
  asio::async_read(s, asio::dynamic_buffer(answer), [&](asio::error_code, std::size_t) { closed = true; });
  REQUIRE(run_until(io, [&] { return closed; }));
  return answer;
}

std::string get_metrics(asio::io_context& io, unsigned short port) {
  auto s = connect(io, port);
  send_request(s);
  return read_answer(io, s);
}

// What a read without waiting finds: eof once the server closed, would_block while it holds the line.
asio::error_code peek(tcp::socket& s) {
  s.non_blocking(true);
  char c;
  asio::error_code ec;
  s.read_some(asio::buffer(&c, 1), ec);
  return ec;
}

// Lowers the soft limit on descriptors to the lowest free one: until the destructor restores it, every
// new descriptor (an accepted connection too) fails with EMFILE.
struct NoMoreDescriptors {
  rlimit saved{};
  NoMoreDescriptors() {
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    int lowest = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE(lowest >= 0);
    ::close(lowest);
    rlimit low = saved;
    low.rlim_cur = static_cast<rlim_t>(lowest);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  }
  ~NoMoreDescriptors() { restore(); }
  void restore() { ::setrlimit(RLIMIT_NOFILE, &saved); }
};

} // namespace

TEST_CASE("Connections over the cap are closed at once and counted; the server answers once the others go",
          "[metrics]") {
  asio::io_context io;
  auto server = start(io);
  const std::size_t cap = net::MetricsServerLimits{}.max_connections;
  REQUIRE(cap == 16);
  std::vector<tcp::socket> idle;
  for (std::size_t i = 0; i < cap + 4; ++i) idle.push_back(connect(io, server->port()));
  REQUIRE(run_until(io, [&] { return server->connections() + server->refused() == cap + 4; }));
  CHECK(server->connections() == cap);
  CHECK(server->refused() == 4);
  // Accepted in order: the first `cap` are held (waiting for a request), the rest were closed.
  for (std::size_t i = 0; i < idle.size(); ++i) {
    INFO("connection " << i);
    auto expected = i < cap ? asio::error_code(asio::error::would_block) : asio::error_code(asio::error::eof);
    CHECK(peek(idle[i]) == expected);
  }
  // A scrape meanwhile fails at once (it does not wait in the backlog behind the idle ones).
  CHECK(get_metrics(io, server->port()).empty());
  CHECK(server->refused() == 5);

  for (auto& s : idle) s.close();
  REQUIRE(run_until(io, [&] { return server->connections() == 0; }));
  auto answer = get_metrics(io, server->port());
  CHECK(answer.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(answer.find("\r\n\r\ntest_metric 1\n") != std::string::npos);
  CHECK(answer.find("\nhoshino_metrics_connections_refused_total 5\n") != std::string::npos);
  CHECK(answer.find("\nhoshino_metrics_accept_errors_total 0\n") != std::string::npos);
  server->stop();
  io.restart();
  io.run();
}

TEST_CASE("Out of descriptors, the accept loop pauses instead of spinning", "[metrics]") {
  asio::io_context io;
  net::MetricsServerLimits limits;
  limits.accept_backoff = 1h; // no retry within the test: every failed accept after the first is a spin
  auto server = start(io, limits);
  auto client = connect(io, server->port());
  {
    NoMoreDescriptors exhausted;
    io.restart();
    for (int i = 0; i < 1000; ++i) io.poll_one();
  }
  CHECK(server->accept_errors() == 1);
  CHECK(server->connections() == 0);
  server->stop(); // ends the pause too
  io.restart();
  io.run();
}

TEST_CASE("Out of descriptors for a while, the endpoint answers again once it can accept", "[metrics]") {
  asio::io_context io;
  net::MetricsServerLimits limits;
  limits.accept_backoff = 1ms;
  auto server = start(io, limits);
  auto client = connect(io, server->port());
  send_request(client);
  {
    NoMoreDescriptors exhausted;
    REQUIRE(run_until(io, [&] { return server->accept_errors() >= 2; })); // failed, paused, failed again
  }
  auto answer = read_answer(io, client); // the connection waited in the backlog
  CHECK(answer.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(answer.find("\nhoshino_metrics_accept_errors_total ") != std::string::npos);
  server->stop();
  io.restart();
  io.run();
}

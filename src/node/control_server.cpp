#include "node/control_server.hpp"

#include "net/answer.hpp"
#include "util/rethrow.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hoshino::node {
namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxConnections = 4;
constexpr Duration kTimeout = std::chrono::milliseconds(2000);
constexpr std::size_t kMaxAnswer = 4 << 20;

} // namespace

Result<std::unique_ptr<ControlServer>, std::string> ControlServer::bind(asio::io_context& io, const std::string& path,
                                                                        Render render) {
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) return "control socket path too long: " + path;
  ::unlink(path.c_str()); // a killed node's socket; the state directory's lock says no node runs here
  asio::local::stream_protocol::acceptor acceptor(io);
  asio::error_code ec;
  acceptor.open(asio::local::stream_protocol(), ec);
  mode_t old = ::umask(0177); // the socket is created 0600
  if (!ec) acceptor.bind(asio::local::stream_protocol::endpoint(path), ec);
  ::umask(old);
  if (!ec) acceptor.listen(8, ec);
  if (ec) return "control socket " + path + ": " + ec.message();
  return std::unique_ptr<ControlServer>(new ControlServer(io, std::move(acceptor), path, std::move(render)));
}

ControlServer::ControlServer(asio::io_context& io, asio::local::stream_protocol::acceptor acceptor, std::string path,
                             Render render)
    : io_(io), acceptor_(std::move(acceptor)), path_(std::move(path)), render_(std::move(render)) {}

ControlServer::~ControlServer() {
  stop();
  ::unlink(path_.c_str());
}

void ControlServer::stop() {
  asio::error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> ControlServer::run() {
  while (acceptor_.is_open()) {
    auto accept = acceptor_.async_accept(use_tuple);
    auto [ec, socket] = co_await std::move(accept);
    if (ec == asio::error::operation_aborted) break;
    if (ec || *active_ >= kMaxConnections) {
      // Out of descriptors, or too many at once: this one is closed; a pause keeps an error from spinning.
      asio::error_code ignored;
      socket.close(ignored);
      asio::steady_timer pause(io_, std::chrono::milliseconds(100));
      auto wait = pause.async_wait(use_tuple);
      co_await std::move(wait);
      continue;
    }
    ++*active_;
    asio::co_spawn(io_, serve(std::move(socket), active_), rethrow);
  }
}

asio::awaitable<void> ControlServer::serve(asio::local::stream_protocol::socket socket,
                                           std::shared_ptr<std::size_t> active) {
  struct Release {
    std::shared_ptr<std::size_t> n;
    ~Release() { --*n; }
  } release{active};
  std::string answer = render_();
  asio::steady_timer deadline(io_);
  auto written = net::answer_and_close(socket, deadline, std::move(answer), kTimeout);
  co_await std::move(written);
}

ControlAnswer read_control_socket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {false, std::string("socket: ") + std::strerror(errno)};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    ::close(fd);
    return {false, "path too long: " + path};
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return {false, "cannot connect to " + path + ": " + why};
  }
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      std::string why = std::strerror(errno);
      ::close(fd);
      return {false, "reading " + path + ": " + why};
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > kMaxAnswer) break;
  }
  ::close(fd);
  return {true, std::move(out)};
}

} // namespace hoshino::node

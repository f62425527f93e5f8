#pragma once
// The local control socket `hoshino show` talks to (like WireGuard's /var/run/wireguard/<if>.sock): a
// Unix stream socket in the state directory (mode 0700, so only root reaches it), made mode 0600. Each
// connection gets the rendered peer view and is closed; no request is read. At most 4 at once, and each
// answer must be taken within 2 s: a stuck client cannot hold the node.
#include "util/result.hpp"

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>

#include <functional>
#include <memory>
#include <string>

namespace hoshino::node {

class ControlServer {
public:
  using Render = std::function<std::string()>;
  // Binds now (a stale socket of a killed node is replaced: the state directory's lock says none runs).
  static Result<std::unique_ptr<ControlServer>, std::string> bind(asio::io_context& io, const std::string& path,
                                                                  Render render);
  ~ControlServer();
  asio::awaitable<void> run();
  void stop();
  const std::string& path() const noexcept { return path_; }

private:
  ControlServer(asio::io_context& io, asio::local::stream_protocol::acceptor acceptor, std::string path, Render render);
  asio::awaitable<void> serve(asio::local::stream_protocol::socket socket, std::shared_ptr<std::size_t> active);

  asio::io_context& io_;
  asio::local::stream_protocol::acceptor acceptor_;
  std::string path_;
  Render render_;
  std::shared_ptr<std::size_t> active_ = std::make_shared<std::size_t>(0);
};

// The client side (`hoshino show`): the node's answer in `text`, or (false) why there is none.
struct ControlAnswer {
  bool ok = false;
  std::string text;
};
ControlAnswer read_control_socket(const std::string& path);

} // namespace hoshino::node

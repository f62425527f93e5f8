#pragma once
// The real PacketDevice: a Linux TUN interface (IFF_TUN | IFF_NO_PI), read on the event loop.
#include "device/packet_device.hpp"

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include <memory>
#include <string>
#include <vector>

namespace hoshino::device {

class TunDevice final : public PacketDevice {
public:
  // Creates the interface. Errors are one line for the user (no root, no /dev/net/tun, name taken).
  static Result<std::unique_ptr<TunDevice>, std::string> create(asio::io_context& io, const std::string& name,
                                                                std::size_t mtu);
  ~TunDevice() override;

  asio::awaitable<Result<core::Bytes, std::error_code>> read() override;
  std::optional<core::Bytes> try_read() override;
  bool write(std::string_view packet) override;
  void close() override;

  const std::string& name() const noexcept { return name_; }
  // The interface was renamed (Netlink::rename): the name it is known by now.
  void renamed(std::string name) { name_ = std::move(name); }
  int index() const noexcept { return index_; }

private:
  TunDevice(asio::io_context& io, int fd, std::string name, int index, std::size_t mtu);

  asio::posix::stream_descriptor fd_;
  std::string name_;
  int index_;
  std::vector<char> buffer_;
};

} // namespace hoshino::device

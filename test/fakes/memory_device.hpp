#pragma once
// An in-memory PacketDevice: tests inject packets "from the kernel" and see what the node wrote back.
#include "device/packet_device.hpp"

#include <asio/experimental/channel.hpp>
#include <asio/io_context.hpp>

#include <cstdint>
#include <functional>
#include <vector>

namespace hoshino::device {

class MemoryDevice final : public PacketDevice {
public:
  explicit MemoryDevice(asio::io_context& io, std::size_t capacity = 1024);

  // A packet the kernel routed into the tunnel. False (and counted) when the queue is full.
  bool inject(core::Bytes packet);
  // Packets the node wrote back (towards the kernel), in order.
  const std::vector<core::Bytes>& written() const noexcept { return written_; }
  // Called for each written packet (e.g. to answer pings like a kernel would).
  std::function<void(const core::Bytes&)> on_write;
  std::uint64_t dropped() const noexcept { return dropped_; }

  asio::awaitable<Result<core::Bytes, std::error_code>> read() override;
  std::optional<core::Bytes> try_read() override;
  bool write(std::string_view packet) override;
  void close() override;

private:
  asio::experimental::channel<void(asio::error_code, core::Bytes)> from_kernel_;
  std::vector<core::Bytes> written_;
  std::uint64_t dropped_ = 0;
};

} // namespace hoshino::device

#pragma once
// The packet side of a node: where IP packets come from (the kernel's routes into the tunnel) and where
// received ones go. TunDevice is the real one; MemoryDevice (test/fakes/) is the tests' in-memory one.
#include "core/ipv6.hpp"

#include <asio/awaitable.hpp>

#include <optional>
#include <string_view>
#include <system_error>

namespace hoshino::device {

class PacketDevice {
public:
  virtual ~PacketDevice() = default;
  // The next packet the kernel sent into the tunnel; an error once the device is closed.
  virtual asio::awaitable<Result<core::Bytes, std::error_code>> read() = 0;
  // A packet that is already waiting, without suspending; nullopt when there is none (or on error, which
  // the next read() reports). Lets the node take a burst whole before deciding how to bundle it.
  virtual std::optional<core::Bytes> try_read() = 0;
  // Hands one packet to the kernel. Never blocks: false when the device cannot take it now (dropped).
  virtual bool write(std::string_view packet) = 0;
  // Ends pending and future reads.
  virtual void close() = 0;
};

} // namespace hoshino::device

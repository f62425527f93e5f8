#include "fakes/memory_device.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

namespace hoshino::device {

MemoryDevice::MemoryDevice(asio::io_context& io, std::size_t capacity) : from_kernel_(io, capacity) {}

bool MemoryDevice::inject(core::Bytes packet) {
  if (!from_kernel_.try_send(asio::error_code{}, std::move(packet))) {
    ++dropped_;
    return false;
  }
  return true;
}

asio::awaitable<Result<core::Bytes, std::error_code>> MemoryDevice::read() {
  auto received = co_await from_kernel_.async_receive(asio::experimental::as_tuple(asio::use_awaitable));
  if (std::get<0>(received)) co_return std::error_code(std::get<0>(received));
  co_return std::move(std::get<1>(received));
}

std::optional<core::Bytes> MemoryDevice::try_read() {
  std::optional<core::Bytes> out;
  from_kernel_.try_receive([&](asio::error_code ec, core::Bytes packet) {
    if (!ec) out = std::move(packet);
  });
  return out;
}

bool MemoryDevice::write(std::string_view packet) {
  written_.emplace_back(packet);
  if (on_write) on_write(written_.back());
  return true;
}

void MemoryDevice::close() { from_kernel_.close(); }

} // namespace hoshino::device

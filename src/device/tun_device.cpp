#include "device/tun_device.hpp"

#include <asio/buffer.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hoshino::device {

Result<std::unique_ptr<TunDevice>, std::string> TunDevice::create(asio::io_context& io, const std::string& name,
                                                                  std::size_t mtu) {
  if (name.empty() || name.size() >= IFNAMSIZ) return "interface name '" + name + "' must be 1-15 characters";
  // TUNSETIFF would attach to an existing tun device of that name instead of failing: check first.
  if (::if_nametoindex(name.c_str()) != 0) return "interface " + name + " already exists (choose another --tun name)";
  int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT || e == ENODEV) return std::string("/dev/net/tun not found: is the tun module loaded?");
    if (e == EACCES || e == EPERM) return std::string("cannot open /dev/net/tun: run as root (needs CAP_NET_ADMIN)");
    return std::string("cannot open /dev/net/tun: ") + std::strerror(e);
  }
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (::ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    ::close(fd);
    if (e == EPERM || e == EACCES) return std::string("cannot create a TUN interface: run as root (needs CAP_NET_ADMIN)");
    if (e == EBUSY || e == EEXIST) return "interface " + name + " already exists (choose another --tun name)";
    return "cannot create TUN interface " + name + ": " + std::strerror(e);
  }
  int index = static_cast<int>(::if_nametoindex(ifr.ifr_name));
  return std::unique_ptr<TunDevice>(new TunDevice(io, fd, ifr.ifr_name, index, mtu));
}

TunDevice::TunDevice(asio::io_context& io, int fd, std::string name, int index, std::size_t mtu)
    : fd_(io, fd), name_(std::move(name)), index_(index), buffer_(mtu + 64) {}

TunDevice::~TunDevice() { close(); }

asio::awaitable<Result<core::Bytes, std::error_code>> TunDevice::read() {
  // One read returns exactly one packet.
  auto result = co_await fd_.async_read_some(asio::buffer(buffer_), asio::experimental::as_tuple(asio::use_awaitable));
  if (std::get<0>(result)) co_return std::error_code(std::get<0>(result));
  co_return core::Bytes(buffer_.data(), std::get<1>(result));
}

std::optional<core::Bytes> TunDevice::try_read() {
  if (!fd_.is_open()) return std::nullopt;
  ssize_t n = ::read(fd_.native_handle(), buffer_.data(), buffer_.size()); // the descriptor is non-blocking
  if (n <= 0) return std::nullopt;
  return core::Bytes(buffer_.data(), static_cast<std::size_t>(n));
}

bool TunDevice::write(std::string_view packet) {
  if (!fd_.is_open()) return false;
  // Non-blocking: if the kernel cannot take the packet now, it is dropped (and counted by the caller),
  // as a congested link would.
  ssize_t n = ::write(fd_.native_handle(), packet.data(), packet.size());
  return n == static_cast<ssize_t>(packet.size());
}

void TunDevice::close() {
  asio::error_code ignored;
  if (fd_.is_open()) fd_.close(ignored); // the interface disappears with its last descriptor
}

} // namespace hoshino::device

#pragma once
// Interface configuration over rtnetlink (no shelling out to `ip`): move a link into a network
// namespace, set MTU and up, add an address, add a route (with its TCP congestion control).
#include "core/ipv6.hpp"

#include <functional>
#include <string>
#include <string_view>

struct nlmsghdr;

namespace hoshino::device {

class Netlink {
public:
  // A netlink socket in the current network namespace.
  static Result<Netlink, std::string> open();
  // A netlink socket inside the named namespace (/run/netns/NAME); the caller's thread stays where it
  // was, and so do the process's other sockets (S3 connections).
  static Result<Netlink, std::string> open_in_netns(const std::string& netns);

  Netlink(Netlink&& other) noexcept;
  Netlink& operator=(Netlink&&) = delete;
  ~Netlink();

  // Moves the link into the named namespace. Call on a socket in the link's current namespace.
  Result<Unit, std::string> move_to_netns(int ifindex, const std::string& netns);
  Result<int, std::string> index_of(const std::string& name);
  // Renames the link (it must be down). A name already taken in this namespace is refused by the kernel
  // atomically, so two nodes started at once with one --tun name cannot both get it.
  Result<Unit, std::string> rename(int ifindex, const std::string& name);
  Result<Unit, std::string> set_mtu_and_up(int ifindex, std::size_t mtu);
  // The address without the kernel's automatic prefix route (we add the /64 route ourselves).
  Result<Unit, std::string> add_address(int ifindex, const core::Address& addr, int prefix_len);
  // congestion_control: the TCP congestion control of connections on this route (empty: the host's).
  // At most 15 characters (the kernel's TCP_CA_NAME_MAX).
  Result<Unit, std::string> add_route(int ifindex, const core::Address& network, int prefix_len,
                                      std::string_view congestion_control = {});

private:
  explicit Netlink(int fd) : fd_(fd) {}
  // Sends a request (with NLM_F_ACK) and reads until its acknowledgement; other replies to it (e.g. the
  // RTM_NEWLINK a lookup returns) are handed to on_reply. `what` prefixes error messages.
  Result<Unit, std::string> request(void* msg, std::size_t len, const std::string& what,
                                    const std::function<void(const nlmsghdr&)>& on_reply = {});

  int fd_ = -1;
  unsigned seq_ = 1;
  int last_error_ = 0; // the errno of the last request the kernel refused, for callers to explain
};

// An open descriptor of /run/netns/NAME, or an error naming the namespace.
Result<int, std::string> open_netns(const std::string& netns);

} // namespace hoshino::device

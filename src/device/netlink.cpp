#include "device/netlink.hpp"

#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace hoshino::device {
namespace {

// A netlink request under construction: header, fixed part, attributes.
struct Message {
  alignas(nlmsghdr) std::array<char, 512> buf{};
  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf.data()); }

  template <class Fixed>
  Fixed* begin(std::uint16_t type, std::uint16_t flags) {
    hdr()->nlmsg_type = type;
    hdr()->nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
    hdr()->nlmsg_len = NLMSG_LENGTH(sizeof(Fixed));
    return reinterpret_cast<Fixed*>(NLMSG_DATA(hdr()));
  }
  void attr(std::uint16_t type, const void* data, std::size_t len) {
    auto* rta = reinterpret_cast<rtattr*>(buf.data() + NLMSG_ALIGN(hdr()->nlmsg_len));
    rta->rta_type = type;
    rta->rta_len = static_cast<std::uint16_t>(RTA_LENGTH(len));
    std::memcpy(RTA_DATA(rta), data, len);
    hdr()->nlmsg_len = NLMSG_ALIGN(hdr()->nlmsg_len) + RTA_ALIGN(rta->rta_len);
  }
  template <class T>
  void attr(std::uint16_t type, const T& value) { attr(type, &value, sizeof value); }
};

std::string errno_text(int e) { return std::strerror(e); }

} // namespace

Result<int, std::string> open_netns(const std::string& netns) {
  if (netns.empty() || netns.find('/') != std::string::npos) return "bad network namespace name '" + netns + "'";
  std::string path = "/run/netns/" + netns;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "unknown network namespace '" + netns + "' (" + path + ": " + errno_text(errno) + ")";
  return fd;
}

Result<Netlink, std::string> Netlink::open() {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return "netlink socket: " + errno_text(errno);
  return Netlink(fd);
}

Result<Netlink, std::string> Netlink::open_in_netns(const std::string& netns) {
  auto target = open_netns(netns);
  if (!target) return std::move(target).error();
  int here = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (here < 0) {
    ::close(*target);
    return "cannot open /proc/self/ns/net: " + errno_text(errno);
  }
  // A socket belongs to the namespace it was created in: step in, create it, step back out.
  if (::setns(*target, CLONE_NEWNET) < 0) {
    int e = errno;
    ::close(*target);
    ::close(here);
    return "cannot enter network namespace '" + netns + "': " + errno_text(e);
  }
  auto nl = open();
  int back = ::setns(here, CLONE_NEWNET);
  ::close(*target);
  ::close(here);
  if (back < 0) return "cannot return to the original network namespace: " + errno_text(errno);
  return nl;
}

Netlink::Netlink(Netlink&& other) noexcept : fd_(std::exchange(other.fd_, -1)), seq_(other.seq_) {}

Netlink::~Netlink() {
  if (fd_ >= 0) ::close(fd_);
}

Result<Unit, std::string> Netlink::request(void* msg, std::size_t len, const std::string& what,
                                          const std::function<void(const nlmsghdr&)>& on_reply) {
  auto* hdr = static_cast<nlmsghdr*>(msg);
  hdr->nlmsg_seq = seq_++;
  last_error_ = 0;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd_, msg, len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    return what + ": " + errno_text(errno);
  alignas(nlmsghdr) char reply[8192];
  for (;;) {
    ssize_t n = ::recv(fd_, reply, sizeof reply, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return what + ": " + errno_text(errno);
    }
    for (auto* h = reinterpret_cast<nlmsghdr*>(reply); NLMSG_OK(h, static_cast<unsigned>(n)); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != hdr->nlmsg_seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(h));
        if (err->error == 0) return Unit{};
        last_error_ = -err->error;
        return what + ": " + errno_text(-err->error);
      }
      if (on_reply) on_reply(*h);
    }
  }
}

Result<Unit, std::string> Netlink::move_to_netns(int ifindex, const std::string& netns) {
  auto target = open_netns(netns);
  if (!target) return std::move(target).error();
  Message m;
  auto* ifi = m.begin<ifinfomsg>(RTM_NEWLINK, 0);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  std::uint32_t fd = static_cast<std::uint32_t>(*target);
  m.attr(IFLA_NET_NS_FD, fd);
  auto r = request(m.hdr(), m.hdr()->nlmsg_len, "move interface into network namespace");
  ::close(*target);
  return r;
}

Result<Unit, std::string> Netlink::rename(int ifindex, const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) return "interface name '" + name + "' must be 1-15 characters";
  Message m;
  auto* ifi = m.begin<ifinfomsg>(RTM_NEWLINK, 0);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  m.attr(IFLA_IFNAME, name.c_str(), name.size() + 1);
  auto r = request(m.hdr(), m.hdr()->nlmsg_len, "rename interface to " + name);
  if (!r && last_error_ == EEXIST) return "interface " + name + " already exists (choose another --tun name)";
  return r;
}

Result<int, std::string> Netlink::index_of(const std::string& name) {
  Message m;
  auto* ifi = m.begin<ifinfomsg>(RTM_GETLINK, 0);
  ifi->ifi_family = AF_UNSPEC;
  m.attr(IFLA_IFNAME, name.c_str(), name.size() + 1);
  int index = 0;
  auto r = request(m.hdr(), m.hdr()->nlmsg_len, "look up interface " + name, [&](const nlmsghdr& h) {
    if (h.nlmsg_type == RTM_NEWLINK) index = static_cast<const ifinfomsg*>(NLMSG_DATA(&h))->ifi_index;
  });
  if (!r) return std::move(r).error();
  if (index == 0) return "interface " + name + " not found";
  return index;
}

Result<Unit, std::string> Netlink::set_mtu_and_up(int ifindex, std::size_t mtu) {
  Message m;
  auto* ifi = m.begin<ifinfomsg>(RTM_NEWLINK, 0);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  m.attr(IFLA_MTU, static_cast<std::uint32_t>(mtu));
  return request(m.hdr(), m.hdr()->nlmsg_len, "set MTU and bring the interface up");
}

Result<Unit, std::string> Netlink::add_address(int ifindex, const core::Address& addr, int prefix_len) {
  Message m;
  auto* ifa = m.begin<ifaddrmsg>(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
  ifa->ifa_family = AF_INET6;
  ifa->ifa_prefixlen = static_cast<unsigned char>(prefix_len);
  ifa->ifa_index = static_cast<unsigned>(ifindex);
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  m.attr(IFA_LOCAL, addr.bytes.data(), 16);
  m.attr(IFA_ADDRESS, addr.bytes.data(), 16);
  // No duplicate address detection (nobody else is on a point-to-point tunnel; DAD would delay use by
  // a second or more) and no automatic prefix route (added explicitly below).
  std::uint32_t flags = IFA_F_NODAD | IFA_F_NOPREFIXROUTE;
  m.attr(IFA_FLAGS, flags);
  return request(m.hdr(), m.hdr()->nlmsg_len, "add address");
}

Result<Unit, std::string> Netlink::add_route(int ifindex, const core::Address& network, int prefix_len,
                                             std::string_view congestion_control) {
  Message m;
  auto* rt = m.begin<rtmsg>(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
  rt->rtm_family = AF_INET6;
  rt->rtm_dst_len = static_cast<unsigned char>(prefix_len);
  rt->rtm_table = RT_TABLE_MAIN;
  rt->rtm_protocol = RTPROT_STATIC;
  rt->rtm_scope = RT_SCOPE_UNIVERSE;
  rt->rtm_type = RTN_UNICAST;
  m.attr(RTA_DST, network.bytes.data(), 16);
  m.attr(RTA_OIF, static_cast<std::uint32_t>(ifindex));
  if (congestion_control.empty()) return request(m.hdr(), m.hdr()->nlmsg_len, "add route");
  if (congestion_control.size() > 15) return "TCP congestion control name too long: " + std::string(congestion_control);
  // RTA_METRICS nests the route's metrics; RTAX_CC_ALGO is the algorithm's name, NUL-terminated.
  alignas(rtattr) std::array<char, RTA_SPACE(16)> metrics{};
  auto* cc = reinterpret_cast<rtattr*>(metrics.data());
  cc->rta_type = RTAX_CC_ALGO;
  cc->rta_len = static_cast<std::uint16_t>(RTA_LENGTH(congestion_control.size() + 1));
  std::memcpy(RTA_DATA(cc), congestion_control.data(), congestion_control.size());
  m.attr(RTA_METRICS, metrics.data(), RTA_ALIGN(cc->rta_len));
  auto added = request(m.hdr(), m.hdr()->nlmsg_len, "add route");
  // The kernel refuses a name it has no algorithm for (not even as module tcp_NAME) with EINVAL.
  if (!added && last_error_ == EINVAL)
    return "this kernel has no TCP congestion control '" + std::string(congestion_control) +
           "' (--tcp-congestion; see /proc/sys/net/ipv4/tcp_available_congestion_control, or system for the "
           "host's default)";
  return added;
}

} // namespace hoshino::device

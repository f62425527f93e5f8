#include "core/ipv6.hpp"

#include "util/hex.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace hoshino::core {

std::optional<Address> Address::parse(std::string_view text) {
  Address a;
  std::string s(text);
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
  return a;
}

std::optional<Address> Address::from_hex(std::string_view hex32) {
  if (hex32.size() != 32) return std::nullopt;
  Address a;
  for (std::size_t i = 0; i < 16; ++i) {
    char hi = hex32[2 * i], lo = hex32[2 * i + 1];
    // Keys use lower case only: one spelling per address, so one inbox per node.
    if ((hi >= 'A' && hi <= 'F') || (lo >= 'A' && lo <= 'F')) return std::nullopt;
    int h = hex_digit(hi), l = hex_digit(lo);
    if (h < 0 || l < 0) return std::nullopt;
    a.bytes[i] = static_cast<std::uint8_t>(h << 4 | l);
  }
  return a;
}

std::string Address::str() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

std::string Address::hex() const {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s(32, '0');
  for (std::size_t i = 0; i < 16; ++i) {
    s[2 * i] = digits[bytes[i] >> 4];
    s[2 * i + 1] = digits[bytes[i] & 15];
  }
  return s;
}

std::size_t AddressHash::operator()(const Address& a) const noexcept {
  std::uint64_t hi, lo;
  std::memcpy(&hi, a.bytes.data(), 8);
  std::memcpy(&lo, a.bytes.data() + 8, 8);
  return std::hash<std::uint64_t>{}(hi ^ (lo * 0x9e3779b97f4a7c15ULL));
}

bool UlaPrefix::contains(const Address& a) const noexcept {
  return std::memcmp(a.bytes.data(), network.data(), 8) == 0;
}

Address UlaPrefix::with(const InterfaceId& id) const noexcept {
  Address a;
  std::memcpy(a.bytes.data(), network.data(), 8);
  std::memcpy(a.bytes.data() + 8, id.data(), 8);
  return a;
}

std::string UlaPrefix::str() const { return with(InterfaceId{}).str() + "/64"; }

Result<UlaPrefix, std::string> parse_ula_prefix(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos || text.substr(slash + 1) != "64")
    return "--ula '" + std::string(text) + "' must be a /64 prefix, e.g. fd5e:59b8:f71d:9a3e::/64";
  auto addr = Address::parse(text.substr(0, slash));
  if (!addr) return "--ula '" + std::string(text) + "' is not an IPv6 prefix";
  if ((addr->bytes[0] & 0xfe) != 0xfc)
    return "--ula '" + std::string(text) + "' is not a unique local prefix (fc00::/7)";
  for (std::size_t i = 8; i < 16; ++i)
    if (addr->bytes[i] != 0) return "--ula '" + std::string(text) + "' has host bits set beyond /64";
  UlaPrefix p;
  std::memcpy(p.network.data(), addr->bytes.data(), 8);
  return p;
}

Result<InterfaceId, std::string> interface_id_from_machine_id(std::string_view content) {
  while (!content.empty() && (content.back() == '\n' || content.back() == '\r' || content.back() == ' '))
    content.remove_suffix(1);
  if (content.size() != 32) return std::string("machine-id must be 32 hex digits");
  InterfaceId id{};
  for (std::size_t i = 0; i < 32; ++i) {
    if (hex_digit(content[i]) < 0) return std::string("machine-id must be 32 hex digits");
  }
  for (std::size_t i = 0; i < 8; ++i)
    id[i] = static_cast<std::uint8_t>(hex_digit(content[2 * i]) << 4 | hex_digit(content[2 * i + 1]));
  return id;
}

std::string_view to_string(PacketError e) {
  switch (e) {
    case PacketError::too_short: return "too_short";
    case PacketError::not_ipv6: return "not_ipv6";
    case PacketError::length_mismatch: return "length_mismatch";
  }
  return "unknown";
}

Result<Ipv6Header, PacketError> parse_ipv6(std::string_view p) {
  if (p.empty()) return PacketError::too_short;
  auto u = [&](std::size_t i) { return static_cast<std::uint8_t>(p[i]); };
  if (u(0) >> 4 != 6) return PacketError::not_ipv6;
  if (p.size() < 40) return PacketError::too_short;
  Ipv6Header h;
  h.payload_length = static_cast<std::uint16_t>(u(4) << 8 | u(5));
  h.next_header = u(6);
  h.hop_limit = u(7);
  std::memcpy(h.src.bytes.data(), p.data() + 8, 16);
  std::memcpy(h.dst.bytes.data(), p.data() + 24, 16);
  if (40u + h.payload_length != p.size()) return PacketError::length_mismatch;
  return h;
}

namespace {

bool pure_tcp_ack(std::string_view packet, const Ipv6Header& h) {
  constexpr std::uint8_t kTcp = 6, kFin = 0x01, kSyn = 0x02, kRst = 0x04, kAck = 0x10;
  if (h.next_header != kTcp || h.payload_length < 20) return false;
  auto u = [&](std::size_t i) { return static_cast<std::uint8_t>(packet[40 + i]); };
  std::size_t header = (u(12) >> 4) * 4u;
  std::uint8_t flags = u(13);
  return header >= 20 && header == h.payload_length && (flags & kAck) && !(flags & (kFin | kSyn | kRst));
}

PacketView view_from(std::string_view packet, const Ipv6Header& h) {
  constexpr std::uint8_t kIcmpv6 = 58;
  PacketView v;
  v.src = h.src;
  v.dst = h.dst;
  v.pure_tcp_ack = pure_tcp_ack(packet, h);
  // Only a packet whose first header is ICMPv6 is looked at: extension headers before it are rare.
  v.icmpv6_error = h.next_header == kIcmpv6 && packet.size() > 40 && static_cast<std::uint8_t>(packet[40]) < 128;
  return v;
}

} // namespace

bool is_pure_tcp_ack(std::string_view packet) {
  auto h = parse_ipv6(packet);
  return h && pure_tcp_ack(packet, *h);
}

std::optional<PacketView> view_of(std::string_view packet) {
  auto h = parse_ipv6(packet);
  if (!h) return std::nullopt;
  return view_from(packet, *h);
}

std::string_view to_string(IgnoreReason r) {
  switch (r) {
    case IgnoreReason::not_ipv6: return "not_ipv6";
    case IgnoreReason::malformed: return "malformed";
    case IgnoreReason::outside_prefix: return "outside_prefix";
    case IgnoreReason::multicast: return "multicast";
    case IgnoreReason::to_self: return "to_self";
  }
  return "unknown";
}

EgressDecision classify_egress(std::string_view packet, const UlaPrefix& prefix, const Address& self) {
  auto h = parse_ipv6(packet);
  if (!h) return {h.error() == PacketError::not_ipv6 ? IgnoreReason::not_ipv6 : IgnoreReason::malformed, {}};
  auto v = view_from(packet, *h);
  if (h->dst.is_multicast()) return {IgnoreReason::multicast, v};
  if (!prefix.contains(h->dst)) return {IgnoreReason::outside_prefix, v};
  if (h->dst == self) return {IgnoreReason::to_self, v};
  return {std::nullopt, v};
}

} // namespace hoshino::core

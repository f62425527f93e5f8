#pragma once
// IPv6 addresses, the node's /64, and the little of the IPv6 header hoshino reads.
#include "util/result.hpp"

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace hoshino::core {

// Packets and object bodies are byte strings.
using Bytes = std::string;

struct Address {
  std::array<std::uint8_t, 16> bytes{};

  static std::optional<Address> parse(std::string_view text); // "fd5e::1"
  static std::optional<Address> from_hex(std::string_view hex32); // 32 lowercase hex digits
  std::string str() const; // RFC 5952 text
  std::string hex() const; // 32 lowercase hex digits, no colons (object keys)
  bool is_multicast() const noexcept { return bytes[0] == 0xff; }
  auto operator<=>(const Address&) const = default;
};

struct AddressHash {
  std::size_t operator()(const Address& a) const noexcept;
};

using InterfaceId = std::array<std::uint8_t, 8>;

// A /64 inside fc00::/7 (unique local addresses).
struct UlaPrefix {
  std::array<std::uint8_t, 8> network{};
  bool contains(const Address& a) const noexcept;
  Address with(const InterfaceId& id) const noexcept;
  std::string str() const; // "fd5e:59b8:f71d:9a3e::/64"
};

Result<UlaPrefix, std::string> parse_ula_prefix(std::string_view text);
// The interface identifier is the first 16 hex digits of a machine-id file's 32.
Result<InterfaceId, std::string> interface_id_from_machine_id(std::string_view content);

struct Ipv6Header {
  std::uint8_t next_header = 0;
  std::uint8_t hop_limit = 0;
  std::uint16_t payload_length = 0;
  Address src;
  Address dst;
};

enum class PacketError { too_short, not_ipv6, length_mismatch };
std::string_view to_string(PacketError e);

// Validates that `packet` is exactly one IPv6 packet (40-byte header + payload_length bytes).
Result<Ipv6Header, PacketError> parse_ipv6(std::string_view packet);

// A TCP segment that carries nothing but an acknowledgement (or a window update): no payload, ACK set,
// no SYN, FIN or RST. Such packets may wait a moment for their siblings (BundlerConfig::ack_hold).
// Only a TCP header right after the IPv6 header counts (extension headers: not recognised, never held).
bool is_pure_tcp_ack(std::string_view packet);

// Why an outgoing packet is not forwarded; the label of hoshino_packets_ignored_total.
enum class IgnoreReason { not_ipv6, malformed, outside_prefix, multicast, to_self };
std::string_view to_string(IgnoreReason r);

// What egress reads of an outgoing packet, once (classify_egress): the directory, the ICMPv6 answer and the
// bundler's ACK hold act on this instead of parsing the packet again.
struct PacketView {
  Address src;
  Address dst;
  bool pure_tcp_ack = false; // is_pure_tcp_ack
  bool icmpv6_error = false; // an ICMPv6 error message (types 0-127): never answered with another
};
// The view of a well-formed IPv6 packet (parse_ipv6), or nothing.
std::optional<PacketView> view_of(std::string_view packet);

struct EgressDecision {
  std::optional<IgnoreReason> ignore; // set: do not forward
  PacketView view;                    // (dst is set for every reason but not_ipv6 and malformed)
};
EgressDecision classify_egress(std::string_view packet, const UlaPrefix& prefix, const Address& self);

// One packet on its way out, with what classify_egress read of it.
struct Outgoing {
  Bytes bytes;
  PacketView view;
};

} // namespace hoshino::core

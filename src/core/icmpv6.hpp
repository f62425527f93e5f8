#pragma once
// ICMPv6 errors the node answers for itself (RFC 4443), as a router would: a packet to an address of the
// /64 that no node holds gets Destination Unreachable, code 3 (address unreachable), at once, instead of
// a paid PUT into an inbox nobody reads.
#include "core/ipv6.hpp"

#include <optional>
#include <string_view>

namespace hoshino::core {

inline constexpr std::uint8_t kIcmpv6NextHeader = 58;
inline constexpr std::size_t kIcmpv6MinMtu = 1280; // an ICMPv6 error never exceeds it (RFC 4443 §2.4 c)

// The Destination Unreachable (address unreachable) answer to an outgoing packet (classified: valid
// IPv6), sent from `from` back to the packet's source, carrying as much of the packet as fits in 1280
// bytes. nullopt where RFC 4443 §2.4 (e) forbids an answer: the packet is itself an ICMPv6 error, or comes
// from the unspecified or a multicast address.
std::optional<Bytes> address_unreachable(const Outgoing& packet, const Address& from);

// The ICMPv6 checksum of `packet` (an IPv6 packet whose next header is ICMPv6), over the pseudo-header;
// 0 for a packet with a correct checksum in place.
std::uint16_t icmpv6_checksum(std::string_view packet);

} // namespace hoshino::core

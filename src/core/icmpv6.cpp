#include "core/icmpv6.hpp"

#include <algorithm>

namespace hoshino::core {
namespace {

std::uint8_t byte(std::string_view s, std::size_t i) { return static_cast<std::uint8_t>(s[i]); }

} // namespace

std::uint16_t icmpv6_checksum(std::string_view packet) {
  // RFC 8200 §8.1: source, destination, upper-layer length (32 bits), next header (32 bits), then the
  // ICMPv6 message, all as 16-bit one's complement words.
  std::uint32_t sum = 0;
  auto add = [&](std::uint32_t word) { sum += word; };
  for (std::size_t i = 8; i < 40; i += 2) add(byte(packet, i) << 8 | byte(packet, i + 1));
  std::size_t length = packet.size() - 40;
  add(static_cast<std::uint32_t>(length >> 16));
  add(static_cast<std::uint32_t>(length & 0xffff));
  add(kIcmpv6NextHeader);
  for (std::size_t i = 40; i < packet.size(); i += 2)
    add(byte(packet, i) << 8 | (i + 1 < packet.size() ? byte(packet, i + 1) : 0));
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

std::optional<Bytes> address_unreachable(const Outgoing& packet, const Address& from) {
  const auto& invoking = packet.bytes;
  const auto& v = packet.view;
  if (v.src == Address{} || v.src.is_multicast()) return std::nullopt;
  // Never an error about an error, or loops of them could start.
  if (v.icmpv6_error) return std::nullopt;

  std::size_t quoted = std::min(invoking.size(), kIcmpv6MinMtu - 40 - 8);
  Bytes out(40 + 8 + quoted, '\0');
  std::size_t payload = 8 + quoted;
  out[0] = 0x60;
  out[4] = static_cast<char>(payload >> 8);
  out[5] = static_cast<char>(payload & 0xff);
  out[6] = static_cast<char>(kIcmpv6NextHeader);
  out[7] = static_cast<char>(255);
  std::copy(from.bytes.begin(), from.bytes.end(), out.begin() + 8);
  std::copy(v.src.bytes.begin(), v.src.bytes.end(), out.begin() + 24);
  out[40] = 1; // Destination Unreachable
  out[41] = 3; // address unreachable
  // 42-43 checksum, 44-47 unused (zero)
  std::copy_n(invoking.begin(), quoted, out.begin() + 48);
  std::uint16_t sum = icmpv6_checksum(out);
  out[42] = static_cast<char>(sum >> 8);
  out[43] = static_cast<char>(sum & 0xff);
  return out;
}

} // namespace hoshino::core

#pragma once
// Builds IPv6 packets for tests.
#include "core/ipv6.hpp"

#include <string>

namespace hoshino::test {

inline core::Address addr(const char* text) { return *core::Address::parse(text); }

// A packet on its way out to dst, with what egress reads of it (core::view_of; nothing for bytes that are
// not IPv6, as some tests use): as the node hands it to the directory and the bundler.
inline core::Outgoing outgoing(const core::Address& dst, core::Bytes packet) {
  auto view = core::view_of(packet).value_or(core::PacketView{});
  view.dst = dst;
  return {std::move(packet), view};
}

// An IPv6 packet from src to dst carrying `payload` (next header 59: "no next header").
inline core::Bytes ipv6_packet(const core::Address& src, const core::Address& dst, std::string_view payload,
                               std::uint8_t next_header = 59) {
  core::Bytes p(40, '\0');
  p[0] = 0x60;
  p[4] = static_cast<char>(payload.size() >> 8);
  p[5] = static_cast<char>(payload.size() & 0xff);
  p[6] = static_cast<char>(next_header);
  p[7] = 64;
  p.replace(8, 16, reinterpret_cast<const char*>(src.bytes.data()), 16);
  p.replace(24, 16, reinterpret_cast<const char*>(dst.bytes.data()), 16);
  p.append(payload);
  return p;
}

// A TCP segment from src to dst: a 20-byte header with these flags (ACK 0x10, SYN 0x02, FIN 0x01, RST 0x04),
// then `data`.
inline core::Bytes tcp_packet(const core::Address& src, const core::Address& dst, std::uint8_t flags,
                              std::string_view data = {}) {
  std::string tcp(20, '\0');
  tcp[12] = 0x50; // data offset: 5 words
  tcp[13] = static_cast<char>(flags);
  tcp.append(data);
  return ipv6_packet(src, dst, tcp, 6);
}
inline constexpr std::uint8_t kTcpAck = 0x10;

// The payload of a packet built by ipv6_packet.
inline std::string payload_of(const core::Bytes& packet) { return packet.substr(40); }

} // namespace hoshino::test

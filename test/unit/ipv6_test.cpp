#include "core/ipv6.hpp"
#include "support/packets.hpp"

#include <catch2/catch.hpp>

using namespace hoshino::core;
using hoshino::test::addr;
using hoshino::test::ipv6_packet;
using hoshino::test::kTcpAck;
using hoshino::test::tcp_packet;

TEST_CASE("Node address from ULA prefix and machine-id", "[ipv6]") {
  auto prefix = parse_ula_prefix("fd5e:59b8:f71d:9a3e::/64");
  REQUIRE(prefix);
  auto id = interface_id_from_machine_id("a1a1a1a1a1a1a1a1b2b2b2b2b2b2b2b2\n");
  REQUIRE(id);
  CHECK(prefix->with(*id).str() == "fd5e:59b8:f71d:9a3e:a1a1:a1a1:a1a1:a1a1");
  CHECK(prefix->str() == "fd5e:59b8:f71d:9a3e::/64");
  CHECK(prefix->with(*id).hex() == "fd5e59b8f71d9a3ea1a1a1a1a1a1a1a1");
}

TEST_CASE("ULA prefix validation", "[ipv6]") {
  CHECK(parse_ula_prefix("fd5e::/64"));
  CHECK(parse_ula_prefix("fc00:1:2:3::/64"));
  CHECK_FALSE(parse_ula_prefix("fd5e::/48"));          // not a /64
  CHECK_FALSE(parse_ula_prefix("fd5e::"));             // no length
  CHECK_FALSE(parse_ula_prefix("2001:db8::/64"));      // not in fc00::/7
  CHECK_FALSE(parse_ula_prefix("fd5e::1/64"));         // host bits
  CHECK_FALSE(parse_ula_prefix("nonsense/64"));
  CHECK(parse_ula_prefix("2001:db8::/64").error().find("fc00::/7") != std::string::npos);
}

TEST_CASE("machine-id validation", "[ipv6]") {
  CHECK_FALSE(interface_id_from_machine_id(""));
  CHECK_FALSE(interface_id_from_machine_id("a1a1"));
  CHECK_FALSE(interface_id_from_machine_id("z1a1a1a1a1a1a1a1b2b2b2b2b2b2b2b2"));
  CHECK_FALSE(interface_id_from_machine_id("a1a1a1a1a1a1a1a1b2b2b2b2b2b2b2b2b2"));
}

TEST_CASE("Address hex round trip is lower case only", "[ipv6]") {
  auto a = addr("fd5e::1:2");
  CHECK(Address::from_hex(a.hex()) == a);
  CHECK_FALSE(Address::from_hex("FD5E0000000000000000000000010002"));
  CHECK_FALSE(Address::from_hex("fd5e"));
  CHECK_FALSE(Address::from_hex("fd5e000000000000000000000001000g"));
}

TEST_CASE("IPv6 header parsing", "[ipv6]") {
  auto src = addr("fd5e::1"), dst = addr("fd5e::2");
  auto p = ipv6_packet(src, dst, "hello", 58);
  auto h = parse_ipv6(p);
  REQUIRE(h);
  CHECK(h->src == src);
  CHECK(h->dst == dst);
  CHECK(h->next_header == 58);
  CHECK(h->payload_length == 5);

  CHECK(parse_ipv6("").error() == PacketError::too_short);
  CHECK(parse_ipv6(std::string("\x45\x00", 2)).error() == PacketError::not_ipv6); // IPv4
  CHECK(parse_ipv6(p.substr(0, 39)).error() == PacketError::too_short);
  CHECK(parse_ipv6(p + "x").error() == PacketError::length_mismatch);
  CHECK(parse_ipv6(p.substr(0, p.size() - 1)).error() == PacketError::length_mismatch);
}

TEST_CASE("Egress classification", "[ipv6]") {
  auto prefix = *parse_ula_prefix("fd5e::/64");
  auto self = addr("fd5e::1");
  auto peer = addr("fd5e::2");
  CHECK_FALSE(classify_egress(ipv6_packet(self, peer, "x"), prefix, self).ignore);
  CHECK(classify_egress(ipv6_packet(self, peer, "x"), prefix, self).view.dst == peer);
  CHECK(classify_egress(ipv6_packet(self, self, "x"), prefix, self).ignore == IgnoreReason::to_self);
  CHECK(classify_egress(ipv6_packet(self, addr("ff02::16"), "x"), prefix, self).ignore == IgnoreReason::multicast);
  CHECK(classify_egress(ipv6_packet(self, addr("fd5f::2"), "x"), prefix, self).ignore == IgnoreReason::outside_prefix);
  CHECK(classify_egress(std::string("\x45\x00\x00\x14", 4), prefix, self).ignore == IgnoreReason::not_ipv6);
  CHECK(classify_egress(ipv6_packet(self, peer, "x") + "junk", prefix, self).ignore == IgnoreReason::malformed);
}

TEST_CASE("Egress reads a packet once: the view carries what the directory, ICMPv6 and the bundler need", "[ipv6]") {
  auto prefix = *parse_ula_prefix("fd5e::/64");
  auto self = addr("fd5e::1");
  auto peer = addr("fd5e::2");
  auto ack = classify_egress(tcp_packet(self, peer, kTcpAck), prefix, self);
  CHECK_FALSE(ack.ignore);
  CHECK(ack.view.src == self);
  CHECK(ack.view.dst == peer);
  CHECK(ack.view.pure_tcp_ack);
  CHECK_FALSE(ack.view.icmpv6_error);
  CHECK_FALSE(classify_egress(tcp_packet(self, peer, kTcpAck, "data"), prefix, self).view.pure_tcp_ack);
  auto error = ipv6_packet(self, peer, std::string(8, '\0'), 58);
  error[40] = 1; // Destination Unreachable
  CHECK(classify_egress(error, prefix, self).view.icmpv6_error);
  auto echo = ipv6_packet(self, peer, std::string(8, '\0'), 58);
  echo[40] = static_cast<char>(128);
  CHECK_FALSE(classify_egress(echo, prefix, self).view.icmpv6_error); // informational: may be answered
  CHECK(view_of(error));
  CHECK_FALSE(view_of("not a packet"));
}

TEST_CASE("Pure TCP ACKs are told from everything else", "[ipv6][ack]") {
  auto a = addr("fd5e::1"), b = addr("fd5e::2");
  CHECK(is_pure_tcp_ack(tcp_packet(a, b, kTcpAck)));
  CHECK_FALSE(is_pure_tcp_ack(tcp_packet(a, b, kTcpAck, "x")));          // carries data
  CHECK_FALSE(is_pure_tcp_ack(tcp_packet(a, b, kTcpAck | 0x02)));         // SYN-ACK
  CHECK_FALSE(is_pure_tcp_ack(tcp_packet(a, b, kTcpAck | 0x01)));         // FIN
  CHECK_FALSE(is_pure_tcp_ack(tcp_packet(a, b, kTcpAck | 0x04)));         // RST
  CHECK_FALSE(is_pure_tcp_ack(tcp_packet(a, b, 0x00)));                   // no ACK flag
  CHECK_FALSE(is_pure_tcp_ack(ipv6_packet(a, b, std::string(20, '\0'), 17))); // UDP
  CHECK_FALSE(is_pure_tcp_ack(ipv6_packet(a, b, std::string(20, '\0'), 0)));  // an extension header first
  // Options make the header longer than 20 bytes: still a pure ACK when the data offset says so.
  auto with_options = tcp_packet(a, b, kTcpAck, std::string(12, '\1'));
  with_options[40 + 12] = static_cast<char>(0x80); // 8 words = 32 bytes
  CHECK(is_pure_tcp_ack(with_options));
  // Malformed: a data offset below 5 words, or past the end of the packet; a TCP header cut short.
  auto short_offset = tcp_packet(a, b, kTcpAck);
  short_offset[40 + 12] = static_cast<char>(0x40);
  CHECK_FALSE(is_pure_tcp_ack(short_offset));
  auto long_offset = tcp_packet(a, b, kTcpAck);
  long_offset[40 + 12] = static_cast<char>(0xf0);
  CHECK_FALSE(is_pure_tcp_ack(long_offset));
  CHECK_FALSE(is_pure_tcp_ack(ipv6_packet(a, b, std::string(10, '\0'), 6)));
  auto truncated = tcp_packet(a, b, kTcpAck);
  truncated.pop_back(); // the IPv6 payload length no longer matches
  CHECK_FALSE(is_pure_tcp_ack(truncated));
}

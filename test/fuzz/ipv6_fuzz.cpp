// libFuzzer target: IPv6 header parsing and egress classification.
#include "core/ipv6.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view packet(reinterpret_cast<const char*>(data), size);
  auto h = hoshino::core::parse_ipv6(packet);
  if (h && 40u + h->payload_length != size) std::abort();
  static const auto prefix = *hoshino::core::parse_ula_prefix("fd5e::/64");
  static const auto self = *hoshino::core::Address::parse("fd5e::1");
  auto d = hoshino::core::classify_egress(packet, prefix, self);
  if (!d.ignore && (!h || !prefix.contains(d.view.dst) || d.view.dst == self)) std::abort();
  if (!d.ignore && d.view.pure_tcp_ack != hoshino::core::is_pure_tcp_ack(packet)) std::abort();
  // Text inputs: prefixes and machine-ids must never crash either.
  (void)hoshino::core::parse_ula_prefix(packet);
  (void)hoshino::core::interface_id_from_machine_id(packet);
  return 0;
}

#pragma once
// The object body: a bundle of IPv6 packets in the order they were sent.
//
//   offset  size  field
//   0       4     magic "HSNB" (0x48 0x53 0x4e 0x42; its first nibble, 4, can never start an IPv6 packet)
//   4       1     version, 1
//   5       1     flags, 0 (others are rejected until a version defines them)
//   6       2     packet count N, big-endian, >= 1
//   8       ...   N times: length L (2 bytes, big-endian, >= 1), then L bytes of packet
//
// Nothing may follow the last packet. Readers also accept a body that is one bare IPv6 packet (the
// original one-packet-per-object form), recognised by its version nibble 6 and exact length.
#include "core/ipv6.hpp"

#include <string_view>
#include <vector>

namespace hoshino::core {

inline constexpr std::string_view kBundleMagic = "HSNB";
inline constexpr std::uint8_t kBundleVersion = 1;
inline constexpr std::size_t kBundleHeaderSize = 8;
inline constexpr std::size_t kMaxPacketSize = 65535;

enum class BundleError { empty, bad_magic, bad_version, bad_flags, truncated, bad_length, trailing_bytes, bad_packet };
std::string_view to_string(BundleError e);

// Size of the encoded bundle for packets totalling `payload` bytes in `count` packets.
constexpr std::size_t bundle_size(std::size_t count, std::size_t payload) {
  return kBundleHeaderSize + 2 * count + payload;
}

// Packets must be 1..65535 bytes; at most 65535 packets.
Bytes encode_bundle(const std::vector<Bytes>& packets);
Result<std::vector<Bytes>, BundleError> decode_body(std::string_view body);

} // namespace hoshino::core

#pragma once
// The object body: a bundle of IPv6 packets in the order they were sent.
//
//   offset  size  field
//   0       4     magic "HSNB" (0x48 0x53 0x4e 0x42; its first nibble, 4, can never start an IPv6 packet)
//   4       1     version, 1
//   5       1     flags: bit 0 "after", bit 1 "next" (below); other bits are rejected until defined
//   6       2     packet count N, big-endian, >= 1
//  [8       16    after: the ULID of the sender's previous object to this destination, present with
//                 flag bit 0. That object's PUT was still in flight when this one started, so it may
//                 become visible later; the receiver holds this one back for it (briefly).]
//  [+0      16    next: the ULID the sender's next object to this destination will have, present with
//                 flag bit 1 (after "after" when both are set). The receiver may poll that exact key
//                 with GET (far cheaper than LIST) instead of listing its inbox. See core/chain.hpp.]
//   8..40   ...   N times: length L (2 bytes, big-endian, >= 1), then L bytes of packet
//
// Nothing may follow the last packet. Readers also accept a body that is one bare IPv6 packet (the
// original one-packet-per-object form), recognised by its version nibble 6 and exact length.
#include "core/ipv6.hpp"
#include "core/ulid.hpp"

#include <optional>

#include <string_view>
#include <vector>

namespace hoshino::core {

inline constexpr std::string_view kBundleMagic = "HSNB";
inline constexpr std::uint8_t kBundleVersion = 1;
inline constexpr std::size_t kBundleHeaderSize = 8;
inline constexpr std::size_t kMaxPacketSize = 65535;
inline constexpr std::uint8_t kBundleFlagAfter = 0x01;
inline constexpr std::uint8_t kBundleFlagNext = 0x02;

// A decoded body.
struct Bundle {
  std::vector<Bytes> packets;
  std::optional<Ulid> after; // deliver only after this object of the same sender (or once it is overdue)
  std::optional<Ulid> next;  // the key the sender's next object will have
  bool operator==(const Bundle&) const = default;
};

enum class BundleError { empty, bad_magic, bad_version, bad_flags, truncated, bad_length, trailing_bytes, bad_packet };
std::string_view to_string(BundleError e);

// Size of the encoded bundle for packets totalling `payload` bytes in `count` packets.
constexpr std::size_t bundle_size(std::size_t count, std::size_t payload, bool after = false, bool next = false) {
  return kBundleHeaderSize + (after ? 16 : 0) + (next ? 16 : 0) + 2 * count + payload;
}

// Packets must be 1..65535 bytes; at most 65535 packets.
Bytes encode_bundle(const std::vector<Bytes>& packets, const std::optional<Ulid>& after = {},
                    const std::optional<Ulid>& next = {});
Result<Bundle, BundleError> decode_body(std::string_view body);

} // namespace hoshino::core

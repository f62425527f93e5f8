#include "core/bundle.hpp"

#include <algorithm>
#include <cassert>

namespace hoshino::core {

std::string_view to_string(BundleError e) {
  switch (e) {
    case BundleError::empty: return "empty";
    case BundleError::bad_magic: return "bad_magic";
    case BundleError::bad_version: return "bad_version";
    case BundleError::bad_flags: return "bad_flags";
    case BundleError::truncated: return "truncated";
    case BundleError::bad_length: return "bad_length";
    case BundleError::trailing_bytes: return "trailing_bytes";
    case BundleError::bad_packet: return "bad_packet";
  }
  return "unknown";
}

Bytes encode_bundle(const std::vector<Bytes>& packets, const std::optional<Ulid>& after,
                    const std::optional<Ulid>& next) {
  assert(!packets.empty() && packets.size() <= 65535);
  std::size_t payload = 0;
  for (const auto& p : packets) payload += p.size();
  Bytes out;
  out.reserve(bundle_size(packets.size(), payload, after.has_value(), next.has_value()));
  out.append(kBundleMagic);
  out.push_back(static_cast<char>(kBundleVersion));
  out.push_back(static_cast<char>((after ? kBundleFlagAfter : 0) | (next ? kBundleFlagNext : 0)));
  out.push_back(static_cast<char>(packets.size() >> 8));
  out.push_back(static_cast<char>(packets.size() & 0xff));
  for (const auto* id : {&after, &next})
    if (*id) out.append(reinterpret_cast<const char*>((*id)->bytes.data()), (*id)->bytes.size());
  for (const auto& p : packets) {
    assert(!p.empty() && p.size() <= kMaxPacketSize);
    out.push_back(static_cast<char>(p.size() >> 8));
    out.push_back(static_cast<char>(p.size() & 0xff));
    out.append(p);
  }
  return out;
}

Result<Bundle, BundleError> decode_body(std::string_view body) {
  if (body.empty()) return BundleError::empty;
  auto u = [&](std::size_t i) { return static_cast<std::uint8_t>(body[i]); };
  Bundle out;
  if (u(0) >> 4 == 6) {
    // The original form: one bare IPv6 packet.
    if (!parse_ipv6(body)) return BundleError::bad_packet;
    out.packets.emplace_back(body);
    return out;
  }
  if (body.size() < kBundleHeaderSize) return BundleError::truncated;
  if (body.substr(0, 4) != kBundleMagic) return BundleError::bad_magic;
  if (u(4) != kBundleVersion) return BundleError::bad_version;
  if ((u(5) & ~(kBundleFlagAfter | kBundleFlagNext)) != 0) return BundleError::bad_flags;
  std::size_t count = u(6) << 8 | u(7);
  if (count == 0) return BundleError::bad_length;
  std::size_t off = kBundleHeaderSize;
  for (auto [flag, field] : {std::pair{kBundleFlagAfter, &out.after}, std::pair{kBundleFlagNext, &out.next}}) {
    if (!(u(5) & flag)) continue;
    if (body.size() < off + 16) return BundleError::truncated;
    Ulid id;
    std::copy_n(body.data() + off, 16, reinterpret_cast<char*>(id.bytes.data()));
    *field = id;
    off += 16;
  }
  // Each packet takes at least 3 bytes: reject impossible counts before reserving memory for them.
  if (count > (body.size() - off) / 3) return BundleError::truncated;
  auto& packets = out.packets;
  packets.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    if (off + 2 > body.size()) return BundleError::truncated;
    std::size_t len = u(off) << 8 | u(off + 1);
    off += 2;
    if (len == 0) return BundleError::bad_length;
    if (off + len > body.size()) return BundleError::truncated;
    packets.emplace_back(body.substr(off, len));
    off += len;
  }
  if (off != body.size()) return BundleError::trailing_bytes;
  return out;
}

} // namespace hoshino::core

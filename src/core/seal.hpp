#pragma once
// Optional end-to-end protection of object bodies with a key shared by the nodes (--psk-file).
//
//   offset  size  field
//   0       4     magic "HSNE" (0x48 0x53 0x4e 0x45)
//   4       1     version, 1
//   5       12    nonce, random per object
//   17      N     ChaCha20-Poly1305 ciphertext of the plain body (a bundle)
//   17+N    16    Poly1305 tag
//
// The associated data is the object key (<prefix>/<dst>/<src>/<ulid>): a bucket reader learns nothing
// of the packets, and a writer without the key can neither forge objects nor move a sealed one to
// another inbox, sender or ULID. Replaying an object under its own key is refused by the inbox (keys
// already consumed are skipped; older ones exceed the maximum age).
#include "core/ipv6.hpp"

#include <array>
#include <cstdint>
#include <string_view>

namespace hoshino::core {

using Psk = std::array<std::uint8_t, 32>;
using Nonce = std::array<std::uint8_t, 12>;

inline constexpr std::string_view kSealMagic = "HSNE";
inline constexpr std::size_t kSealOverhead = 4 + 1 + 12 + 16;

// The key file holds 32 raw bytes, or 64 hex digits (as `openssl rand -hex 32` writes them).
Result<Psk, std::string> parse_psk(std::string_view file_content);

enum class SealError { not_sealed, truncated, bad_version, auth_failed };
std::string_view to_string(SealError e);

bool is_sealed(std::string_view body) noexcept;
Bytes seal(const Psk& key, std::string_view associated, std::string_view plain, const Nonce& nonce);
Result<Bytes, SealError> open_sealed(const Psk& key, std::string_view associated, std::string_view body);
// A fresh random nonce (OpenSSL's CSPRNG).
Nonce random_nonce();

} // namespace hoshino::core

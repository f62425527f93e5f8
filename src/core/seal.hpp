#pragma once
// End-to-end protection of object bodies: with the key of the pair of nodes (core/identity.hpp, the
// default), or with a key shared by all nodes (--psk-file alone, kept for tests and old setups).
//
//   offset  size  field
//   0       4     magic "HSNE" (0x48 0x53 0x4e 0x45)
//   4       1     version, 2
//   5       4     sender's key id (core/identity.hpp: which of its keys; 0 with a shared key), big-endian
//   9       4     receiver's key id, likewise
//   13      12    nonce, random per object
//   25      N     ChaCha20-Poly1305 ciphertext of the plain body (a bundle)
//   25+N    16    Poly1305 tag
//
// The associated data is the object key (<prefix>/<dst>/<src>/<ulid>) and the 25 header bytes: a bucket
// reader learns nothing of the packets, and a writer without the key can neither forge objects nor move
// a sealed one to another inbox, sender or ULID. Replaying an object under its own key is refused by the
// inbox (core/replay.hpp).
//
// Nonces: pair keys live long and a fleet seals many objects under them, so a random 96-bit nonce alone
// would have a birthday bound across the fleet. Each object is therefore sealed under its own subkey,
// HMAC-SHA256(key, "hoshino object v2" | object key): the key names dst, src and a ULID that the sender
// never reuses (48-bit time, 80 random bits), so a (subkey, nonce) pair never repeats even if a nonce
// did (the XChaCha20 construction's idea, with what OpenSSL 3.0 offers). The random nonce is kept as a
// second line of defence.
#include "core/ipv6.hpp"

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string_view>

namespace hoshino::core {

using Psk = std::array<std::uint8_t, 32>;
using Nonce = std::array<std::uint8_t, 12>;
using KeyId = std::uint32_t;

// Which keys sealed an object (0 and 0 with a shared key).
struct SealIds {
  KeyId sender = 0;
  KeyId receiver = 0;
  auto operator<=>(const SealIds&) const = default;
};

inline constexpr std::string_view kSealMagic = "HSNE";
inline constexpr std::size_t kSealOverhead = 4 + 1 + 4 + 4 + 12 + 16;

// The key file holds 32 raw bytes, or 64 hex digits (as `openssl rand -hex 32` writes them).
Result<Psk, std::string> parse_psk(std::string_view file_content);

enum class SealError { not_sealed, truncated, bad_version, auth_failed };
std::string_view to_string(SealError e);

bool is_sealed(std::string_view body) noexcept;
// The key ids of a sealed body (nullopt: not a sealed body of this version, or too short).
std::optional<SealIds> sealed_ids(std::string_view body) noexcept;
Bytes seal(const Psk& key, std::string_view associated, std::string_view plain, const Nonce& nonce, SealIds ids = {});
Result<Bytes, SealError> open_sealed(const Psk& key, std::string_view associated, std::string_view body);
// A fresh random nonce (OpenSSL's CSPRNG).
Nonce random_nonce();

} // namespace hoshino::core

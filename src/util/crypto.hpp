#pragma once
// Hashes and MACs the S3 protocol needs (SigV4, Content-MD5), over OpenSSL's libcrypto.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace hoshino::crypto {

using Sha256 = std::array<std::uint8_t, 32>;
using Md5 = std::array<std::uint8_t, 16>;

Sha256 sha256(std::span<const std::uint8_t> data);
Sha256 sha256(std::string_view data);
Sha256 hmac_sha256(std::span<const std::uint8_t> key, std::string_view data);
Md5 md5(std::span<const std::uint8_t> data);

std::string hex(std::span<const std::uint8_t> bytes);
// 64 bits from OpenSSL's CSPRNG (ULIDs' random parts: announced keys must not be guessable).
std::uint64_t random64();
std::string base64(std::span<const std::uint8_t> bytes);

inline std::span<const std::uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

} // namespace hoshino::crypto

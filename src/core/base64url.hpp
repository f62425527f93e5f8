#pragma once
// base64url without padding (RFC 4648 §5): the key-safe text form of packets inlined in object keys.
// Its alphabet (A-Z a-z 0-9 - _) is in S3's "safe characters" set, so keys need no escaping anywhere.
#include <optional>
#include <string>
#include <string_view>

namespace hoshino::core {

std::string base64url_encode(std::string_view bytes);
// Strict: only the alphabet, no padding, no length that encodes a partial byte, and unused low bits of
// the last character must be zero, so every byte string has exactly one text form (keys compare as text).
std::optional<std::string> base64url_decode(std::string_view text);
constexpr std::size_t base64url_size(std::size_t bytes) { return bytes / 3 * 4 + (bytes % 3 ? bytes % 3 + 1 : 0); }
// The most bytes whose encoding fits in `chars` characters.
constexpr std::size_t base64url_capacity(std::size_t chars) {
  return chars / 4 * 3 + (chars % 4 >= 2 ? chars % 4 - 1 : 0);
}

} // namespace hoshino::core

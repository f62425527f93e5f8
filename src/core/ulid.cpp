#include "core/ulid.hpp"

namespace hoshino::core {
namespace {

// 128-bit arithmetic keeps base32 conversion a simple shift loop (a GCC/Clang extension).
__extension__ typedef unsigned __int128 u128;

constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

int decode_char(char c) {
  for (int i = 0; i < 32; ++i)
    if (kAlphabet[i] == c) return i;
  return -1;
}

} // namespace

std::uint64_t Ulid::time_ms() const noexcept {
  std::uint64_t t = 0;
  for (int i = 0; i < 6; ++i) t = t << 8 | bytes[i];
  return t;
}

std::string Ulid::str() const {
  // 128 bits as 26 base32 digits: the first digit carries the top 3 bits (130 = 26 * 5).
  std::string s(26, '0');
  u128 v = 0;
  for (auto b : bytes) v = v << 8 | b;
  for (int i = 25; i >= 0; --i) {
    s[static_cast<std::size_t>(i)] = kAlphabet[static_cast<unsigned>(v & 31)];
    v >>= 5;
  }
  return s;
}

std::optional<Ulid> Ulid::parse(std::string_view text) {
  if (text.size() != 26) return std::nullopt;
  u128 v = 0;
  for (std::size_t i = 0; i < 26; ++i) {
    int d = decode_char(text[i]);
    if (d < 0 || (i == 0 && d > 7)) return std::nullopt; // > 7 would overflow 128 bits
    v = v << 5 | static_cast<unsigned>(d);
  }
  Ulid u;
  for (int i = 15; i >= 0; --i) {
    u.bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v & 0xff);
    v >>= 8;
  }
  return u;
}

UlidGenerator::UlidGenerator(std::function<std::uint64_t()> random64, std::uint64_t max_ahead_ms)
    : random64_(std::move(random64)), max_ahead_ms_(max_ahead_ms) {}

Ulid UlidGenerator::next(std::uint64_t now_ms) {
  if (last_ && max_ahead_ms_ != 0 && last_->time_ms() > now_ms + max_ahead_ms_) {
    last_.reset();
    ++restarts_;
  }
  if (last_ && now_ms <= last_->time_ms()) {
    // Add a random 32-bit step to the 80-bit random part: still in order, but the next ULID cannot be
    // guessed from this one (an announced successor's key must not be squattable). On overflow of
    // the headroom (astronomically unlikely), move to the next ms.
    Ulid u = *last_;
    std::uint64_t carry = (random64_() >> 32) + 1;
    for (int i = 15; i >= 6 && carry != 0; --i) {
      carry += u.bytes[static_cast<std::size_t>(i)];
      u.bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(carry & 0xff);
      carry >>= 8;
    }
    if (carry == 0 && !(u.bytes[6] & 0x80)) {
      last_ = u;
      return u;
    }
    now_ms = last_->time_ms() + 1;
  }
  Ulid u;
  now_ms &= 0xffffffffffffULL;
  for (int i = 5; i >= 0; --i) {
    u.bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(now_ms & 0xff);
    now_ms >>= 8;
  }
  std::uint64_t r1 = random64_(), r2 = random64_();
  for (int i = 0; i < 8; ++i) u.bytes[6 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(r1 >> (8 * i));
  for (int i = 0; i < 2; ++i) u.bytes[14 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(r2 >> (8 * i));
  // Leave headroom so increments within one millisecond cannot overflow in practice.
  u.bytes[6] &= 0x7f;
  last_ = u;
  return u;
}

} // namespace hoshino::core

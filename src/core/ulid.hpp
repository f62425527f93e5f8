#pragma once
// ULIDs (26 Crockford base32 characters: 48-bit millisecond time, 80 random bits). Their text sorts in
// time order, which is how an inbox orders one sender's objects.
#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace hoshino::core {

struct Ulid {
  std::array<std::uint8_t, 16> bytes{};

  std::uint64_t time_ms() const noexcept;
  std::string str() const;
  // Canonical upper-case form only: one spelling per ULID.
  static std::optional<Ulid> parse(std::string_view text);
  auto operator<=>(const Ulid&) const = default;
};

// Monotonic within the process: a second ULID in the same millisecond (or after the clock stepped
// back) is the previous one plus a random step, so the order of generation is the order of the keys.
// Where keys must not be guessed, random64 is a cryptographic source (crypto::random64).
class UlidGenerator {
public:
  // max_ahead_ms (0: no bound): ULIDs are monotonic, so after the clock steps back (a correction from a
  // bad Date undone, an NTP step) they would stay ahead of it, and receivers refuse objects dated too far
  // ahead. Beyond this, the generator starts again from now.
  explicit UlidGenerator(std::function<std::uint64_t()> random64, std::uint64_t max_ahead_ms = 0);
  Ulid next(std::uint64_t now_ms);
  std::uint64_t restarts() const noexcept { return restarts_; } // times it was ahead by more than max_ahead_ms

private:
  std::function<std::uint64_t()> random64_;
  std::uint64_t max_ahead_ms_;
  std::uint64_t restarts_ = 0;
  std::optional<Ulid> last_;
};

} // namespace hoshino::core

#pragma once
// Milliseconds since the epoch on this machine's clock: what ULIDs carry and what S3's Date is compared
// with. (Durations use hoshino::Clock; this is only for instants shared with other machines.) Under a
// TimeSource installed (util/clock.hpp) it moves with that source's time.
#include "util/clock.hpp"

#include <chrono>
#include <cstdint>

namespace hoshino {

inline std::uint64_t wall_ms() {
  using namespace std::chrono;
  if (auto* source = Clock::source()) return source->wall_ms();
  return static_cast<std::uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

} // namespace hoshino

#pragma once
// Milliseconds since the epoch on this machine's clock: what ULIDs carry and what S3's Date is compared
// with. (Durations use steady_clock; this is only for instants shared with other machines.)
#include <chrono>
#include <cstdint>

namespace hoshino {

inline std::uint64_t wall_ms() {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

} // namespace hoshino

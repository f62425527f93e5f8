#pragma once
// The node's monotonic clock: steady_clock, unless a TimeSource is installed. Everything that measures
// durations or arms timers in the node, the cores' schedules and the in-memory fakes reads this clock,
// so a program that installs its own source (the in-process node tests install virtual time,
// test/support/virtual_time.hpp) decides what time it is. (asio timers of this clock: util/timer.hpp;
// the wall clock: util/wall_clock.hpp. The HTTP layer keeps real time: it talks to real sockets.)
#include <chrono>
#include <cstdint>

namespace hoshino {

class TimeSource;
struct Clock;

struct Clock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<Clock>;
  static constexpr bool is_steady = true;

  static time_point now() noexcept;

  // The source now() reads from here on; nullptr: the machine's clocks again.
  static void install(TimeSource* source) noexcept { source_ = source; }
  static TimeSource* source() noexcept { return source_; }

private:
  static inline TimeSource* source_ = nullptr;
};

// Where the time comes from when it is not the machine's clocks.
class TimeSource {
public:
  virtual ~TimeSource() = default;
  virtual Clock::time_point now() noexcept = 0;
  // Milliseconds since the epoch, moving with now().
  virtual std::uint64_t wall_ms() noexcept = 0;
  // asio asks how long to wait for its earliest timer (due `d` from now); the answer is what it waits.
  virtual Clock::duration wait_for(Clock::duration d) noexcept = 0;
};

// The one duration type of the project's settings and schedules (flags, configs, timers, backoffs). The
// inbox's ages are whole milliseconds of ULID time (wall clock) instead: they compare with ULIDs.
using Duration = Clock::duration;

inline Clock::time_point Clock::now() noexcept {
  if (source_) return source_->now();
  return time_point(std::chrono::duration_cast<duration>(std::chrono::steady_clock::now().time_since_epoch()));
}

} // namespace hoshino

#pragma once
// The node's monotonic clock: steady_clock, unless a test drives the time itself
// (test/support/virtual_time.hpp). Everything that measures durations or arms timers in the node, the
// core's schedules and the in-memory fakes reads this clock, so the in-process node tests run on
// virtual time: deterministic, and independent of how fast or loaded the machine is.
// (asio timers of this clock: util/timer.hpp. The HTTP layer keeps real time: it talks to real sockets.)
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <utility>

namespace hoshino {

struct Clock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<Clock>;
  static constexpr bool is_steady = true;

  static time_point now() noexcept {
    if (virtual_now_) return *virtual_now_;
    return time_point(std::chrono::duration_cast<duration>(std::chrono::steady_clock::now().time_since_epoch()));
  }
  // Tests only: while set, now() reads *now and the wall clock (util/wall_clock.hpp) moves with it from
  // wall_ms at the instant *now had when this was called. nullptr: real time again.
  static void drive(time_point* now, std::uint64_t wall_ms = 0) noexcept {
    virtual_now_ = now;
    if (now) virtual_wall_base_ms_ = wall_ms - static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(now->time_since_epoch()).count());
  }
  static bool is_virtual() noexcept { return virtual_now_ != nullptr; }
  static std::uint64_t virtual_wall_ms() noexcept {
    return virtual_wall_base_ms_ + static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(virtual_now_->time_since_epoch()).count());
  }
  // Under virtual time, asio's wait for its earliest Timer (util/timer.hpp) does not sleep: time moves
  // to that timer at once, but never past the limit the test's driver set.
  static void pass(duration d) noexcept {
    if (virtual_now_ && d > duration::zero()) *virtual_now_ = std::min(*virtual_now_ + d, std::max(*virtual_now_, limit_));
  }
  static void limit(time_point t) noexcept { limit_ = t; }

private:
  static inline time_point* virtual_now_ = nullptr;
  static inline std::uint64_t virtual_wall_base_ms_ = 0;
  static inline time_point limit_{};
};

} // namespace hoshino

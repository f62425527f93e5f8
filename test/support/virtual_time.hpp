#pragma once
// Virtual time for the in-process node tests. While a VirtualTime lives, hoshino::Clock (and so every
// Timer, the node's schedules and wall_ms()) reads it instead of the machine's clocks. run_until() runs
// the handlers that are ready and, only when none is, moves time on to the next timer: what happens depends
// on the order of events, never on how fast or loaded the machine is, and a test that waits for 10 s
// of node time takes a fraction of a second. (Time moves straight to the earliest Timer, util/timer.hpp.)
#include "util/timer.hpp"

#include <asio/io_context.hpp>

#include <cassert>
#include <chrono>
#include <cstdint>
#include <functional>

namespace hoshino::test {

class VirtualTime {
public:
  VirtualTime() {
    assert(!current_ && "one VirtualTime at a time");
    using namespace std::chrono;
    auto wall = static_cast<std::uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
    Clock::drive(&now_, wall);
    current_ = this;
  }
  ~VirtualTime() {
    Clock::drive(nullptr);
    current_ = nullptr;
  }
  VirtualTime(const VirtualTime&) = delete;
  VirtualTime& operator=(const VirtualTime&) = delete;

  Clock::time_point now() const noexcept { return now_; }
  static VirtualTime& current() {
    assert(current_ && "a test that runs nodes needs a VirtualTime");
    return *current_;
  }

  // Runs io until pred() holds or `limit` of virtual time has passed; returns pred().
  bool run_until(asio::io_context& io, const std::function<bool()>& pred, std::chrono::nanoseconds limit) {
    auto deadline = now_ + limit;
    // A timer at the deadline: asio always has a timer to wait for, so its wait moves time (to the
    // earliest timer, util/timer.hpp) instead of sleeping.
    Timer sentinel(io, deadline);
    sentinel.async_wait([](const std::error_code&) {});
    Clock::limit(deadline);
    std::uint64_t turns = 0; // handlers run without time passing: a spin fails the test, not hangs it
    while (!pred()) {
      if (io.stopped()) io.restart();
      if (io.poll() > 0) {
        if (++turns > 10'000'000) break;
        continue;
      }
      turns = 0;
      if (now_ >= deadline) break;
      io.run_one_until(deadline); // time moves to the earliest timer, which then runs
    }
    sentinel.cancel();
    io.poll();
    return pred();
  }

private:
  Clock::time_point now_{std::chrono::hours(1)};
  static inline VirtualTime* current_ = nullptr;
};

} // namespace hoshino::test

#pragma once
// Virtual time for the in-process node tests. While a VirtualTime lives it is hoshino::Clock's TimeSource
// (util/clock.hpp): every Timer, the node's schedules and wall_ms() read it instead of the machine's
// clocks. run_until() runs the handlers that are ready and, only when none is, moves time on to the next
// timer: what happens depends on the order of events, never on how fast or loaded the machine is, and a
// test that waits for 10 s of node time takes a fraction of a second. The tests run the product's own
// build, reactor included (epoll with its timerfd).
#include "util/timer.hpp"

#include <asio/io_context.hpp>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

namespace hoshino::test {

class VirtualTime final : public TimeSource {
public:
  VirtualTime() {
    assert(!current_ && "one VirtualTime at a time");
    using namespace std::chrono;
    auto wall = static_cast<std::uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
    wall_base_ms_ = wall - static_cast<std::uint64_t>(duration_cast<milliseconds>(now_.time_since_epoch()).count());
    Clock::install(this);
    current_ = this;
  }
  ~VirtualTime() override {
    Clock::install(nullptr);
    current_ = nullptr;
  }
  VirtualTime(const VirtualTime&) = delete;
  VirtualTime& operator=(const VirtualTime&) = delete;

  Clock::time_point now() noexcept override { return now_; }
  std::uint64_t wall_ms() noexcept override {
    return wall_base_ms_ + static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(now_.time_since_epoch()).count());
  }
  // asio asks how long until its earliest timer whenever it has checked its timers or armed an earlier
  // one. Noted, not waited for: time moves only in run_until, when nothing is left to run now. A timer
  // already due fires at once; for one in the future asio is told an hour (settle's probe has it check
  // its timers instead), so a blocking io.run() under virtual time would wait (support/run.hpp refuses).
  Clock::duration wait_for(Clock::duration d) noexcept override {
    if (d <= Clock::duration::zero()) return Clock::duration::zero();
    if (!next_ || now_ + d < *next_) next_ = now_ + d;
    return std::chrono::hours(1);
  }
  static VirtualTime& current() {
    assert(current_ && "a test that runs nodes needs a VirtualTime");
    return *current_;
  }

  // Runs io until pred() holds or `limit` of virtual time has passed; returns pred().
  bool run_until(asio::io_context& io, const std::function<bool()>& pred, std::chrono::nanoseconds limit) {
    const auto deadline = now_ + limit;
    // A timer at the deadline: time never has to move past it, and there is always a timer to move to.
    Timer sentinel(io, deadline);
    sentinel.async_wait([](const std::error_code&) {});
    std::uint64_t turns = 0; // handlers run without time passing: a spin fails the test, not hangs it
    while (!pred()) {
      if (settle(io) > 0) {
        if (++turns > 10'000'000) break;
        continue;
      }
      turns = 0;
      if (now_ >= deadline) break;
      now_ = std::min(next_.value_or(deadline), deadline); // to the earliest timer; settle() runs it
    }
    sentinel.cancel();
    settle(io);
    return pred();
  }

private:
  // Runs what is ready at this instant, timers due now included, and returns how many handlers ran. A
  // probe timer, earlier than any other, makes asio check its timers (the reactor does so when its
  // timerfd fires, which for a timer already due is at once), so a timer that is due is never mistaken
  // for one in the future; the check also tells wait_for when the next one is due.
  std::size_t settle(asio::io_context& io) {
    if (io.stopped()) io.restart();
    if (const std::size_t ran = io.poll(); ran > 0) return ran; // the cheap way first
    next_.reset();
    Timer probe(io, now_ - Clock::duration(1)); // strictly first: asio re-arms for a new earliest timer
    auto probed = std::make_shared<bool>(false); // (the handler may outlive this frame if io stops)
    probe.async_wait([probed](const std::error_code&) { *probed = true; });
    std::size_t ran = 0;
    while (!*probed) {
      const std::size_t n = io.run_one(); // blocks only until the reactor sees its (expired) timerfd
      if (n == 0) break;                   // stopped: nothing can run the probe
      ran += n;
    }
    ran += io.poll();
    const bool probe_ran = *probed;
    if (!probe_ran) { // stopped before the probe ran: let it go without waiting
      probe.cancel();
      io.restart();
      io.poll();
    }
    return probe_ran && ran > 0 ? ran - 1 : ran; // the probe itself is not work
  }

  Clock::time_point now_{std::chrono::hours(1)};
  std::optional<Clock::time_point> next_;
  std::uint64_t wall_base_ms_ = 0;
  static inline VirtualTime* current_ = nullptr;
};

} // namespace hoshino::test

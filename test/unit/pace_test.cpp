#include "core/pace.hpp"

#include <catch2/catch.hpp>

using namespace hoshino::core;
using namespace std::chrono_literals;

namespace {
PaceConfig config() {
  PaceConfig c;
  c.min = 0ms;
  c.max = 5s;
  c.hold = 2s;
  c.first_step = 10ms;
  c.error_floor = 200ms;
  return c;
}
} // namespace

TEST_CASE("Empty LISTs after the hold time double the interval up to the maximum", "[pace]") {
  Clock::time_point t{};
  Pace h(config(), t);
  CHECK(h.interval() == 0ms);
  t += 1s;
  h.on_inbox_checked(0, t); // within hold: stay fast
  CHECK(h.interval() == 0ms);
  t += 2s;
  h.on_inbox_checked(0, t);
  CHECK(h.interval() == 10ms);
  h.on_inbox_checked(0, t);
  CHECK(h.interval() == 20ms);
  for (int i = 0; i < 20; ++i) h.on_inbox_checked(0, t);
  CHECK(h.interval() == 5s);
}

TEST_CASE("Idle: at most one LIST per 5 s in the steady state", "[pace]") {
  Clock::time_point t{};
  Pace h(config(), t);
  int lists = 0;
  auto end = t + 10min;
  while (t < end) {
    h.on_inbox_checked(0, t);
    t += std::max<Duration>(h.interval(), 1ms) + 3ms; // a LIST takes ~3 ms
    ++lists;
  }
  // Ramp-up costs a few hundred LISTs in the first seconds; after that one per 5 s.
  double per_second_last_minute = 0;
  int before = lists;
  end = t + 1min;
  while (t < end) {
    h.on_inbox_checked(0, t);
    t += h.interval() + 3ms;
    ++lists;
  }
  per_second_last_minute = (lists - before) / 60.0;
  CHECK(per_second_last_minute <= 0.2);
}

TEST_CASE("Objects found or packets sent make polling fast again", "[pace]") {
  Clock::time_point t{};
  Pace h(config(), t);
  t += 10s;
  for (int i = 0; i < 20; ++i) h.on_inbox_checked(0, t);
  REQUIRE(h.interval() == 5s);
  h.on_inbox_checked(3, t);
  CHECK(h.interval() == 0ms);
  t += 10s;
  for (int i = 0; i < 20; ++i) h.on_inbox_checked(0, t);
  REQUIRE(h.interval() == 5s);
  h.on_sent(t); // a reply is likely
  CHECK(h.interval() == 0ms);
  h.on_inbox_checked(0, t + 1s); // inside the hold time
  CHECK(h.interval() == 0ms);
}

TEST_CASE("The A/B alternative: activity halves the interval instead of dropping it", "[pace]") {
  auto c = config();
  c.drop_on_activity = false;
  Clock::time_point t{};
  Pace h(c, t);
  t += 10s;
  for (int i = 0; i < 20; ++i) h.on_inbox_checked(0, t);
  REQUIRE(h.interval() == 5s);
  h.on_sent(t);
  CHECK(h.interval() == 2500ms);
  h.on_inbox_checked(1, t);
  CHECK(h.interval() == 1250ms);
}

TEST_CASE("Errors back off, bounded by the maximum", "[pace]") {
  Clock::time_point t{};
  Pace h(config(), t);
  h.on_error(t);
  CHECK(h.interval() == 200ms);
  h.on_error(t);
  CHECK(h.interval() == 400ms);
  for (int i = 0; i < 10; ++i) h.on_error(t);
  CHECK(h.interval() == 5s);
}

TEST_CASE("Minimum above zero is respected", "[pace]") {
  auto c = config();
  c.min = 50ms;
  c.max = 1s;
  Clock::time_point t{};
  Pace h(c, t);
  CHECK(h.interval() == 50ms);
  t += 3s;
  h.on_inbox_checked(0, t);
  CHECK(h.interval() == 100ms);
  h.on_sent(t);
  CHECK(h.interval() == 50ms);
}

TEST_CASE("A stream of arrivals is polled at the busy pace; a conversation stays at the minimum", "[pace]") {
  auto c = config();
  c.busy = 20ms;
  c.stream_window = 100ms;
  Clock::time_point t{};
  Pace h(c, t);
  // Conversation (ping every 200 ms): a LIST finds the reply, the next ones find nothing.
  for (int i = 0; i < 5; ++i) {
    h.on_sent(t);
    h.on_inbox_checked(1, t += 10ms);
    CHECK(h.interval() == 0ms);
    CHECK(h.conversation());
    h.on_inbox_checked(0, t += 5ms);
    CHECK(h.interval() == 0ms);
    t += 185ms;
  }
  // Stream (bulk): finds close together, with empty LISTs between them.
  h.on_inbox_checked(2, t += 5ms);
  CHECK(h.interval() == 0ms); // one find is not a stream yet
  h.on_inbox_checked(0, t += 5ms);
  h.on_inbox_checked(2, t += 5ms);
  CHECK(h.interval() == 20ms);
  CHECK_FALSE(h.conversation());
  h.on_sent(t); // our ACKs going back do not undo the pace
  CHECK(h.interval() == 20ms);
  h.on_inbox_checked(0, t += 25ms); // an empty LIST inside the stream keeps the pace
  CHECK(h.interval() == 20ms);
  h.on_inbox_checked(3, t += 25ms);
  CHECK(h.interval() == 20ms);
  h.on_inbox_checked(0, t += 150ms); // the stream stopped: fast again, for whatever comes next
  CHECK(h.interval() == 0ms);
  CHECK(h.conversation());
}

TEST_CASE("Without anticipation, sending does not speed polling up", "[pace]") {
  auto c = config();
  c.anticipation = false;
  Clock::time_point t{};
  Pace h(c, t);
  t += 3s;
  h.on_inbox_checked(0, t);
  REQUIRE(h.interval() == 10ms);
  h.on_sent(t);
  CHECK(h.interval() == 10ms);
  h.on_inbox_checked(1, t); // arrivals still do
  CHECK(h.interval() == 0ms);
}

TEST_CASE("A second staggered LIST only for a conversation polled at the minimum", "[pace]") {
  Clock::time_point t{};
  Pace h(config(), t);
  h.on_sent(t);
  CHECK(h.conversation());
  h.on_inbox_checked(1, t);
  h.on_inbox_checked(1, t); // a stream now
  CHECK_FALSE(h.conversation());
  h.on_inbox_checked(0, t += 3s);
  h.on_inbox_checked(0, t += 3s); // idle, slowing down
  CHECK_FALSE(h.conversation());
  auto c = config();
  c.second_list = false; // --experiment no-second-list (and original-design)
  Pace one(c, t);
  one.on_sent(t);
  CHECK_FALSE(one.conversation());
}

#include "core/clock_offset.hpp"

#include <catch2/catch.hpp>

using namespace hoshino::core;

TEST_CASE("HTTP dates parse exactly; anything else is refused", "[clock]") {
  CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777000ULL);
  CHECK(parse_http_date("Mon, 23 Nov 2026 15:16:30 GMT") == 1795446990000ULL);
  CHECK(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT") == 0ULL);
  CHECK_FALSE(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT")); // obsolete RFC 850 form
  CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"));
  CHECK_FALSE(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"));
  CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT"));
  CHECK_FALSE(parse_http_date(""));
}

TEST_CASE("A synced clock is left alone; one two minutes behind is corrected to within a second", "[clock]") {
  constexpr std::uint64_t kServer = 1'700'000'000'000ULL;
  ClockOffset synced;
  for (std::uint64_t i = 0; i < 40; ++i) {
    std::uint64_t s = kServer + i * 137; // the server's time when it answered; Date truncates it
    synced.on_sample(s - 3, s + 2, s / 1000 * 1000);
  }
  CHECK(synced.correction_ms() == 0);
  CHECK(std::abs(synced.estimate_ms()) < 1000);

  ClockOffset behind; // local = server - 120 s
  for (std::uint64_t i = 0; i < 40; ++i) {
    std::uint64_t s = kServer + i * 137;
    behind.on_sample(s - 120'000 - 3, s - 120'000 + 2, s / 1000 * 1000);
  }
  CHECK(behind.correction_ms() > 119'000);
  CHECK(behind.correction_ms() < 121'000);
  CHECK(std::abs(behind.estimate_ms() - 120'000) < 200); // many phases narrow the interval
}

TEST_CASE("A clock that steps starts the estimate over once several answers agree", "[clock]") {
  constexpr std::uint64_t kServer = 1'700'000'000'000ULL;
  ClockOffset c;
  for (std::uint64_t i = 0; i < 20; ++i) {
    std::uint64_t s = kServer + i * 300;
    c.on_sample(s - 1, s + 1, s / 1000 * 1000);
  }
  CHECK(c.correction_ms() == 0);
  // The local clock jumps 30 s ahead (a bad NTP step): the next samples disagree with the old ones.
  for (std::uint64_t k = 0; k < ClockOffset::kAgree; ++k) {
    CHECK(c.correction_ms() == 0); // not on one answer, nor on two
    std::uint64_t s = kServer + (20 + k) * 300;
    c.on_sample(s + 30'000 - 1, s + 30'000 + 1, s / 1000 * 1000);
  }
  CHECK(c.samples() == ClockOffset::kAgree);
  CHECK(c.correction_ms() < -29'000);
  c.on_sample(10, 5, 1000); // answered before it was asked: ignored
  CHECK(c.samples() == ClockOffset::kAgree);
}

TEST_CASE("One bad Date, or bad Dates that disagree with each other, move nothing", "[clock][hostile]") {
  constexpr std::uint64_t kServer = 1'700'000'000'000ULL;
  ClockOffset c;
  auto good = [&](std::uint64_t i) {
    std::uint64_t s = kServer + i * 300;
    c.on_sample(s - 1, s + 1, s / 1000 * 1000);
  };
  for (std::uint64_t i = 0; i < 20; ++i) good(i);
  const auto before = c.estimate_ms();
  // An hour ahead, once, between good answers; then three that each say something else.
  std::uint64_t s = kServer + 20 * 300;
  c.on_sample(s - 1, s + 1, (s + 3'600'000) / 1000 * 1000);
  good(21);
  for (std::int64_t ahead : {3'600'000, -3'600'000, 7'200'000}) {
    std::uint64_t t = kServer + 22 * 300;
    c.on_sample(t - 1, t + 1, static_cast<std::uint64_t>(static_cast<std::int64_t>(t) + ahead) / 1000 * 1000);
  }
  CHECK(c.correction_ms() == 0);
  CHECK(c.estimate_ms() == before);
  CHECK(c.outliers() == 4);
  // A Date years away is no information, however many say so.
  for (int k = 0; k < 5; ++k) c.on_sample(s - 1, s + 1, 1000);
  CHECK(c.correction_ms() == 0);
}

#include "core/backoff.hpp"

#include <catch2/catch.hpp>

using namespace hoshino::core;
using namespace std::chrono_literals;

TEST_CASE("Backoff grows exponentially, is capped, and jitters within half a step", "[backoff]") {
  BackoffConfig c{100ms, 1s};
  CHECK(backoff_delay(c, 1, 0.0) == 50ms);
  CHECK(backoff_delay(c, 1, 0.999999) < 100ms);
  CHECK(backoff_delay(c, 2, 0.0) == 100ms);
  CHECK(backoff_delay(c, 3, 0.0) == 200ms);
  CHECK(backoff_delay(c, 4, 0.5) == 600ms);
  CHECK(backoff_delay(c, 10, 0.0) == 500ms); // capped step of 1 s
  CHECK(backoff_delay(c, 10, 1.0) == 1s);
  CHECK(backoff_delay(c, 1000, 0.3) <= 1s);  // no overflow for large attempts
}

#include "core/previous_keys.hpp"

#include <catch2/catch.hpp>

using namespace hoshino;
using namespace hoshino::core;
using namespace std::chrono_literals;

namespace {
const Clock::time_point t0{std::chrono::hours(1)};
}

TEST_CASE("Previous keys: kept while their record stands, then for the overlap", "[identity][rotate]") {
  PreviousKeys keys(15min);
  auto k1 = generate_key_pair();
  keys.add(k1, "rec-1", t0);
  keys.on_standing({"rec-1"}, t0);
  REQUIRE(keys.sealing());
  CHECK(keys.sealing()->public_key == k1.public_key); // peers know the node by it
  // Its record cannot be removed: an hour later it is still the key peers use, both ways.
  keys.on_standing({"rec-1"}, t0 + 1h);
  CHECK(keys.receiving(key_id(k1.public_key), t0 + 1h));
  CHECK(keys.sealing());
  // Gone: sealed with the current key from now on, and opened for the overlap.
  keys.on_standing({}, t0 + 1h);
  CHECK_FALSE(keys.sealing());
  CHECK(keys.receiving(key_id(k1.public_key), t0 + 1h + 14min));
  CHECK_FALSE(keys.receiving(key_id(k1.public_key), t0 + 1h + 15min));
  keys.on_standing({}, t0 + 2h);
  CHECK(keys.size() == 0);
}

TEST_CASE("Previous keys: two rotations in a row seal with the oldest key still listed", "[identity][rotate]") {
  PreviousKeys keys(15min, 2);
  auto k1 = generate_key_pair(), k2 = generate_key_pair(), k3 = generate_key_pair();
  keys.add(k1, "rec-1", t0);
  keys.add(k2, "rec-2", t0);
  keys.on_standing({"rec-1", "rec-2"}, t0);
  CHECK(keys.sealing()->public_key == k1.public_key);
  CHECK(keys.receiving(key_id(k1.public_key), t0));
  CHECK(keys.receiving(key_id(k2.public_key), t0));
  keys.on_standing({"rec-1"}, t0 + 1s); // the second went first
  CHECK(keys.sealing()->public_key == k1.public_key);
  // A third rotation beyond the bound lets the oldest go (counted).
  keys.add(k3, "rec-3", t0 + 2s);
  CHECK(keys.dropped() == 1);
  CHECK_FALSE(keys.receiving(key_id(k1.public_key), t0 + 2s));
}

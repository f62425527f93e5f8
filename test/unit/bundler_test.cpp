#include "core/bundler.hpp"
#include "support/packets.hpp"

#include <catch2/catch.hpp>

using namespace hoshino::core;
using hoshino::test::addr;

namespace {
Bytes packet(std::size_t n, char c = 'p') { return Bytes(n, c); }

// One packet as a burst of its own, the way the node drives the bundler: add() it, then flush().
std::optional<Batch> send(Bundler& b, const Address& dst, Bytes p) {
  if (auto full = b.add(dst, std::move(p))) return full;
  auto batches = b.flush();
  REQUIRE(batches.size() <= 1); // only dst can have packets waiting with nothing in flight
  if (batches.empty()) return std::nullopt;
  CHECK(batches.front().dst == dst);
  return std::move(batches.front());
}
} // namespace

TEST_CASE("Idle pipe: a packet leaves at once, alone", "[bundler]") {
  Bundler b({4, 1000, 10000});
  auto dst = addr("fd5e::2");
  auto batch = send(b, dst, packet(100));
  REQUIRE(batch);
  CHECK(batch->dst == dst);
  CHECK(batch->packets.size() == 1);
  CHECK(b.in_flight(dst) == 1);
}

TEST_CASE("While a PUT is in flight, packets accumulate and leave together when it completes", "[bundler]") {
  Bundler b({4, 1000, 10000});
  auto dst = addr("fd5e::2");
  REQUIRE(send(b, dst, packet(100, 'a')));
  CHECK_FALSE(send(b, dst, packet(100, 'b')));
  CHECK_FALSE(send(b, dst, packet(100, 'c')));
  CHECK(b.queued_bytes(dst) == 200);
  auto next = b.on_put_done(dst);
  REQUIRE(next);
  REQUIRE(next->packets.size() == 2);
  CHECK(next->packets[0][0] == 'b'); // order kept
  CHECK(next->packets[1][0] == 'c');
  CHECK(next->bytes == 200);
  CHECK(b.in_flight(dst) == 1);
  CHECK_FALSE(b.on_put_done(dst)); // nothing waiting
  CHECK(b.in_flight(dst) == 0);
  CHECK(b.destinations() == 0);    // idle destinations cost nothing
}

TEST_CASE("Reaching the byte cap starts another PUT, up to the in-flight bound", "[bundler]") {
  Bundler b({2, 300, 100000});
  auto dst = addr("fd5e::2");
  REQUIRE(send(b, dst, packet(100)));     // in flight: 1
  CHECK_FALSE(send(b, dst, packet(100)));
  CHECK_FALSE(send(b, dst, packet(100)));
  auto capped = send(b, dst, packet(100)); // 300 queued: cap reached, slot free
  REQUIRE(capped);
  CHECK(capped->bytes == 300);
  CHECK(b.in_flight(dst) == 2);
  for (int i = 0; i < 5; ++i) CHECK_FALSE(send(b, dst, packet(100))); // bound reached: accumulate
  CHECK(b.queued_bytes(dst) == 500);
  auto after = b.on_put_done(dst);
  REQUIRE(after);
  CHECK(after->bytes == 300); // no more than the cap per object
  CHECK(b.queued_bytes(dst) == 200);
}

TEST_CASE("Destinations are independent", "[bundler]") {
  Bundler b({1, 1000, 10000});
  REQUIRE(send(b, addr("fd5e::2"), packet(10)));
  REQUIRE(send(b, addr("fd5e::3"), packet(10))); // other destination idle: goes at once
  CHECK_FALSE(send(b, addr("fd5e::2"), packet(10)));
}

TEST_CASE("The queue is bounded: oldest packets are dropped and counted", "[bundler]") {
  Bundler b({1, 100000, 250});
  auto dst = addr("fd5e::2");
  REQUIRE(send(b, dst, packet(100, 'a')));
  CHECK_FALSE(send(b, dst, packet(100, 'b')));
  CHECK_FALSE(send(b, dst, packet(100, 'c')));
  CHECK_FALSE(send(b, dst, packet(100, 'd'))); // 300 > 250: 'b' goes
  CHECK(b.dropped_packets() == 1);
  CHECK(b.dropped_bytes() == 100);
  CHECK(b.queued_bytes(dst) == 200);
  auto next = b.on_put_done(dst);
  REQUIRE(next);
  CHECK(next->packets.front()[0] == 'c');
}

TEST_CASE("Drain hands over everything for shutdown", "[bundler]") {
  Bundler b({1, 150, 10000});
  auto dst = addr("fd5e::2");
  REQUIRE(send(b, dst, packet(100)));
  for (int i = 0; i < 4; ++i) CHECK_FALSE(send(b, dst, packet(100)));
  auto all = b.drain();
  std::size_t bytes = 0;
  for (auto& batch : all) bytes += batch.bytes;
  CHECK(bytes == 400);
  CHECK(all.size() == 4); // 150-byte cap: one packet each
}

TEST_CASE("Only one partial bundle is in flight; full ones may join it", "[bundler]") {
  Bundler b({4, 300, 100000});
  auto dst = addr("fd5e::2");
  REQUIRE(send(b, dst, packet(100)));         // partial, alone: goes
  auto full = send(b, dst, packet(300));      // full: joins it
  REQUIRE(full);
  CHECK(b.in_flight(dst) == 2);
  CHECK_FALSE(send(b, dst, packet(100)));
  CHECK_FALSE(b.on_put_done(dst)); // one PUT still in flight: the partial bundle waits and grows
  CHECK_FALSE(send(b, dst, packet(100)));
  auto next = b.on_put_done(dst);  // none in flight now
  REQUIRE(next);
  CHECK(next->packets.size() == 2);
}

TEST_CASE("A burst is added whole, then flushed as one object per destination", "[bundler]") {
  Bundler b({4, 1000, 100000});
  auto d1 = addr("fd5e::2"), d2 = addr("fd5e::3");
  for (int i = 0; i < 5; ++i) {
    CHECK_FALSE(b.add(d1, packet(100)));
    CHECK_FALSE(b.add(d2, packet(10)));
  }
  auto out = b.flush();
  REQUIRE(out.size() == 2);
  for (const auto& batch : out) CHECK(batch.packets.size() == 5);
  CHECK(b.flush().empty());
  // Within a burst, a full bundle starts at once.
  std::optional<Batch> started;
  for (int i = 0; i < 10 && !started; ++i) started = b.add(d1, packet(200));
  REQUIRE(started);
  CHECK(started->bytes == 1000);
}

TEST_CASE("A packet cap of 1 is one packet per object (the original design)", "[bundler]") {
  BundlerConfig c;
  c.max_in_flight = 256;
  c.max_bundle_packets = 1;
  Bundler b(c);
  auto dst = addr("fd5e::2");
  for (int i = 0; i < 10; ++i) {
    auto batch = send(b, dst, packet(100));
    REQUIRE(batch);
    CHECK(batch->packets.size() == 1);
  }
  CHECK(b.in_flight(dst) == 10);
}

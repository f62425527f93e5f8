// The doorbell: an idle node watches one object instead of LISTing, and junk rings stay cheap.
#include "node/harness.hpp"

using namespace hoshino;
using namespace hoshino::node_test;

TEST_CASE("An idle node watches its doorbell: no LISTs while idle, and a packet to it is delivered within the bell interval",
          "[node][bell]") {
  test::VirtualTime vt;
  Pair p(idle_config(kA), idle_config(kB));
  p.start();
  p.run_until([] { return false; }, 10s); // both go idle
  REQUIRE(p.b.schedule().idle(Clock::now()));
  auto lists = requests(p.b, store::OpKind::list), gets = requests(p.b, store::OpKind::get);
  p.run_until([] { return false; }, 60s);
  CHECK(requests(p.b, store::OpKind::list) == lists);
  CHECK(requests(p.b, store::OpKind::get) - gets == Approx(60 / 1.75).margin(2)); // one bell check each
  auto sent = Clock::now();
  p.dev_a.inject(ipv6_packet(kA, kB, "wake up"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  CHECK(Clock::now() - sent <= 1750ms + 50ms);
  CHECK(p.a.metrics().rings_sent == 1);
  CHECK(p.b.metrics().bells_found == 1);
  // The reply: B is awake and A heard nothing yet but sent just now, so it LISTs fast: no ring needed.
  auto replied = Clock::now();
  p.dev_b.inject(ipv6_packet(kB, kA, "awake"));
  REQUIRE(p.run_until([&] { return p.dev_a.written().size() == 1; }));
  CHECK(Clock::now() - replied < 100ms);
  CHECK(p.b.metrics().rings_sent == 0);
  p.stop();
}

TEST_CASE("Without the doorbell, an idle node LISTs every pace.max and a packet waits for that LIST", "[node][bell]") {
  test::VirtualTime vt;
  auto ca = idle_config(kA), cb = idle_config(kB);
  ca.ingress.bell = cb.ingress.bell = false;
  Pair p(std::move(ca), std::move(cb));
  p.start();
  p.run_until([] { return false; }, 20s);
  auto lists = requests(p.b, store::OpKind::list);
  p.run_until([] { return false; }, 60s);
  CHECK(requests(p.b, store::OpKind::list) - lists == Approx(12).margin(1));
  CHECK(p.a.metrics().rings_sent == 0);
}

TEST_CASE("A writer who rings a bell all the time costs the idle node a bounded number of LISTs", "[node][bell][hostile]") {
  test::VirtualTime vt;
  Pair p(idle_config(kA), idle_config(kB));
  p.start();
  p.run_until([] { return false; }, 10s);
  REQUIRE(p.b.schedule().idle(Clock::now()));
  auto lists = requests(p.b, store::OpKind::list);
  // Someone with write access to the bell rewrites it every 10 ms for ten minutes, never with an object.
  auto bell = core::bell_key("hoshino", kB);
  int n = 0;
  for (int step = 0; step < 60'000; ++step) {
    auto junk = "junk " + std::to_string(n++);
    p.bucket.objects()[bell] = core::Bytes(junk.begin(), junk.end());
    p.run_until([] { return false; }, 10ms);
  }
  auto spent = requests(p.b, store::OpKind::list) - lists;
  CHECK(spent <= 4 + 600 / 30 + 1); // the burst, then one per 30 s
  CHECK(spent >= 600 / 30);
  CHECK(p.b.metrics().bells_empty == spent);
  CHECK(p.b.metrics().bells_limited > 0);
  CHECK(p.b.schedule().idle(Clock::now())); // junk never made it LIST at the fast pace
  // A real packet still gets through (its ring may wait for the limit, at most 30 s).
  p.dev_a.inject(ipv6_packet(kA, kB, "through the noise"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }, 40s));
  p.stop();
}

TEST_CASE("On a server that ignores If-None-Match the doorbell compares ETags itself", "[node][bell]") {
  test::VirtualTime vt;
  Pair p(idle_config(kA), idle_config(kB));
  p.bucket.conditional_gets = false;
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, "make the bell"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  p.run_until([] { return false; }, 20s);
  REQUIRE(p.b.schedule().idle(Clock::now()));
  auto lists = requests(p.b, store::OpKind::list);
  p.run_until([] { return false; }, 60s);
  CHECK(requests(p.b, store::OpKind::list) == lists); // an unchanged bell is not a ring
  auto sent = Clock::now();
  p.dev_a.inject(ipv6_packet(kA, kB, "again"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 2; }));
  CHECK(Clock::now() - sent <= 1750ms + 50ms);
  p.stop();
}

TEST_CASE("Junk rings cannot delay a member's ring: a proven ring spends its ringer's own tokens", "[node][bell][hostile]") {
  test::VirtualTime vt;
  auto with_identity = [](const core::Address& a) {
    auto c = idle_config(a);
    c.presence = true;
    c.identity = identity_of(a);
    return c;
  };
  Pair p(with_identity(kA), with_identity(kB));
  p.start();
  // They have talked (each knows the other's key), then both go idle.
  p.dev_a.inject(ipv6_packet(kA, kB, "hello"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  p.run_until([] { return false; }, 10s);
  REQUIRE(p.b.schedule().idle(Clock::now()));
  // A writer rings B's bell with junk until the shared tokens are gone, then stops.
  auto bell = core::bell_key("hoshino", kB);
  for (int n = 0; n < 12; ++n) {
    auto junk = "junk " + std::to_string(n);
    p.bucket.objects()[bell] = core::Bytes(junk.begin(), junk.end());
    p.run_until([] { return false; }, 2s);
  }
  REQUIRE(p.b.metrics().bells_limited > 0);
  // A's ring proves A rang: B LISTs within a bell interval, not after the shared tokens' 30 s.
  auto sent = Clock::now();
  p.dev_a.inject(ipv6_packet(kA, kB, "through the junk"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 2; }, 40s));
  CHECK(Clock::now() - sent <= 1750ms + 200ms);
  CHECK(p.b.metrics().bells_proven >= 1);
  // The same proof written again (a copy) is junk: it proves nothing twice.
  const auto proven = p.b.metrics().bells_proven;
  auto copy = p.bucket.objects()[bell];
  p.run_until([] { return false; }, 10s);
  p.bucket.objects()[bell] = core::Bytes("x");
  p.run_until([] { return false; }, 2s);
  p.bucket.objects()[bell] = copy;
  p.run_until([] { return false; }, 3s);
  CHECK(p.b.metrics().bells_proven == proven);
  p.stop();
}

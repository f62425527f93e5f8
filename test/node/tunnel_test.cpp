// Carrying packets: both directions, order, bundling, inline keys, stopping, floods within bounds.
#include "node/harness.hpp"

using namespace hoshino;
using namespace hoshino::node_test;

TEST_CASE("Two nodes exchange packets in both directions, in order", "[node]") {
  test::VirtualTime vt;
  Pair p;
  p.start();
  std::vector<std::string> to_b, to_a;
  for (int i = 0; i < 200; ++i) {
    to_b.push_back("a->b " + std::to_string(i));
    to_a.push_back("b->a " + std::to_string(i));
    p.dev_a.inject(ipv6_packet(kA, kB, to_b.back()));
    p.dev_b.inject(ipv6_packet(kB, kA, to_a.back()));
  }
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() >= 200 && p.dev_a.written().size() >= 200; }));
  CHECK(payloads(p.dev_b.written()) == to_b);
  CHECK(payloads(p.dev_a.written()) == to_a);
  // Bundling: fewer objects than packets (200 queued at once; how many share an object depends on how
  // fast the node reads compared with the store's 300 us PUTs, so only the direction is asserted).
  CHECK(p.a.metrics().egress.packets == 200);
  CHECK(p.a.metrics().egress.objects < 200);
  CHECK(p.b.metrics().ingress.packets == 200);
  // Consumed objects are deleted.
  REQUIRE(p.run_until([&] { return messages(p.bucket).empty(); }));
  p.stop();
}

TEST_CASE("A ping-like exchange: each reply comes back", "[node]") {
  test::VirtualTime vt;
  Pair p;
  // Node B's "kernel" answers every packet it receives.
  p.dev_b.on_write = [&](const core::Bytes& pkt) { p.dev_b.inject(ipv6_packet(kB, kA, "pong " + payload_of(pkt))); };
  p.start();
  for (int i = 0; i < 30; ++i) {
    p.dev_a.inject(ipv6_packet(kA, kB, std::to_string(i)));
    REQUIRE(p.run_until([&] { return p.dev_a.written().size() == static_cast<std::size_t>(i + 1); }));
    CHECK(payload_of(p.dev_a.written().back()) == "pong " + std::to_string(i));
  }
  p.stop();
}

TEST_CASE("Packets the tunnel must not carry are ignored and counted", "[node]") {
  test::VirtualTime vt;
  Pair p;
  p.start();
  p.dev_a.inject(ipv6_packet(kA, addr("ff02::16"), "mld"));
  p.dev_a.inject(ipv6_packet(kA, addr("fd99::1"), "elsewhere"));
  p.dev_a.inject(ipv6_packet(kA, kA, "self"));
  p.dev_a.inject(std::string("\x45\x00\x00\x14", 4));
  p.dev_a.inject(ipv6_packet(kA, kB, "real"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  const auto& ignored = p.a.metrics().ignored;
  CHECK(ignored.at("multicast") == 1);
  CHECK(ignored.at("outside_prefix") == 1);
  CHECK(ignored.at("to_self") == 1);
  CHECK(ignored.at("not_ipv6") == 1);
  p.stop();
}

TEST_CASE("Stop flushes queued packets before returning", "[node]") {
  test::VirtualTime vt;
  Pair p;
  p.start();
  for (int i = 0; i < 50; ++i) p.dev_a.inject(ipv6_packet(kA, kB, std::to_string(i)));
  p.run_until([] { return false; }, 1ms); // some are read, most still queued behind the first PUT
  p.a.stop();
  REQUIRE(p.run_until([&] { return p.running == 1; })); // a has returned
  std::size_t in_bucket = 0;
  for (const auto& [k, body] : messages(p.bucket)) in_bucket += core::decode_body(body)->packets.size();
  CHECK(p.a.metrics().egress.packets == in_bucket + p.dev_b.written().size());
  CHECK(p.a.metrics().egress.packets > 0);
  p.b.stop();
  p.run_until([&] { return p.running == 0; });
}

TEST_CASE("A burst read at once leaves as one object", "[node][bundle]") {
  test::VirtualTime vt;
  Pair p;
  p.start();
  std::vector<std::string> sent;
  for (int i = 0; i < 50; ++i) {
    sent.push_back("burst " + std::to_string(i));
    p.dev_a.inject(ipv6_packet(kA, kB, sent.back()));
  }
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == sent.size(); }));
  CHECK(payloads(p.dev_b.written()) == sent);
  CHECK(p.a.metrics().egress.objects == 1);
  CHECK(p.bucket.requests(store::OpKind::put) == 1);
  p.stop();
}

TEST_CASE("ACKs sent moments after the first ones join them: one object, not two", "[node][bundle][ack]") {
  // A delivered bundle is ACKed at once and again as the application reads (window updates), a few
  // hundred microseconds apart: held for --ack-hold, they make one PUT for B and one GET for A.
  test::VirtualTime vt;
  auto hold = GENERATE(std::chrono::nanoseconds(1ms), std::chrono::nanoseconds(0ms));
  auto ca = config(kA), cb = config(kB);
  ca.bundler.ack_hold = cb.bundler.ack_hold = hold;
  Pair p(ca, cb);
  p.start();
  p.dev_b.inject(test::tcp_packet(kB, kA, test::kTcpAck));
  // 0.4 ms pass: within the hold (run_until never moves time past its limit).
  vt.run_until(p.io, [] { return false; }, 400us);
  p.dev_b.inject(test::tcp_packet(kB, kA, test::kTcpAck));
  REQUIRE(p.run_until([&] { return p.dev_a.written().size() == 2; }));
  CHECK(p.b.metrics().egress.objects == (hold > 0ms ? 1u : 2u));
  CHECK(p.bucket.requests(store::OpKind::put) == (hold > 0ms ? 1u : 2u));
  CHECK(p.b.metrics().ack_holds == (hold > 0ms ? 1u : 0u));
  p.stop();
}

TEST_CASE("Stopping while ACKs are held sends them", "[node][bundle][ack][stop]") {
  test::VirtualTime vt;
  auto ca = config(kA), cb = config(kB);
  cb.bundler.ack_hold = 100ms;
  Pair p(ca, cb);
  p.start();
  p.dev_b.inject(test::tcp_packet(kB, kA, test::kTcpAck));
  vt.run_until(p.io, [] { return false; }, 5ms);
  CHECK(p.bucket.requests(store::OpKind::put) == 0); // held
  CHECK(p.b.metrics().ack_holds == 1);
  p.stop();
  CHECK(p.bucket.requests(store::OpKind::put) == 1); // the stop's flush sent it
  CHECK(messages(p.bucket).size() == 1);
}

TEST_CASE("Small packets travel in the key: no GET; large ones in the body; order holds across both", "[node][inline]") {
  test::VirtualTime vt;
  // Without chained keys, every object is found by LIST, so every small one can travel in its key.
  auto ca = config(kA), cb = config(kB);
  ca.chain_keys = cb.chain_keys = false;
  Pair p(std::move(ca), std::move(cb));
  p.start();
  std::vector<std::string> sent;
  for (int i = 0; i < 40; ++i) {
    // Every fourth packet is too large for a key (1 KiB at most), so the two forms interleave. One at a
    // time (each delivered before the next), so each is an object of its own.
    std::string payload = (i % 4 == 3 ? std::string(1500, 'L') : std::string("small ")) + std::to_string(i);
    sent.push_back(payload);
    p.dev_a.inject(ipv6_packet(kA, kB, payload));
    REQUIRE(p.run_until([&] { return p.dev_b.written().size() == sent.size(); }));
  }
  CHECK(payloads(p.dev_b.written()) == sent);
  const auto& m = p.a.metrics();
  CHECK(m.egress.objects == 40);
  CHECK(m.egress.inlined_objects == 30);
  CHECK(p.b.metrics().ingress.inlined_objects == m.egress.inlined_objects);
  // Only the objects with a body were fetched.
  CHECK(p.bucket.requests(store::OpKind::get) == m.egress.objects - m.egress.inlined_objects);
  for (const auto& [key, body] : p.bucket.objects()) CHECK(key.size() <= core::kMaxKeyBytes);
  p.stop();
}

TEST_CASE("Pipelined PUTs that land out of order are delivered in order", "[node][order]") {
  test::VirtualTime vt;
  auto ca = config(kA);
  ca.bundler.max_bundle_packets = 1; // every packet is a full bundle: up to 4 PUTs in flight at once
  Pair p(std::move(ca), config(kB));
  bool first = true;
  p.bucket.put_delay = [&](const std::string&) {
    // The first PUT lands 80 ms late: the three started behind it are visible before it.
    return std::exchange(first, false) ? std::chrono::microseconds(80ms) : std::chrono::microseconds(0);
  };
  p.start();
  std::vector<std::string> sent;
  for (int i = 0; i < 8; ++i) {
    // Small ones travel in the key, large ones in a body: both kinds must wait their turn.
    sent.push_back((i % 2 ? std::string(1500, 'L') : std::string("small ")) + std::to_string(i));
    p.dev_a.inject(ipv6_packet(kA, kB, sent.back()));
  }
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == sent.size(); }));
  CHECK(payloads(p.dev_b.written()) == sent);
  CHECK(p.a.metrics().egress.objects == 8);
  CHECK(p.b.inbox().held() >= 1);
  CHECK(p.b.inbox().hold_expired() == 0);
  CHECK(p.b.inbox().out_of_order() == 0);
  p.stop();
}

TEST_CASE("An inbox backlog of thousands of objects drains in bounded chunks, in order", "[node][flood]") {
  test::VirtualTime vt;
  asio::io_context io;
  store::MemoryStore bucket{io, 100us};
  core::UlidGenerator gen([] { return 3; });
  constexpr int kBacklog = 6000;
  fill_inbox(bucket, gen, kBacklog);
  device::MemoryDevice dev{io, 8192};
  node::Node b{io, dev, bucket, config(kB)};
  Running running(io, b);
  std::size_t max_tracked = 0;
  run_until(io, [&] {
    max_tracked = std::max(max_tracked, b.inbox().tracked());
    return dev.written().size() >= kBacklog;
  }, 60s);
  REQUIRE(dev.written().size() == kBacklog);
  for (int i = 0; i < kBacklog; ++i) REQUIRE(payload_of(dev.written()[static_cast<std::size_t>(i)]) == std::to_string(i));
  CHECK(max_tracked <= 1000); // one LIST page at a time: memory does not grow with the backlog
  CHECK(b.metrics().s3_requests[static_cast<int>(store::OpKind::list)] >= kBacklog / 1000);
  running.stop();
}

TEST_CASE("An egress flood against a slow bucket stays within the queue bound; drops are counted", "[node][flood]") {
  test::VirtualTime vt;
  asio::io_context io;
  // Slow PUTs, one at a time: ~1.3 MB/s drains the queue, far below any speed the packets are offered at
  // (even under sanitizers), so the queue must absorb and then shed.
  store::MemoryStore bucket{io, 200ms};
  device::MemoryDevice dev_a{io, 100000}, dev_b{io};
  auto ca = config(kA);
  ca.bundler.max_in_flight = 1;
  ca.bundler.max_queue_bytes = 1 << 20;
  ca.bundler.max_bundle_bytes = 256 << 10;
  node::Node a{io, dev_a, bucket, ca};
  Running running(io, a);
  constexpr int kPackets = 20000; // 20 MB offered within a few ms
  for (int i = 0; i < kPackets; ++i) REQUIRE(dev_a.inject(ipv6_packet(kA, kB, std::string(960, 'f'))));
  auto settled = [&] {
    auto m = a.metrics();
    auto dropped = m.dropped.count("queue_full") ? m.dropped.at("queue_full") : 0;
    return m.egress.packets + dropped == kPackets;
  };
  REQUIRE(run_until(io, settled, 30s));
  CHECK(a.metrics().dropped.at("queue_full") > 0);
  CHECK(a.metrics().egress.packets > 0); // nothing lost silently: forwarded + counted drops = offered
  running.stop();
}

TEST_CASE("An object held for a predecessor that never comes is released by the node's timer, not by a LIST", "[node][order]") {
  test::VirtualTime vt;
  asio::io_context io;
  store::MemoryStore bucket{io, 300us};
  core::UlidGenerator gen([] { return 9; });
  auto now = wall_ms();
  auto missing = gen.next(now - 20), id = gen.next(now - 10), next = gen.next(now);
  // It names a predecessor that never arrives. The node looks at its inbox every 5 s only, so a hold
  // released at a LIST would last 5 s instead of 500 ms.
  bucket.objects()[core::format_key("hoshino", {kB, kA, id})] =
      core::encode_bundle({ipv6_packet(kA, kB, "held")}, missing, next);
  auto cb = config(kB);
  cb.ingress.pace.min = cb.ingress.pace.max = 5s;
  device::MemoryDevice dev{io};
  node::Node b{io, dev, bucket, cb};
  Running running(io, b);
  REQUIRE(run_until(io, [&] { return b.inbox().held() == 1; }));
  auto lists = bucket.requests(store::OpKind::list);
  REQUIRE(run_until(io, [&] { return dev.written().size() == 1; }));
  CHECK(b.inbox().hold_expired() == 1);
  CHECK(bucket.requests(store::OpKind::list) == lists); // no LIST was needed to let it go
  running.stop();
}

TEST_CASE("Many busy destinations stay within the node-wide bounds", "[node][flood]") {
  test::VirtualTime vt;
  asio::io_context io;
  store::MemoryStore bucket{io, 50ms}; // slow PUTs: every destination's queue fills
  device::MemoryDevice dev_a{io, 100000};
  auto ca = config(kA);
  ca.bundler.max_queue_bytes = 1 << 20;       // per destination
  ca.bundler.max_total_queue_bytes = 4 << 20; // far below 50 × 1 MiB
  ca.bundler.max_total_in_flight = 8;
  ca.bundler.max_bundle_bytes = 64 << 10;
  node::Node a{io, dev_a, bucket, ca};
  std::size_t peak_in_flight = 0, in_flight = 0;
  bucket.put_delay = [&](const std::string&) {
    peak_in_flight = std::max(peak_in_flight, ++in_flight);
    return std::chrono::microseconds(0);
  };
  bucket.on_put = [&](const std::string&, const core::Bytes&) { --in_flight; };
  Running running(io, a);
  std::size_t peak_queued = 0;
  constexpr int kDestinations = 50, kPerDestination = 200;
  for (int i = 0; i < kPerDestination; ++i)
    for (int d = 0; d < kDestinations; ++d) {
      auto dst = addr(("fd5e::100:" + std::to_string(d)).c_str());
      REQUIRE(dev_a.inject(ipv6_packet(kA, dst, std::string(900, 'q'))));
    }
  auto settled = [&] {
    peak_queued = std::max<std::size_t>(peak_queued, a.metrics().queued_bytes);
    const auto& m = a.metrics();
    auto d = [&](const char* r) { return m.dropped.count(r) ? m.dropped.at(r) : 0; };
    return m.egress.packets + d("queue_full") + d("node_queue_full") == kDestinations * kPerDestination;
  };
  REQUIRE(run_until(io, settled, 60s));
  CHECK(peak_queued <= (4 << 20));
  CHECK(peak_in_flight <= 8);
  CHECK(a.metrics().dropped.at("node_queue_full") > 0);
  running.stop();
}

#include "core/bundler.hpp"
#include "support/packets.hpp"

#include <catch2/catch.hpp>

using namespace hoshino::core;
using hoshino::test::addr;
using hoshino::test::kTcpAck;
using hoshino::test::outgoing;
using hoshino::test::tcp_packet;
using namespace std::chrono_literals;

namespace {
const hoshino::Clock::time_point kT0{};
Bytes packet(std::size_t n, char c = 'p') { return Bytes(n, c); }

// One packet as a burst of its own, the way the node drives the bundler: add() it, then flush().
std::optional<Batch> send(Bundler& b, const Address& dst, Bytes p) {
  if (auto full = b.add(outgoing(dst, std::move(p)), kT0)) return full;
  auto batches = b.flush(kT0);
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
  auto next = b.on_put_done(dst, kT0);
  REQUIRE(next);
  REQUIRE(next->packets.size() == 2);
  CHECK(next->packets[0][0] == 'b'); // order kept
  CHECK(next->packets[1][0] == 'c');
  CHECK(next->bytes == 200);
  CHECK(b.in_flight(dst) == 1);
  CHECK_FALSE(b.on_put_done(dst, kT0)); // nothing waiting
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
  auto after = b.on_put_done(dst, kT0);
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
  auto next = b.on_put_done(dst, kT0);
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
  CHECK_FALSE(b.on_put_done(dst, kT0)); // one PUT still in flight: the partial bundle waits and grows
  CHECK_FALSE(send(b, dst, packet(100)));
  auto next = b.on_put_done(dst, kT0);  // none in flight now
  REQUIRE(next);
  CHECK(next->packets.size() == 2);
}

TEST_CASE("A burst is added whole, then flushed as one object per destination", "[bundler]") {
  Bundler b({4, 1000, 100000});
  auto d1 = addr("fd5e::2"), d2 = addr("fd5e::3");
  for (int i = 0; i < 5; ++i) {
    CHECK_FALSE(b.add(outgoing(d1, packet(100)), kT0));
    CHECK_FALSE(b.add(outgoing(d2, packet(10)), kT0));
  }
  auto out = b.flush(kT0);
  REQUIRE(out.size() == 2);
  for (const auto& batch : out) CHECK(batch.packets.size() == 5);
  CHECK(b.flush(kT0).empty());
  // Within a burst, a full bundle starts at once.
  std::optional<Batch> started;
  for (int i = 0; i < 10 && !started; ++i) started = b.add(outgoing(d1, packet(200)), kT0);
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

TEST_CASE("Node-wide bound: many busy destinations stay within the total queued bytes", "[bundler]") {
  BundlerConfig c{4, 1000, 10000};
  c.max_total_queue_bytes = 25000;
  c.max_total_in_flight = 1000;
  Bundler b(c);
  // 40 destinations, each with one PUT in flight and 900 bytes of partial bundle waiting behind it.
  for (int d = 0; d < 40; ++d) {
    auto dst = addr(("fd5e::" + std::to_string(d + 1)).c_str());
    REQUIRE(send(b, dst, packet(10)));
    for (int i = 0; i < 9; ++i) CHECK_FALSE(send(b, dst, packet(100)));
    CHECK(b.total_queued_bytes() <= 25000);
  }
  CHECK(b.total_queued_bytes() <= 25000);
  CHECK(b.total_queued_bytes() > 25000 - 100);
  CHECK(b.dropped_node_packets() == 40 * 9 - 250);
  CHECK(b.dropped_packets() == b.dropped_node_packets());
  // The largest queues lost their oldest packets: no destination was emptied for the others.
  for (int d = 0; d < 40; ++d) CHECK(b.queued_bytes(addr(("fd5e::" + std::to_string(d + 1)).c_str())) >= 500);
}

TEST_CASE("Node-wide bound: PUTs in flight across destinations, turns in FIFO order", "[bundler]") {
  BundlerConfig c{4, 1000, 10000};
  c.max_total_in_flight = 2;
  Bundler b(c);
  auto d1 = addr("fd5e::1"), d2 = addr("fd5e::2"), d3 = addr("fd5e::3"), d4 = addr("fd5e::4");
  REQUIRE(send(b, d1, packet(10)));
  REQUIRE(send(b, d2, packet(10)));
  CHECK_FALSE(send(b, d3, packet(10))); // no node-wide slot: d3 waits its turn
  CHECK_FALSE(send(b, d4, packet(10)));
  CHECK(b.total_in_flight() == 2);
  CHECK(b.take_unblocked().empty());
  // d1 finishes: the slot goes to d3 (first to wait), not back to d1, which has more to send.
  CHECK_FALSE(send(b, d1, packet(20)));
  CHECK_FALSE(b.on_put_done(d1, kT0));
  auto next = b.take_unblocked();
  REQUIRE(next.size() == 1);
  CHECK(next[0].dst == d3);
  CHECK(b.total_in_flight() == 2);
  // d2 finishes: d4, then d1 (waiting since its PUT ended) in that order.
  CHECK_FALSE(b.on_put_done(d2, kT0));
  next = b.take_unblocked();
  REQUIRE(next.size() == 1);
  CHECK(next[0].dst == d4);
  CHECK_FALSE(b.on_put_done(d3, kT0));
  next = b.take_unblocked();
  REQUIRE(next.size() == 1);
  CHECK(next[0].dst == d1);
  CHECK(next[0].bytes == 20);
  CHECK(b.total_in_flight() == 2);
  CHECK_FALSE(b.on_put_done(d4, kT0));
  CHECK(b.take_unblocked().empty());
  CHECK_FALSE(b.on_put_done(d1, kT0));
  CHECK(b.total_in_flight() == 0);
  CHECK(b.destinations() == 0); // nothing left behind
}

namespace {
const Address kSelf = addr("fd5e::1");
Bytes ack() { return tcp_packet(kSelf, addr("fd5e::2"), kTcpAck); }
BundlerConfig hold_config(hoshino::Clock::duration hold) {
  BundlerConfig c;
  c.ack_hold = hold;
  return c;
}
} // namespace

TEST_CASE("A batch of pure ACKs waits ack_hold for company, then leaves as one", "[bundler][ack]") {
  Bundler b(hold_config(1ms));
  auto dst = addr("fd5e::2");
  CHECK_FALSE(b.add(outgoing(dst, ack()), kT0));
  CHECK(b.flush(kT0).empty()); // held
  REQUIRE(b.next_release() == kT0 + 1ms);
  CHECK_FALSE(b.add(outgoing(dst, ack()), kT0 + 500us)); // the window update the application's read sends
  CHECK(b.flush(kT0 + 500us).empty());
  CHECK(b.next_release() == kT0 + 1ms); // counted from the first packet: a stream of ACKs cannot hold it longer
  CHECK(b.flush(kT0 + 999us).empty());
  auto batches = b.flush(kT0 + 1ms);
  REQUIRE(batches.size() == 1);
  CHECK(batches.front().packets.size() == 2);
  CHECK_FALSE(b.next_release());
  CHECK(b.ack_holds() == 1); // one hold, however often it was looked at
}

TEST_CASE("Anything but a pure ACK ends the hold at once", "[bundler][ack]") {
  auto dst = addr("fd5e::2");
  SECTION("data joins the held ACKs") {
    Bundler b(hold_config(1ms));
    CHECK_FALSE(b.add(outgoing(dst, ack()), kT0));
    CHECK(b.flush(kT0).empty());
    CHECK_FALSE(b.add(outgoing(dst, tcp_packet(kSelf, dst, kTcpAck, "payload")), kT0 + 100us));
    auto batches = b.flush(kT0 + 100us);
    REQUIRE(batches.size() == 1);
    CHECK(batches.front().packets.size() == 2);
  }
  for (std::uint8_t flags : {std::uint8_t(kTcpAck | 0x02), std::uint8_t(kTcpAck | 0x01), std::uint8_t(kTcpAck | 0x04)}) {
    Bundler b(hold_config(1ms)); // SYN-ACK, FIN, RST: a handshake or a close is never held
    CHECK_FALSE(b.add(outgoing(dst, tcp_packet(kSelf, dst, flags)), kT0));
    CHECK(b.flush(kT0).size() == 1);
  }
  SECTION("a FIN or RST joins the held ACKs") {
    for (std::uint8_t flags : {std::uint8_t(kTcpAck | 0x01), std::uint8_t(kTcpAck | 0x04)}) {
      Bundler b(hold_config(1ms));
      CHECK_FALSE(b.add(outgoing(dst, ack()), kT0));
      CHECK(b.flush(kT0).empty());
      CHECK_FALSE(b.add(outgoing(dst, tcp_packet(kSelf, dst, flags)), kT0 + 100us));
      auto batches = b.flush(kT0 + 100us);
      REQUIRE(batches.size() == 1);
      CHECK(batches.front().packets.size() == 2);
    }
  }
  SECTION("not TCP") {
    Bundler b(hold_config(1ms));
    CHECK_FALSE(b.add(outgoing(dst, hoshino::test::ipv6_packet(kSelf, dst, "ping")), kT0));
    CHECK(b.flush(kT0).size() == 1);
  }
  SECTION("ack_hold 0") {
    Bundler b(hold_config(0ms));
    CHECK_FALSE(b.add(outgoing(dst, ack()), kT0));
    CHECK(b.flush(kT0).size() == 1);
    CHECK_FALSE(b.next_release());
  }
}

TEST_CASE("ACKs queued behind a PUT in flight are held from their first packet, not from the PUT's end",
          "[bundler][ack]") {
  Bundler b(hold_config(1ms));
  auto dst = addr("fd5e::2");
  CHECK_FALSE(b.add(outgoing(dst, tcp_packet(kSelf, dst, kTcpAck, "data")), kT0));
  REQUIRE(b.flush(kT0).size() == 1); // in flight
  CHECK_FALSE(b.add(outgoing(dst, ack()), kT0 + 100us));
  CHECK(b.flush(kT0 + 100us).empty());
  CHECK_FALSE(b.next_release()); // nothing to wake for while the PUT is in flight: its end decides
  CHECK_FALSE(b.on_put_done(dst, kT0 + 600us)); // the hold runs until 1.1 ms
  CHECK(b.next_release() == kT0 + 1100us);
  CHECK(b.destinations() == 1); // a held queue is not forgotten
  auto batches = b.flush(kT0 + 1100us);
  REQUIRE(batches.size() == 1);
  CHECK(batches.front().packets.size() == 1);
}

TEST_CASE("Each destination's ACK hold is its own", "[bundler][ack]") {
  Bundler b(hold_config(1ms));
  auto d2 = addr("fd5e::2"), d3 = addr("fd5e::3");
  CHECK_FALSE(b.add(outgoing(d2, tcp_packet(kSelf, d2, kTcpAck)), kT0));
  CHECK_FALSE(b.add(outgoing(d3, tcp_packet(kSelf, d3, kTcpAck)), kT0 + 300us));
  CHECK(b.flush(kT0 + 300us).empty());
  CHECK(b.next_release() == kT0 + 1ms);
  auto first = b.flush(kT0 + 1ms);
  REQUIRE(first.size() == 1);
  CHECK(first.front().dst == d2);
  CHECK(b.next_release() == kT0 + 1300us);
  auto second = b.flush(kT0 + 1300us);
  REQUIRE(second.size() == 1);
  CHECK(second.front().dst == d3);
}

TEST_CASE("A full bundle of ACKs is never held: it joins the PUTs in flight", "[bundler][ack]") {
  BundlerConfig c = hold_config(1ms);
  c.max_bundle_packets = 2; // two packets make a full bundle
  c.max_in_flight = 2;
  Bundler b(c);
  auto dst = addr("fd5e::2");
  auto data = [&] { return tcp_packet(kSelf, dst, kTcpAck, "data"); };
  CHECK_FALSE(b.add(outgoing(dst, data()), kT0));
  REQUIRE(b.flush(kT0).size() == 1);      // PUT 1
  CHECK_FALSE(b.add(outgoing(dst, data()), kT0));
  REQUIRE(b.add(outgoing(dst, data()), kT0));       // full: PUT 2 joins
  CHECK_FALSE(b.add(outgoing(dst, ack()), kT0));
  CHECK_FALSE(b.add(outgoing(dst, ack()), kT0));    // full, but both slots are taken
  auto next = b.on_put_done(dst, kT0 + 10us); // PUT 1 done, well within the hold: the full bundle goes
  REQUIRE(next);
  CHECK(next->packets.size() == 2);
  CHECK(b.ack_holds() == 0);
}

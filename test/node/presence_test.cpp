// Presence records: who is there, key rotation, packets to nobody, fleets of four.
#include "node/harness.hpp"

using namespace hoshino;
using namespace hoshino::node_test;

TEST_CASE("A packet to an address nobody holds is answered with ICMPv6 unreachable, not PUT", "[node][presence]") {
  test::VirtualTime vt;
  Pair p(presence_config(kA), presence_config(kB));
  std::size_t puts_to_nobody = 0;
  p.bucket.on_put = [&](const std::string& key, const core::Bytes&) {
    puts_to_nobody += key.starts_with(core::inbox_prefix("hoshino", kNobody));
  };
  p.start();
  REQUIRE(p.run_until([&] {
    return p.bucket.objects().count(presence_of(kA)) && p.bucket.objects().count(presence_of(kB));
  }));
  auto record = core::parse_presence(p.bucket.objects().at(presence_of(kB)), kB);
  REQUIRE(record);
  CHECK(record->hostname == "host-fd5e::b");
  p.dev_a.inject(ipv6_packet(kA, kNobody, "anyone?"));
  p.dev_a.inject(ipv6_packet(kA, kB, "hello b"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1 && p.dev_a.written().size() == 1; }));
  CHECK(payload_of(p.dev_b.written()[0]) == "hello b");
  REQUIRE(is_unreachable_for(p.dev_a.written()[0], kA));
  CHECK(p.dev_a.written()[0].substr(48) == ipv6_packet(kA, kNobody, "anyone?"));
  CHECK(puts_to_nobody == 0);
  CHECK(inbox_objects(p.bucket, kNobody) == 0);
  CHECK(p.a.metrics().dropped.at("no_peer") == 1);
  CHECK(p.a.metrics().unreachable_sent == 1);
  CHECK(p.a.metrics().peer_listings == 1); // one listing answered both packets

  // A scan of a thousand absent addresses: no PUT, a bounded number of listings and ICMPv6 errors.
  for (int i = 0; i < 1000; ++i) {
    auto dst = kNobody;
    dst.bytes[12] = 0x77;
    dst.bytes[14] = static_cast<std::uint8_t>(i >> 8);
    dst.bytes[15] = static_cast<std::uint8_t>(i);
    p.dev_a.inject(ipv6_packet(kA, dst, "scan"));
  }
  REQUIRE(p.run_until([&] { return p.a.metrics().dropped.at("no_peer") == 1001; }));
  CHECK(puts_to_nobody == 0);
  CHECK(p.a.metrics().peer_listings <= 2);
  CHECK(p.a.metrics().unreachable_sent + p.a.metrics().unreachable_limited == 1001);
  CHECK(p.a.metrics().unreachable_sent <= 11); // the burst of 10 (and what refilled meanwhile)
  p.stop();
}

TEST_CASE("Presence records are written at start and removed on a clean stop", "[node][presence]") {
  test::VirtualTime vt;
  Pair p(presence_config(kA), presence_config(kB));
  p.start();
  REQUIRE(p.run_until([&] { return p.bucket.objects().count(presence_of(kA)) == 1; }));
  CHECK(p.a.metrics().presence_writes == 1);
  p.stop();
  CHECK(p.bucket.objects().count(presence_of(kA)) == 0);
  CHECK(p.bucket.objects().count(presence_of(kB)) == 0);
}

TEST_CASE("A node without a presence record is reached once it has sent; a failed listing loses nothing", "[node][presence]") {
  test::VirtualTime vt;
  auto cb = config(kB); // an older node: publishes nothing (and, like A here, seals nothing)
  auto ca = presence_config(kA);
  ca.identity.reset();
  Pair p(ca, cb);
  // B's "kernel" answers; A's first packet to B comes only after B spoke.
  p.dev_b.on_write = [&](const core::Bytes& pkt) { p.dev_b.inject(ipv6_packet(kB, kA, "re: " + payload_of(pkt))); };
  p.start();
  p.dev_b.inject(ipv6_packet(kB, kA, "hi a"));
  REQUIRE(p.run_until([&] { return p.dev_a.written().size() == 1; }));
  p.dev_a.inject(ipv6_packet(kA, kB, "hi b"));
  REQUIRE(p.run_until([&] { return p.dev_a.written().size() == 2; }));
  CHECK(payload_of(p.dev_a.written()[1]) == "re: hi b");
  CHECK(p.a.metrics().peer_listings == 0); // heard from: no listing needed
  CHECK_FALSE(p.a.metrics().dropped.count("no_peer"));

  // The presence listing fails: the packet to an unknown address is sent anyway (no proof of absence).
  p.bucket.fault = [](store::OpKind op, const std::string& key) -> std::optional<s3::Error> {
    if (op == store::OpKind::list && key.starts_with("hoshino/peers/")) return store::http_error(503, "SlowDown");
    return std::nullopt;
  };
  p.dev_a.inject(ipv6_packet(kA, kNobody, "maybe there"));
  REQUIRE(p.run_until([&] { return inbox_objects(p.bucket, kNobody) == 1; }));
  CHECK(p.a.metrics().peer_listing_failures == 1);
  CHECK_FALSE(p.a.metrics().dropped.count("no_peer"));
  p.stop();
}

TEST_CASE("A presence listing reads on while pages say truncated, however short they are", "[node][presence][listing]") {
  test::VirtualTime vt;
  Pair p(presence_config(kA), presence_config(kB));
  // S3 may answer fewer keys than max-keys with IsTruncated=true: such a page is no proof that the rest
  // of the listing is empty (before, a short page ended it, and B behind the junk was "absent").
  p.bucket.page_limit = 2;
  for (int i = 1; i <= 5; ++i) { // records of addresses that sort before B's
    auto junk = core::presence_key("hoshino", addr(("fd5e::" + std::to_string(i)).c_str()), core::generate_key_pair().public_key);
    p.bucket.objects().emplace(junk, core::Bytes{});
  }
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, "hi b"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  CHECK(payload_of(p.dev_b.written()[0]) == "hi b");
  CHECK_FALSE(p.a.metrics().dropped.count("no_peer"));
  CHECK(p.a.peers().key_of(kB) == identity_of(kB).public_key);
  p.stop();
}

TEST_CASE("A key rotated during a ping stream loses no ping", "[node][identity][rotate]") {
  test::VirtualTime vt;
  Pair p(presence_config(kA), presence_config(kB));
  p.dev_b.on_write = [&](const core::Bytes& pkt) { p.dev_b.inject(ipv6_packet(kB, kA, "re: " + payload_of(pkt))); };
  p.start();
  auto new_b = core::generate_key_pair(), new_a = core::generate_key_pair();
  for (int i = 0; i < 40; ++i) {
    if (i == 10) p.b.rotate_identity(new_b);
    if (i == 25) p.a.rotate_identity(new_a);
    p.dev_a.inject(ipv6_packet(kA, kB, "ping " + std::to_string(i)));
    // Each reply before the next ping, within a second (virtual): none lost, none waiting for long.
    INFO("ping " << i);
    REQUIRE(p.run_until([&] { return p.dev_a.written().size() == static_cast<std::size_t>(i + 1); }, 1s));
    CHECK(payload_of(p.dev_a.written().back()) == "re: ping " + std::to_string(i));
    p.run_until([] { return false; }, 200ms); // a ping every 200 ms
  }
  for (auto* n : {&p.a, &p.b}) {
    CHECK(n->inbox().dropped(core::DropReason::bad_seal) == 0);
    CHECK(n->inbox().dropped(core::DropReason::unknown_key) == 0);
  }
  // Each node is listed with its new key only; its peer saw the change (logged, counted).
  REQUIRE(p.run_until([&] {
    return p.bucket.objects().count(core::presence_key("hoshino", kB, new_b.public_key)) == 1 &&
           p.bucket.objects().count(core::presence_key("hoshino", kA, new_a.public_key)) == 1;
  }));
  CHECK(p.bucket.objects().count(presence_of(kA)) == 0);
  CHECK(p.bucket.objects().count(presence_of(kB)) == 0);
  CHECK(p.a.metrics().peer_key_changes >= 1);
  CHECK(p.b.metrics().peer_key_changes >= 1);
  // The peer view (`hoshino show`): B with its new key, traffic both ways, a round trip.
  auto view = p.a.render_show();
  INFO(view);
  CHECK(view.find("node: fd5e::a\n  public key: " + core::key_to_base64(new_a.public_key)) == 0);
  CHECK(view.find("peer: fd5e::b\n  key: " + core::fingerprint(new_b.public_key) + "… (trusted on first use)") !=
        std::string::npos);
  CHECK(view.find("received in 40 objects") != std::string::npos);
  CHECK(view.find("sent in 40 objects") != std::string::npos);
  CHECK(view.find("round trip: ") != std::string::npos);
  const auto& stats = p.a.metrics().peers.peers().at(kB);
  CHECK(stats.objects_in == 40);
  REQUIRE(stats.rtt);
  CHECK(*stats.rtt > 0ms);
  CHECK(*stats.rtt < 1s);
  p.stop();
}

TEST_CASE("An object from a node that started after the receiver's last listing waits for its key, then is delivered",
          "[node][identity]") {
  test::VirtualTime vt;
  asio::io_context io;
  store::MemoryStore bucket{io, 300us};
  device::MemoryDevice dev_b{io}, dev_c{io};
  const auto kC = addr("fd5e::c");
  node::Node b{io, dev_b, bucket, presence_config(kB)};
  Running rb(io, b);
  // B lists the directory (a packet to nobody) before C exists.
  dev_b.inject(ipv6_packet(kB, kNobody, "anyone"));
  REQUIRE(run_until(io, [&] { return b.metrics().peer_listings == 1; }));
  run_until(io, [] { return false; }, 3s);
  node::Node c{io, dev_c, bucket, presence_config(kC)};
  Running rc(io, c);
  REQUIRE(dev_b.written().size() == 1); // the ICMPv6 answer for "anyone"
  dev_c.inject(ipv6_packet(kC, kB, "hello from c"));
  REQUIRE(run_until(io, [&] { return dev_b.written().size() == 2; }, 5s));
  CHECK(payload_of(dev_b.written()[1]) == "hello from c");
  CHECK(b.inbox().key_waits() >= 1);      // it waited for C's key ...
  CHECK(b.metrics().peer_listings >= 2);  // ... which a second listing brought
  CHECK(b.inbox().dropped(core::DropReason::unknown_key) == 0);
  rc.stop();
  rb.stop();
}

TEST_CASE("Four nodes in one bucket: all pairs, fan-in to one, sealed per pair; a stopped node becomes unreachable",
          "[node][identity][fleet]") {
  test::VirtualTime vt;
  asio::io_context io;
  store::MemoryStore bucket{io, 300us};
  const std::vector<core::Address> addrs{addr("fd5e::1"), addr("fd5e::2"), addr("fd5e::3"), addr("fd5e::4")};
  std::vector<std::unique_ptr<device::MemoryDevice>> devs;
  std::vector<std::unique_ptr<node::Node>> nodes;
  std::vector<std::unique_ptr<Running>> running;
  for (const auto& a : addrs) {
    devs.push_back(std::make_unique<device::MemoryDevice>(io));
    nodes.push_back(std::make_unique<node::Node>(io, *devs.back(), bucket, presence_config(a)));
  }
  for (auto& n : nodes) running.push_back(std::make_unique<Running>(io, *n));
  auto from = [](const core::Bytes& p) { return core::parse_ipv6(p)->src; };
  // All ordered pairs: 3 packets from each node to each other one, all at once.
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 4; ++j)
      if (i != j)
        for (int k = 0; k < 3; ++k) devs[i]->inject(ipv6_packet(addrs[i], addrs[j], "m" + std::to_string(k)));
  REQUIRE(run_until(io, [&] {
    for (auto& d : devs)
      if (d->written().size() < 9) return false;
    return true;
  }));
  for (std::size_t j = 0; j < 4; ++j) {
    std::map<core::Address, std::vector<std::string>> got;
    for (const auto& p : devs[j]->written()) got[from(p)].push_back(payload_of(p));
    CHECK(got.size() == 3);
    for (const auto& [src, payloads] : got) CHECK(payloads == std::vector<std::string>{"m0", "m1", "m2"}); // in order
  }
  // Fan-in: three senders, 200 packets each, to node 1 at once; every one arrives, in order per sender.
  const std::size_t before = devs[0]->written().size();
  for (int k = 0; k < 200; ++k)
    for (std::size_t i = 1; i < 4; ++i) devs[i]->inject(ipv6_packet(addrs[i], addrs[0], std::to_string(k)));
  REQUIRE(run_until(io, [&] { return devs[0]->written().size() == before + 600; }));
  std::map<core::Address, int> next;
  for (std::size_t k = before; k < devs[0]->written().size(); ++k) {
    const auto& p = devs[0]->written()[k];
    CHECK(payload_of(p) == std::to_string(next[from(p)]++));
  }
  CHECK(next.size() == 3);
  for (auto& n : nodes) {
    CHECK(n->inbox().dropped(core::DropReason::bad_seal) == 0);
    CHECK(n->inbox().dropped(core::DropReason::unknown_key) == 0);
  }
  // Node 4 stops cleanly (its record goes); once node 1's knowledge of it expires, a packet to it is
  // answered unreachable instead of being PUT into an inbox nobody reads.
  running[3]->stop();
  run_until(io, [] { return false; }, 11min);
  const std::size_t seen = devs[0]->written().size();
  devs[0]->inject(ipv6_packet(addrs[0], addrs[3], "still there?"));
  REQUIRE(run_until(io, [&] { return devs[0]->written().size() == seen + 1; }));
  CHECK(is_unreachable_for(devs[0]->written().back(), addrs[0]));
  for (std::size_t i = 0; i < 3; ++i) running[i]->stop();
}

TEST_CASE("A presence record that could not be written is written again within a minute", "[node][presence]") {
  test::VirtualTime vt;
  Pair p(presence_config(kA), presence_config(kB));
  bool refuse = true;
  p.bucket.fault = [&](store::OpKind op, const std::string& key) -> std::optional<s3::Error> {
    if (refuse && op == store::OpKind::put && key.starts_with("hoshino/peers/")) return store::http_error(503, "SlowDown");
    return std::nullopt;
  };
  p.start();
  p.run_until([] { return false; }, 2s);
  CHECK(p.bucket.objects().count(presence_of(kA)) == 0);
  CHECK(p.a.metrics().presence_write_failures == 1);
  refuse = false;
  REQUIRE(p.run_until([&] { return p.bucket.objects().count(presence_of(kA)) == 1; }, 70s));
  CHECK(p.a.metrics().presence_writes == 1);
  p.stop();
}

namespace {
// Pings from A to B, `every` apart; each reply must come within a second. Returns false at the first
// that does not (INFO says which).
bool ping_stream(Pair& p, int from, int to, std::chrono::milliseconds every, const std::function<void(int)>& at = {}) {
  for (int i = from; i < to; ++i) {
    if (at) at(i);
    const auto before = p.dev_a.written().size();
    p.dev_a.inject(ipv6_packet(kA, kB, "ping " + std::to_string(i)));
    if (!p.run_until([&] { return p.dev_a.written().size() == before + 1; }, 1s)) {
      UNSCOPED_INFO("ping " << i << " got no reply within 1 s");
      return false;
    }
    if (payload_of(p.dev_a.written().back()) != "re: ping " + std::to_string(i)) return false;
    p.run_until([] { return false; }, every);
  }
  return true;
}
} // namespace

TEST_CASE("A rotation whose old presence record cannot be deleted keeps the node reachable while it stands",
          "[node][identity][rotate]") {
  test::VirtualTime vt;
  Pair p(presence_config(kA), presence_config(kB));
  const std::string old_record = presence_of(kB);
  p.bucket.undeletable = [&](const std::string& key) { return key == old_record; }; // refused one by one
  p.dev_b.on_write = [&](const core::Bytes& pkt) { p.dev_b.inject(ipv6_packet(kB, kA, "re: " + payload_of(pkt))); };
  p.start();
  auto new_b = core::generate_key_pair();
  // A ping every 30 s for an hour: well past the 15 minutes a previous key was kept, and the 10 minutes
  // A trusts what it knows without listing.
  CHECK(ping_stream(p, 0, 120, 30s, [&](int i) {
    if (i == 2) p.b.rotate_identity(new_b);
  }));
  CHECK(p.bucket.objects().count(old_record) == 1); // it still stands ...
  CHECK(p.b.metrics().presence_remove_failures >= 1); // ... and B keeps trying (counted)
  // Once it can go, it goes, and A moves to the new key.
  p.bucket.undeletable = nullptr;
  REQUIRE(p.run_until([&] { return p.bucket.objects().count(old_record) == 0; }, 5min));
  CHECK(ping_stream(p, 120, 160, 30s));
  CHECK(p.a.peers().key_of(kB) == new_b.public_key);
  p.stop();
}

TEST_CASE("Two rotations in a row lose no ping", "[node][identity][rotate]") {
  test::VirtualTime vt;
  Pair p(presence_config(kA), presence_config(kB));
  p.dev_b.on_write = [&](const core::Bytes& pkt) { p.dev_b.inject(ipv6_packet(kB, kA, "re: " + payload_of(pkt))); };
  p.start();
  auto first = core::generate_key_pair(), second = core::generate_key_pair();
  CHECK(ping_stream(p, 0, 60, 30s, [&](int i) {
    if (i != 3) return;
    p.b.rotate_identity(first); // two SIGHUPs, the second before the first's record is written
    p.b.rotate_identity(second);
  }));
  CHECK(p.a.peers().key_of(kB) == second.public_key);
  CHECK(p.bucket.objects().count(core::presence_key("hoshino", kB, first.public_key)) == 0);
  CHECK(p.b.inbox().dropped(core::DropReason::unknown_key) == 0);
  CHECK(p.a.inbox().dropped(core::DropReason::unknown_key) == 0);
  p.stop();
}

TEST_CASE("Keys trusted on first use outlive a restart: a record replaced meanwhile is refused, the real peer still reached",
          "[node][identity][hostile]") {
  test::VirtualTime vt;
  auto accept = GENERATE(false, true); // --accept-key-changes
  auto dir = temp_state_dir();
  asio::io_context io;
  store::MemoryStore bucket{io, 300us};
  device::MemoryDevice dev_b{io};
  node::Node b{io, dev_b, bucket, presence_config(kB)};
  Running rb(io, b);
  dev_b.on_write = [&](const core::Bytes& pkt) {
    if (core::parse_ipv6(pkt)->src == kA) dev_b.inject(ipv6_packet(kB, kA, "re: " + payload_of(pkt)));
  };
  auto ping_from_a = [&](bool expect_reply) {
    auto state = node::StateDir::open(dir);
    REQUIRE(state);
    auto ca = presence_config(kA);
    ca.state_dir = &*state;
    ca.peers.accept_key_changes = accept;
    device::MemoryDevice dev_a{io};
    node::Node a{io, dev_a, bucket, ca};
    Running ra(io, a);
    dev_a.inject(ipv6_packet(kA, kB, "ping"));
    const bool replied = run_until(io, [&] { return dev_a.written().size() == 1; }, 5s);
    CHECK(replied == expect_reply);
    auto refused = a.metrics().peer_key_changes_refused;
    auto key = a.peers().key_of(kB);
    ra.stop();
    return std::make_pair(refused, key);
  };
  // A's first life learns B's key (first use), then A stops.
  auto [refused1, key1] = ping_from_a(true);
  CHECK(refused1 == 0);
  CHECK(key1 == identity_of(kB).public_key);
  // While A is down, a writer replaces B's record with one of his own key.
  auto forged = core::generate_key_pair();
  bucket.objects().erase(presence_of(kB));
  bucket.objects()[core::presence_key("hoshino", kB, forged.public_key)] = core::format_presence({kB, "evil", "x", 1});
  // A's second life: by default it refuses the new key and keeps sealing to the one it trusted, which
  // the real B still holds; told to accept changes, it follows the forged record, and B cannot open.
  auto [refused2, key2] = ping_from_a(!accept);
  if (!accept) {
    CHECK(refused2 == 1);
    CHECK(key2 == identity_of(kB).public_key);
  } else {
    CHECK(refused2 == 0);
    CHECK(key2 == forged.public_key);
  }
  rb.stop();
  std::filesystem::remove_all(dir);
}

// A bucket writer without the key, and members who misbehave: what each can and cannot do.
#include "node/harness.hpp"

#include <fmt/core.h>

#include <cstring>

using namespace hoshino;
using namespace hoshino::node_test;

TEST_CASE("A malformed object in the inbox is dropped and deleted; the node keeps forwarding", "[node]") {
  test::VirtualTime vt;
  Pair p;
  auto now = wall_ms();
  core::UlidGenerator gen([] { return 7; });
  auto junk = core::format_key("hoshino", {kB, kA, gen.next(now)});
  p.bucket.objects()[junk] = "this is not a bundle";
  p.bucket.objects()["hoshino/" + kB.hex() + "/garbage-key"] = "x";
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, "after junk"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  CHECK(payload_of(p.dev_b.written()[0]) == "after junk");
  REQUIRE(p.run_until([&] { return messages(p.bucket).empty(); }));
  CHECK(p.b.inbox().dropped(core::DropReason::malformed_body) == 1);
  CHECK(p.b.inbox().dropped(core::DropReason::malformed_key) == 1);
  p.stop();
}

TEST_CASE("With a shared key, packets flow sealed: the bucket never sees them", "[node][psk]") {
  test::VirtualTime vt;
  Pair p(with_psk(kA, 'k'), with_psk(kB, 'k'));
  bool saw_plaintext = false;
  p.bucket.fault = [&](store::OpKind op, const std::string& key) -> std::optional<s3::Error> {
    if (op == store::OpKind::get && p.bucket.objects().count(key))
      saw_plaintext = saw_plaintext || p.bucket.objects()[key].find("secret-payload") != std::string::npos ||
                      !core::is_sealed(p.bucket.objects()[key]);
    return std::nullopt;
  };
  p.start();
  for (int i = 0; i < 20; ++i) p.dev_a.inject(ipv6_packet(kA, kB, "secret-payload " + std::to_string(i)));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 20; }));
  CHECK_FALSE(saw_plaintext);
  CHECK(payload_of(p.dev_b.written()[19]) == "secret-payload 19");
  p.stop();
}

TEST_CASE("Nodes that disagree about the key fail clearly, not silently", "[node][psk]") {
  test::VirtualTime vt;
  SECTION("sender sealed, receiver has no key") {
    Pair p(with_psk(kA, 'k'), with_psk(kB, std::nullopt));
    p.start();
    p.dev_a.inject(ipv6_packet(kA, kB, "x"));
    REQUIRE(p.run_until([&] { return p.b.inbox().dropped(core::DropReason::sealed_without_key) == 1; }));
    CHECK(p.dev_b.written().empty());
    p.stop();
  }
  SECTION("sender plain, receiver requires sealed") {
    Pair p(with_psk(kA, std::nullopt), with_psk(kB, 'k'));
    p.start();
    p.dev_a.inject(ipv6_packet(kA, kB, "x"));
    REQUIRE(p.run_until([&] { return p.b.inbox().dropped(core::DropReason::unsealed) == 1; }));
    CHECK(p.dev_b.written().empty());
    p.stop();
  }
  SECTION("different keys") {
    Pair p(with_psk(kA, 'k'), with_psk(kB, 'z'));
    p.start();
    p.dev_a.inject(ipv6_packet(kA, kB, "x"));
    REQUIRE(p.run_until([&] { return p.b.inbox().dropped(core::DropReason::bad_seal) == 1; }));
    CHECK(p.dev_b.written().empty());
    p.stop();
  }
}

TEST_CASE("A bucket writer without the key can neither move nor replay sealed objects", "[node][psk]") {
  test::VirtualTime vt;
  auto ca = with_psk(kA, 'k');
  ca.inline_small = false; // a body to GET (the inlined form has its own test below)
  Pair p(ca, with_psk(kB, 'k'));
  // Capture A's sealed object for B before B consumes it.
  std::optional<std::pair<std::string, std::string>> captured;
  p.bucket.fault = [&](store::OpKind op, const std::string& key) -> std::optional<s3::Error> {
    if (op == store::OpKind::get && !captured && p.bucket.objects().count(key)) captured.emplace(key, p.bucket.objects()[key]);
    return std::nullopt;
  };
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, "original"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1 && messages(p.bucket).empty(); }));
  REQUIRE(captured);
  auto original = core::parse_key("hoshino", captured->first);
  REQUIRE(original);
  // Replay under its own key: already consumed, so skipped (and deleted again).
  p.bucket.objects()[captured->first] = captured->second;
  // Move it to a fresh key (a new ULID): the seal does not open under another key.
  core::UlidGenerator gen([] { return 99; });
  auto moved = core::format_key("hoshino", {kB, kA, gen.next(original->id.time_ms() + 1)});
  p.bucket.objects()[moved] = captured->second;
  REQUIRE(p.run_until([&] { return messages(p.bucket).empty(); }));
  CHECK(p.b.inbox().dropped(core::DropReason::bad_seal) == 1);
  CHECK(p.dev_b.written().size() == 1); // nothing delivered twice or from the moved copy
  p.stop();
}

TEST_CASE("Hostile objects are each dropped with a reason and deleted; forwarding goes on", "[node][hostile]") {
  test::VirtualTime vt;
  Pair p;
  core::UlidGenerator gen([] { return 5; });
  auto now = wall_ms();
  auto key = [&] { return core::format_key("hoshino", {kB, kA, gen.next(now)}); };
  auto good = ipv6_packet(kA, kB, "fine");
  std::string random_bytes;
  for (int i = 0; i < 300; ++i) random_bytes.push_back(static_cast<char>((i * 131 + 7) % 256));
  auto bundle = core::encode_bundle({good});
  std::string past_end = bundle;
  past_end[9] = '\x7f'; // first packet length far past the end
  auto& objects = p.bucket.objects();
  objects[key()] = random_bytes;                                              // malformed_body
  objects[key()] = "";                                                        // malformed_body (empty)
  objects[key()] = bundle.substr(0, bundle.size() - 3);                       // malformed_body (truncated)
  objects[key()] = past_end;                                                  // malformed_body (length past end)
  objects[key()] = std::string(17 << 20, 'x');                                // oversized (never fetched)
  objects[key()] = core::encode_bundle({"\x45not-ipv6-at-all"});              // not_ipv6
  objects[key()] = core::encode_bundle({ipv6_packet(kA, addr("fd5e::99"), "x")}); // wrong_destination
  objects[key()] = core::encode_bundle({ipv6_packet(addr("fd5e::66"), kB, "x")}); // spoofed_source
  objects["hoshino/" + kB.hex() + "/zz/not-a-ulid"] = bundle;                 // malformed_key
  objects["hoshino/" + kB.hex() + "/" + kA.hex() + "/" + std::string(26, 'U')] = bundle; // malformed_key
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, "still forwarded"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1 && objects.empty(); }));
  CHECK(payload_of(p.dev_b.written()[0]) == "still forwarded");
  const auto& in = p.b.inbox();
  CHECK(in.dropped(core::DropReason::malformed_body) == 4);
  CHECK(in.dropped(core::DropReason::oversized) == 1);
  CHECK(in.dropped(core::DropReason::not_ipv6) == 1);
  CHECK(in.dropped(core::DropReason::wrong_destination) == 1);
  CHECK(in.dropped(core::DropReason::spoofed_source) == 1);
  CHECK(in.dropped(core::DropReason::malformed_key) == 2);
  // The oversized object and bad keys were never fetched; the forwarded packet came inline in its key.
  // (The other GETs were B polling the key A announced for its next object.)
  CHECK(p.b.inbox().fetches() == 7);
  CHECK(p.b.metrics().ingress.inlined_objects == 1);
  p.stop();
}

TEST_CASE("Sealed inline keys: a writer without the key can neither move nor replay them", "[node][inline][psk]") {
  test::VirtualTime vt;
  Pair p(with_psk(kA, 'k'), with_psk(kB, 'k'));
  std::optional<std::string> captured;
  p.bucket.fault = [&](store::OpKind op, const std::string& key) -> std::optional<s3::Error> {
    if (op == store::OpKind::remove && !captured) captured = key;
    return std::nullopt;
  };
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, "original"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1 && messages(p.bucket).empty() && captured; }));
  CHECK(p.b.inbox().fetches() == 0); // GETs were only B's polls for A's next key
  auto original = core::parse_key("hoshino", *captured);
  REQUIRE(original);
  REQUIRE_FALSE(original->inline_body.empty());
  CHECK(original->inline_body.find("original") == std::string::npos); // sealed: not readable in the key
  p.bucket.objects()[*captured] = "";                                  // replay: already consumed
  core::UlidGenerator gen([] { return 99; });
  auto moved = *original;
  moved.id = gen.next(original->id.time_ms() + 1);
  p.bucket.objects()[core::format_key("hoshino", moved)] = ""; // moved to a new ULID: the seal fails
  REQUIRE(p.run_until([&] { return messages(p.bucket).empty(); }));
  CHECK(p.b.inbox().dropped(core::DropReason::bad_seal) == 1);
  CHECK(p.dev_b.written().size() == 1);
  p.stop();
}

TEST_CASE("A sender whose clock is two minutes behind is corrected by S3's Date, not dropped", "[node][clock]") {
  test::VirtualTime vt;
  auto with_clock = GENERATE(false, true);
  asio::io_context io;
  store::MemoryStore bucket{io, 300us};
  device::MemoryDevice dev_a{io}, dev_b{io};
  auto behind = [] { return wall_ms() - 120'000; };
  // What the S3 shell would feed it from Date headers: the bucket keeps real time.
  core::ClockOffset clock_a;
  for (int i = 0; i < 20; ++i) {
    std::uint64_t server = wall_ms() + static_cast<std::uint64_t>(i) * 77;
    clock_a.on_sample(server - 120'000 - 2, server - 120'000 + 2, server / 1000 * 1000);
  }
  auto ca = config(kA);
  if (with_clock) ca.clock = &clock_a;
  node::Node a{io, dev_a, bucket, ca, behind}, b{io, dev_b, bucket, config(kB)};
  Running ra(io, a), rb(io, b);
  dev_a.inject(ipv6_packet(kA, kB, "from the past"));
  if (with_clock) {
    REQUIRE(run_until(io, [&] { return dev_b.written().size() == 1; }));
    CHECK(b.inbox().dropped(core::DropReason::too_old) == 0);
  } else {
    REQUIRE(run_until(io, [&] { return b.inbox().dropped(core::DropReason::too_old) == 1; }));
    CHECK(dev_b.written().empty());
  }
  ra.stop();
  rb.stop();
}

TEST_CASE("A writer who squats an announced key cannot make the sender overwrite it or lose the packets", "[node][chain][psk]") {
  test::VirtualTime vt;
  auto ca = config(kA), cb = config(kB);
  ca.psk = cb.psk = core::Psk{42};
  Pair p(std::move(ca), std::move(cb));
  std::optional<std::string> next_key;
  p.bucket.on_put = [&](const std::string& key, const core::Bytes& body) {
    auto k = core::parse_key("hoshino", key);
    if (!k || k->dst != kB || next_key) return;
    auto plain = core::open_sealed(core::Psk{42}, key, body);
    if (!plain) return;
    auto bundle = core::decode_body(*plain);
    if (bundle && bundle->next) {
      next_key = core::format_key("hoshino", {kB, kA, *bundle->next});
      p.bucket.objects()[*next_key] = "HSNE\x01 the squatter's object"; // there before A's next PUT
    }
  };
  // B refuses and deletes the squatter's object at once; the squatter keeps it there (writes it again).
  p.bucket.undeletable = [&](const std::string& key) { return next_key && key == *next_key; };
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, std::string(1200, '1')));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1 && next_key; }));
  p.dev_a.inject(ipv6_packet(kA, kB, std::string(1200, '2')));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 2; }));
  CHECK(payload_of(p.dev_b.written()[1]) == std::string(1200, '2'));
  CHECK(p.a.metrics().squatted_keys == 1);
  CHECK(p.b.inbox().dropped(core::DropReason::bad_seal) == 1);
  CHECK(p.b.inbox().dropped(core::DropReason::replayed) == 0);
  p.stop();
}

TEST_CASE("With identity keys, objects are sealed per pair; a node cannot seal as another", "[node][identity][hostile]") {
  test::VirtualTime vt;
  Pair p(presence_config(kA), presence_config(kB));
  p.dev_b.on_write = [&](const core::Bytes& pkt) { p.dev_b.inject(ipv6_packet(kB, kA, "re: " + payload_of(pkt))); };
  std::vector<std::pair<std::string, core::Bytes>> seen;
  p.bucket.on_put = [&](const std::string& key, const core::Bytes& body) { seen.emplace_back(key, body); };
  p.start();
  for (int i = 0; i < 5; ++i) {
    p.dev_a.inject(ipv6_packet(kA, kB, "ping " + std::to_string(i)));
    REQUIRE(p.run_until([&] { return p.dev_a.written().size() == static_cast<std::size_t>(i + 1); }));
    CHECK(payload_of(p.dev_a.written().back()) == "re: ping " + std::to_string(i));
  }
  // Nothing in the bucket carries a packet in the clear.
  for (const auto& [key, body] : seen) {
    INFO(key);
    CHECK(key.find(core::base64url_encode("ping")) == std::string::npos);
    CHECK(body.find("ping") == std::string::npos);
  }
  // C (a third node with its own key and bucket write access) writes into B's inbox as A: sealed with
  // the key C shares with B, under A's key id and under its own. Neither opens; nothing is delivered.
  auto kC = addr("fd5e::c");
  auto b_pub = identity_of(kB).public_key;
  auto cb = core::pair_key(identity_of(kC), kA, b_pub, kB, "hoshino", std::nullopt);
  REQUIRE(cb);
  std::size_t delivered = p.dev_b.written().size();
  core::UlidGenerator gen(crypto::random64);
  for (auto sender_kid : {core::key_id(identity_of(kA).public_key), core::key_id(identity_of(kC).public_key)}) {
    core::ObjectKey id{kB, kA, gen.next(wall_ms()), {}};
    auto object = core::encode_object("hoshino", id, {ipv6_packet(kA, kB, "forged")}, *cb, false,
                                      core::random_nonce(), {}, {}, {sender_kid, core::key_id(b_pub)});
    auto key = object.key;
    auto body = object.body;
    REQUIRE(p.bucket.objects().emplace(key, body).second);
  }
  auto refused = [&] {
    return p.b.inbox().dropped(core::DropReason::bad_seal) + p.b.inbox().dropped(core::DropReason::unknown_key);
  };
  REQUIRE(p.run_until([&] { return refused() == 2; }));
  CHECK(p.dev_b.written().size() == delivered);
  CHECK(p.b.inbox().dropped(core::DropReason::bad_seal) >= 1); // A's key id, but not A's key
  p.stop();
}

TEST_CASE("A forged presence record for a node changes nothing: traffic goes on under its real key", "[node][identity][hostile]") {
  test::VirtualTime vt;
  Pair p(presence_config(kA), presence_config(kB));
  p.dev_b.on_write = [&](const core::Bytes& pkt) { // answers A's packets (not its own ICMPv6 errors)
    if (core::parse_ipv6(pkt)->src == kA) p.dev_b.inject(ipv6_packet(kB, kA, "re: " + payload_of(pkt)));
  };
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, "before"));
  REQUIRE(p.run_until([&] { return p.dev_a.written().size() == 1; }));
  // A writer publishes a record for A under a key of his own; B lists again (a packet to nobody).
  auto forged = core::generate_key_pair();
  p.bucket.objects()[core::presence_key("hoshino", kA, forged.public_key)] =
      core::format_presence({kA, "evil", "x", 1});
  auto listings = p.b.metrics().peer_listings;
  p.run_until([] { return false; }, 6s); // past the last listing's answer for absent addresses
  p.dev_b.inject(ipv6_packet(kB, kNobody, "scan"));
  REQUIRE(p.run_until([&] { return p.b.metrics().peer_listings > listings; }));
  CHECK(p.b.peers().key_of(kA) == identity_of(kA).public_key);
  CHECK(p.b.peers().ambiguous() >= 1);
  for (int i = 0; i < 5; ++i) {
    p.dev_a.inject(ipv6_packet(kA, kB, "after " + std::to_string(i)));
    REQUIRE(p.run_until([&] { return p.dev_a.written().size() == static_cast<std::size_t>(i + 2); }, 2s));
    CHECK(payload_of(p.dev_a.written().back()) == "re: after " + std::to_string(i));
  }
  CHECK(p.b.metrics().peer_key_changes == 0);
  p.stop();
}

TEST_CASE("Objects from a sender outside the /64 are refused before any GET", "[node][hostile]") {
  test::VirtualTime vt;
  Pair p;
  p.start();
  core::UlidGenerator gen([] { return 3; });
  auto outsider = addr("fd99::1");
  core::ObjectKey id{kB, outsider, gen.next(wall_ms()), {}};
  p.bucket.objects()[core::base_key("hoshino", id)] = "junk body";
  REQUIRE(p.run_until([&] { return p.b.inbox().dropped(core::DropReason::malformed_key) == 1; }));
  CHECK(p.bucket.requests(store::OpKind::get) == 0);
  p.stop();
}

TEST_CASE("A flood of presence records hides no peer: nodes started after it ping each other", "[node][identity][hostile]") {
  test::VirtualTime vt;
  // The real nodes sort after the junk: 10,500 records under one address, then 10,500 addresses with one
  // record each (the measured attack: the listing's ten pages never reached the real records).
  const auto kC = addr("fd5e::ff00:c"), kD = addr("fd5e::ff00:d");
  asio::io_context io;
  store::MemoryStore bucket{io, 300us};
  const auto junk = core::format_presence({addr("fd5e::1"), "junk", "x", 1});
  for (std::uint32_t n = 0; n < 10'500; ++n) {
    core::PublicKey k{};
    std::memcpy(k.data(), &n, sizeof n);
    bucket.objects()[core::presence_key("hoshino", addr("fd5e::1"), k)] = junk;
    bucket.objects()[core::presence_key("hoshino", addr(fmt::format("fd5e::1:{:x}", n).c_str()), k)] = junk;
  }
  device::MemoryDevice dev_c{io}, dev_d{io};
  node::Node c{io, dev_c, bucket, presence_config(kC)}, d{io, dev_d, bucket, presence_config(kD)};
  Running rc(io, c), rd(io, d);
  dev_d.on_write = [&](const core::Bytes& pkt) {
    if (core::parse_ipv6(pkt)->src == kC) dev_d.inject(ipv6_packet(kD, kC, "re: " + payload_of(pkt)));
  };
  for (int i = 0; i < 5; ++i) {
    dev_c.inject(ipv6_packet(kC, kD, "ping " + std::to_string(i)));
    REQUIRE(run_until(io, [&] { return dev_c.written().size() == static_cast<std::size_t>(i + 1); }, 5s));
    CHECK(payload_of(dev_c.written().back()) == "re: ping " + std::to_string(i));
  }
  // D, which never sent first, learnt C's key from a lookup of C's address, not from the pages.
  CHECK(d.peers().key_of(kC) == identity_of(kC).public_key);
  CHECK(c.metrics().dropped.count("peer_unknown") == 0);
  CHECK(c.metrics().peer_addresses_skipped >= 1);
  CHECK(c.metrics().peer_listings_incomplete >= 1);
  rc.stop();
  rd.stop();
}

TEST_CASE("A flood from a stolen key stays within the inbox's byte budget while another sender's pings go through",
          "[node][identity][hostile][flood]") {
  test::VirtualTime vt;
  // M is a member whose key was stolen: the thief writes 300 objects of ~240 KB as M into B's inbox, each
  // naming a predecessor that never comes (held 500 ms: everything after it waits in memory). B's bounds
  // are scaled down from the defaults (64 MiB node-wide, 16 MiB per sender, 16 MiB per object).
  const auto kM = addr("fd5e::5"); // sorts before A: served first when GETs went by address
  auto cb = presence_config(kB);
  cb.inbox.max_object_bytes = 512 << 10;
  cb.inbox.max_undelivered_bytes = 2 << 20;
  cb.inbox.max_undelivered_bytes_per_sender = 1 << 20;
  Pair p(presence_config(kA), cb);
  device::MemoryDevice dev_m{p.io};
  node::Node m{p.io, dev_m, p.bucket, presence_config(kM)};
  Running rm(p.io, m);
  p.dev_b.on_write = [&](const core::Bytes& pkt) {
    if (core::parse_ipv6(pkt)->src == kA) p.dev_b.inject(ipv6_packet(kB, kA, "re: " + payload_of(pkt)));
  };
  p.start();
  dev_m.inject(ipv6_packet(kM, kB, "hello")); // B learns M's key, and M is a sender it has heard from
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  auto mb = core::pair_key(identity_of(kM), kM, identity_of(kB).public_key, kB, "hoshino", std::nullopt);
  REQUIRE(mb);
  const core::SealIds ids{core::key_id(identity_of(kM).public_key), core::key_id(identity_of(kB).public_key)};
  core::UlidGenerator gen(crypto::random64);
  const std::string big(60'000, 'x');
  for (int i = 0; i < 300; ++i) {
    core::ObjectKey id{kB, kM, gen.next(wall_ms()), {}};
    std::vector<core::Bytes> packets(4, ipv6_packet(kM, kB, big));
    auto object = core::encode_object("hoshino", id, packets, *mb, false, core::random_nonce(),
                                      gen.next(wall_ms() - 1000), {}, ids); // a predecessor nobody wrote
    auto key = object.key;
    p.bucket.objects()[key] = object.body;
  }
  for (int i = 0; i < 5; ++i) {
    p.dev_a.inject(ipv6_packet(kA, kB, "ping " + std::to_string(i)));
    REQUIRE(p.run_until([&] { return p.dev_a.written().size() == static_cast<std::size_t>(i + 1); }, 3s));
    CHECK(payload_of(p.dev_a.written().back()) == "re: ping " + std::to_string(i));
  }
  const auto& in = p.b.inbox();
  INFO("peak " << in.undelivered_bytes_peak());
  CHECK(in.deferred(core::Budget::sender_bytes) >= 1); // the flood met its bound ...
  CHECK(in.undelivered_bytes_peak() <= cb.inbox.max_undelivered_bytes + cb.inbox.max_object_bytes);
  CHECK(in.undelivered_bytes_peak() <= cb.inbox.max_undelivered_bytes_per_sender + 2 * cb.inbox.max_object_bytes);
  // ... and is still delivered, at the pace its bound allows: nothing of it is lost.
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() >= 1 + 5 + 300 * 4; }, 5min));
  rm.stop();
  p.stop();
}

TEST_CASE("One answer with a bad Date moves neither the clock nor the ULIDs: the next objects are not from the future",
          "[node][clock][hostile]") {
  test::VirtualTime vt;
  asio::io_context io;
  store::MemoryStore bucket{io, 300us};
  device::MemoryDevice dev_a{io}, dev_b{io};
  core::ClockOffset clock_a;
  auto feed = [&](std::int64_t server_ahead_ms) {
    std::uint64_t local = wall_ms();
    std::uint64_t server = static_cast<std::uint64_t>(static_cast<std::int64_t>(local) + server_ahead_ms);
    clock_a.on_sample(local - 2, local + 2, server / 1000 * 1000);
  };
  for (int i = 0; i < 20; ++i) feed(0);
  auto ca = config(kA);
  ca.clock = &clock_a;
  node::Node a{io, dev_a, bucket, ca}, b{io, dev_b, bucket, config(kB)};
  Running ra(io, a), rb(io, b);
  dev_a.inject(ipv6_packet(kA, kB, "before"));
  REQUIRE(run_until(io, [&] { return dev_b.written().size() == 1; }));
  // One answer says the bucket is an hour ahead (a broken proxy, a bad server): A sends, then the
  // good answers go on.
  feed(3'600'000);
  CHECK(clock_a.correction_ms() == 0);
  dev_a.inject(ipv6_packet(kA, kB, "after one bad Date"));
  REQUIRE(run_until(io, [&] { return dev_b.written().size() == 2; }));
  for (int i = 0; i < 5; ++i) feed(0);
  dev_a.inject(ipv6_packet(kA, kB, "and later"));
  REQUIRE(run_until(io, [&] { return dev_b.written().size() == 3; }));
  CHECK(b.inbox().dropped(core::DropReason::from_future) == 0);
  ra.stop();
  rb.stop();
}

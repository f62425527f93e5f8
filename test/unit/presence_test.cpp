#include "core/icmpv6.hpp"
#include "core/presence.hpp"
#include "support/packets.hpp"

#include <catch2/catch.hpp>

using namespace hoshino;
using namespace hoshino::core;
using namespace std::chrono_literals;
using test::addr;
using test::ipv6_packet;

namespace {
const Address kSelf = addr("fd5e::a");
const Address kPeer = addr("fd5e::b");
const Address kNobody = addr("fd5e::dead");
Clock::time_point t0() { return Clock::time_point(std::chrono::hours(1)); }
PresenceRecord record() { return {kPeer, "vm-b", "0.9.0", 1764626400000}; }

// route() as the node calls it, for a test's packet bytes to dst: taken (moved from) only when it waits.
Route route_to(PeerDirectory& d, const Address& dst, Bytes& packet, Clock::time_point now) {
  auto out = hoshino::test::outgoing(dst, packet);
  auto r = d.route(out, now);
  if (r == Route::wait) packet.clear();
  return r;
}

// A packet as egress has read it (classify_egress's view).
Outgoing classified(Bytes packet) {
  auto view = view_of(packet);
  REQUIRE(view);
  return {std::move(packet), *view};
}
} // namespace

TEST_CASE("Presence records round-trip and bind to their key", "[presence]") {
  auto body = format_presence(record());
  auto back = parse_presence(body, kPeer);
  REQUIRE(back);
  CHECK(back->address == kPeer);
  CHECK(back->hostname == "vm-b");
  CHECK(back->version == "0.9.0");
  CHECK(back->started_ms == 1764626400000);
  auto kp = generate_key_pair();
  auto key = presence_key("hoshino", kPeer, kp.public_key);
  CHECK(key == "hoshino/peers/fd5e000000000000000000000000000b." + key_to_base64url(kp.public_key));
  auto parsed = parse_presence_key("hoshino", key);
  REQUIRE(parsed);
  CHECK(parsed->address == kPeer);
  CHECK(parsed->key == kp.public_key);
  CHECK_FALSE(parse_presence_key("hoshino", "hoshino/peers/fd5e000000000000000000000000000b"));
  CHECK_FALSE(parse_presence_key("hoshino", "hoshino/peers/FD5E000000000000000000000000000B." + key_to_base64url(kp.public_key)));
  CHECK_FALSE(parse_presence_key("hoshino", "hoshino/bell/fd5e000000000000000000000000000b." + key_to_base64url(kp.public_key)));
  CHECK_FALSE(parse_presence_key("hoshino", key + "x"));
  CHECK_FALSE(parse_presence_key("hoshino", key.substr(0, key.size() - 1)));
  // A record under another node's key speaks for nobody.
  auto other = parse_presence(body, kNobody);
  REQUIRE_FALSE(other);
  CHECK(other.error().find("speaks for") != std::string::npos);
}

TEST_CASE("Hostile presence records are refused with a reason", "[presence]") {
  auto good = format_presence(record());
  for (std::string bad : {std::string(""), std::string("hoshino-presence 2\n"), good.substr(0, good.size() - 1),
                          good + "address fd5e::b\n", good + "colour blue\n",
                          std::string("hoshino-presence 1\naddress fd5e::b\n"),
                          std::string("hoshino-presence 1\naddress fd5e::b\nhostname a\x01\nversion 1\nstarted 1\n"),
                          std::string("hoshino-presence 1\naddress fd5e::b\nhostname a\nversion 1\nstarted 1x\n"),
                          good + std::string(2000, 'x')}) {
    INFO(bad);
    auto r = parse_presence(bad, kPeer);
    CHECK_FALSE(r);
    if (!r) CHECK_FALSE(r.error().empty());
  }
}

TEST_CASE("ICMPv6 address unreachable answers the sender, quoting the packet within 1280 bytes", "[icmpv6]") {
  auto ping = ipv6_packet(kSelf, kNobody, std::string(56, 'x'), 58);
  ping[40] = static_cast<char>(128); // echo request
  auto answer = address_unreachable(classified(ping), kSelf);
  REQUIRE(answer);
  auto h = parse_ipv6(*answer);
  REQUIRE(h);
  CHECK(h->next_header == 58);
  CHECK(h->src == kSelf);
  CHECK(h->dst == kSelf); // back to the packet's source
  CHECK(static_cast<std::uint8_t>((*answer)[40]) == 1);
  CHECK(static_cast<std::uint8_t>((*answer)[41]) == 3);
  CHECK(icmpv6_checksum(*answer) == 0);
  CHECK(answer->substr(48) == ping);

  auto big = ipv6_packet(kSelf, kNobody, std::string(9000, 'y'));
  auto cut = address_unreachable(classified(big), kSelf);
  REQUIRE(cut);
  CHECK(cut->size() == kIcmpv6MinMtu);
  CHECK(parse_ipv6(*cut));
  CHECK(icmpv6_checksum(*cut) == 0);
  CHECK(cut->substr(48) == big.substr(0, kIcmpv6MinMtu - 48));
}

TEST_CASE("ICMPv6: no error about an error, nor to an unspecified or multicast source", "[icmpv6]") {
  auto error = ipv6_packet(kSelf, kNobody, std::string(8, '\0'), 58);
  error[40] = 1; // itself a Destination Unreachable
  CHECK_FALSE(address_unreachable(classified(error), kSelf));
  CHECK_FALSE(address_unreachable(classified(ipv6_packet(Address{}, kNobody, "x")), kSelf));
  CHECK_FALSE(address_unreachable(classified(ipv6_packet(addr("ff02::1"), kNobody, "x")), kSelf));
  CHECK_FALSE(view_of("not a packet"));
}

TEST_CASE("Directory: an unknown destination waits for one listing, then is sent to or answered", "[presence]") {
  PeerDirectory d;
  auto now = t0();
  Bytes p1 = "to-peer", p2 = "to-nobody", p3 = "to-peer-2";
  CHECK(route_to(d, kPeer, p1, now) == Route::wait);
  CHECK(route_to(d, kNobody, p2, now) == Route::wait);
  CHECK(route_to(d, kPeer, p3, now) == Route::wait);
  CHECK(d.start_listing(now));
  CHECK_FALSE(d.start_listing(now)); // one at a time
  auto resolved = d.on_listed({{kPeer, {}}, {kSelf, {}}}, true, now + 3ms);
  REQUIRE(resolved.size() == 2);
  CHECK(resolved[0].dst == kPeer);
  CHECK(resolved[0].present);
  REQUIRE(resolved[0].packets.size() == 2);
  CHECK(resolved[0].packets[0].bytes == "to-peer");
  CHECK(resolved[0].packets[1].bytes == "to-peer-2");
  CHECK(resolved[1].dst == kNobody);
  CHECK_FALSE(resolved[1].present);
  // The listing answers for absent_ttl: no further listing for a scan of absent addresses.
  Bytes p = "x";
  for (int i = 0; i < 1000; ++i) {
    auto dst = kNobody;
    dst.bytes[12] = 0x77; // never kPeer or kSelf
    dst.bytes[14] = static_cast<std::uint8_t>(i >> 8);
    dst.bytes[15] = static_cast<std::uint8_t>(i);
    CHECK(route_to(d, dst, p, now + 1s) == Route::unreachable);
  }
  CHECK_FALSE(d.start_listing(now + 1s));
  CHECK(d.listings() == 1);
  CHECK(route_to(d, kPeer, p, now + 1s) == Route::send);
  // After absent_ttl an unknown address is asked about again; the known peer still goes straight out.
  CHECK(route_to(d, kNobody, p, now + 6s) == Route::wait);
  CHECK(route_to(d, kPeer, p, now + 6s) == Route::send);
  CHECK(d.start_listing(now + 6s));
}

TEST_CASE("Directory: a failed or partial listing loses nothing and fails open", "[presence]") {
  PeerDirectory d;
  auto now = t0();
  Bytes p = "pkt";
  CHECK(route_to(d, kNobody, p, now) == Route::wait);
  CHECK(d.start_listing(now));
  auto resolved = d.on_list_failed(now + 10ms);
  REQUIRE(resolved.size() == 1);
  CHECK(resolved[0].present); // sent anyway: S3 trouble is not proof of absence
  CHECK(resolved[0].packets.size() == 1);
  Bytes q = "q";
  CHECK(route_to(d, kNobody, q, now + 1s) == Route::send);
  CHECK(route_to(d, kNobody, q, now + 6s) == Route::wait);
  CHECK(d.start_listing(now + 6s));
  // More nodes than the pages read: absence cannot be concluded either.
  resolved = d.on_listed({{kPeer, {}}}, false, now + 6s);
  REQUIRE(resolved.size() == 1);
  CHECK(resolved[0].present);
  CHECK(d.listing_failures() == 1);
}

TEST_CASE("Directory: a sender heard from is there; waiting queues are bounded", "[presence]") {
  PeerDirectoryConfig c;
  c.max_waiting_peers = 2;
  c.max_waiting_packets = 3;
  c.max_peers = 2;
  PeerDirectory d(c);
  auto now = t0();
  d.on_heard(kPeer, now);
  Bytes p = "p";
  CHECK(route_to(d, kPeer, p, now) == Route::send);
  auto a = addr("fd5e::1"), b = addr("fd5e::2"), e = addr("fd5e::3");
  for (int i = 0; i < 3; ++i) {
    Bytes x = "x";
    CHECK(route_to(d, a, x, now) == Route::wait);
  }
  Bytes x = "x";
  CHECK(route_to(d, a, x, now) == Route::dropped); // its queue is full
  CHECK(route_to(d, b, x, now) == Route::wait);
  CHECK(route_to(d, e, x, now) == Route::dropped); // max_waiting_peers, the other one past it
  // The peer memory is bounded too: a third present node is not remembered, only found again.
  d.start_listing(now);
  d.on_listed({{a, {}}, {b, {}}, {e, {}}}, true, now);
  CHECK(d.peers() == 2);
  PeerDirectory later;
  later.on_heard(kPeer, now);
  CHECK(route_to(later, kPeer, p, now + 9min) == Route::send);
  CHECK(route_to(later, kPeer, p, now + 11min) == Route::wait); // heard long ago: asked about again
}

TEST_CASE("Directory: ICMPv6 errors are rate limited", "[presence]") {
  PeerDirectory d;
  auto now = t0();
  int allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += d.allow_unreachable(now);
  CHECK(allowed == 10);
  CHECK(d.unreachable_limited() == 90);
  CHECK(d.allow_unreachable(now + 100ms));
  CHECK_FALSE(d.allow_unreachable(now + 100ms));
}

TEST_CASE("Directory with identity sealing: a peer is sent to once its key is listed; changes are reported", "[presence][identity]") {
  PeerDirectoryConfig c;
  c.need_keys = true;
  PeerDirectory d(c);
  auto now = t0();
  auto k1 = generate_key_pair().public_key, k2 = generate_key_pair().public_key;
  d.on_heard(kPeer, now); // heard, but no key yet: cannot seal to it
  Bytes p = "p";
  CHECK(route_to(d, kPeer, p, now) == Route::wait);
  REQUIRE(d.start_listing(now));
  auto r = d.on_listed({{kPeer, k1}}, true, now);
  REQUIRE(r.size() == 1);
  CHECK(r[0].present);
  CHECK(d.key_of(kPeer) == k1);
  CHECK(d.key_with_id(kPeer, key_id(k1), now) == k1);
  CHECK_FALSE(d.key_with_id(kPeer, key_id(k2), now));
  CHECK(d.take_key_changes().empty()); // first use
  // A rotation: the new key is used from now on, the old one still opens objects for the overlap.
  d.want_listing();
  REQUIRE(d.start_listing(now + 2s));
  d.on_listed({{kPeer, k2}}, true, now + 2s);
  CHECK(d.key_of(kPeer) == k2);
  CHECK(d.key_with_id(kPeer, key_id(k1), now + 3s) == k1);
  CHECK_FALSE(d.key_with_id(kPeer, key_id(k1), now + 2s + 16min));
  auto changes = d.take_key_changes();
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].from == k1);
  CHECK(changes[0].to == k2);
  CHECK_FALSE(changes[0].refused);
  // A failed listing does not send packets that have no key to be sealed with.
  Bytes q = "q";
  CHECK(route_to(d, kNobody, q, now + 8s) == Route::wait); // the last listing is older than absent_ttl
  REQUIRE(d.start_listing(now + 8s));
  CHECK(d.on_list_failed(now + 8s).empty());
  auto t = now + 8s;
  CHECK(route_to(d, kNobody, q, t + 100ms) == Route::wait);
  // Not again at once after a failure, but soon: retry_first, doubling with each failure in a row, at
  // most fail_open. The node's timer (next_listing) says when.
  CHECK_FALSE(d.start_listing(t + 100ms));
  CHECK(d.next_listing() == t + 250ms);
  for (auto wait : {250ms, 500ms, 1000ms, 2000ms, 4000ms, 5000ms, 5000ms}) {
    CHECK(d.next_listing() == t + wait);
    CHECK_FALSE(d.start_listing(t + wait - 1ms));
    REQUIRE(d.start_listing(t + wait));
    CHECK_FALSE(d.next_listing()); // under way
    t += wait;
    CHECK(d.on_list_failed(t).empty());
  }
  // A fleet whose listings failed together does not retry together: the wait is spread over its second half.
  REQUIRE(d.start_listing(t + 5s));
  t += 5s;
  CHECK(d.on_list_failed(t, 0.0).empty());
  CHECK(d.next_listing() == t + 2500ms);
  REQUIRE(d.start_listing(t + 5s));
  auto late = d.on_listed({{kNobody, k1}}, true, t + 5s);
  CHECK_FALSE(d.next_listing()); // nobody waits, and the failures in a row are over
  REQUIRE(late.size() == 1);
  CHECK(late[0].present);
  CHECK(late[0].packets.size() == 2); // both waited, none lost
}

TEST_CASE("Directory: a pinned key is not changed by a listing, and the change is reported refused", "[presence][identity]") {
  PeerDirectoryConfig c;
  c.need_keys = true;
  PeerDirectory d(c);
  auto now = t0();
  auto pinned = generate_key_pair().public_key, forged = generate_key_pair().public_key;
  d.pin(kPeer, pinned);
  d.want_listing();
  REQUIRE(d.start_listing(now));
  d.on_listed({{kPeer, forged}}, true, now);
  CHECK(d.key_of(kPeer) == pinned);
  CHECK_FALSE(d.key_with_id(kPeer, key_id(forged), now));
  auto changes = d.take_key_changes();
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].refused);
  d.want_listing();
  REQUIRE(d.start_listing(now + 2s));
  d.on_listed({{kPeer, forged}}, true, now + 2s);
  CHECK(d.take_key_changes().empty()); // reported once, not per listing
}

TEST_CASE("Directory: listings wanted by the inbox alone are rate limited", "[presence]") {
  PeerDirectory d;
  auto now = t0();
  int started = 0;
  for (int ms = 0; ms < 10'000; ms += 10) {
    d.want_listing();
    if (d.start_listing(now + std::chrono::milliseconds(ms))) {
      ++started;
      d.on_listed({}, true, now + std::chrono::milliseconds(ms));
    }
  }
  CHECK(started == 10); // one a second
  CHECK(d.start_listing(now + 20s)); // the last wish is served later, not forgotten
  d.on_listed({}, true, now + 20s);
  CHECK_FALSE(d.start_listing(now + 30s)); // nobody wants one
}

TEST_CASE("Directory: a second record for an address changes nothing until the first is gone", "[presence][identity][hostile]") {
  PeerDirectoryConfig c;
  c.need_keys = true;
  PeerDirectory d(c);
  auto now = t0();
  auto real = generate_key_pair().public_key, forged = generate_key_pair().public_key;
  auto list = [&](std::vector<PeerKey> keys, Clock::time_point at) {
    d.want_listing();
    REQUIRE(d.start_listing(at));
    d.on_listed(keys, true, at);
  };
  list({{kPeer, real}}, now);
  CHECK(d.key_of(kPeer) == real);
  // A writer adds a record for the peer, sorting before or after the real one: nothing changes.
  list({{kPeer, forged}, {kPeer, real}}, now + 2s);
  list({{kPeer, real}, {kPeer, forged}}, now + 4s);
  CHECK(d.key_of(kPeer) == real);
  CHECK_FALSE(d.key_with_id(kPeer, key_id(forged), now + 4s));
  CHECK(d.take_key_changes().empty());
  CHECK(d.ambiguous() == 2);
  // First use while two records are listed: no key is trusted until one is left.
  PeerDirectory fresh(c);
  fresh.want_listing();
  REQUIRE(fresh.start_listing(now));
  fresh.on_listed({{kPeer, forged}, {kPeer, real}}, true, now);
  CHECK_FALSE(fresh.key_of(kPeer));
  // A rotation: the new record is written, then the old removed; the switch comes with the removal.
  list({{kPeer, real}, {kPeer, forged}}, now + 20min);
  CHECK(d.key_of(kPeer) == real);
  list({{kPeer, forged}}, now + 21min);
  CHECK(d.key_of(kPeer) == forged);
  CHECK(d.key_with_id(kPeer, key_id(real), now + 22min) == real); // the overlap
  CHECK(d.take_key_changes().size() == 1);
}

TEST_CASE("Directory: an incomplete listing proves no absence; the key table stays bounded", "[presence][identity]") {
  PeerDirectoryConfig c;
  c.need_keys = true;
  c.max_peers = 4;
  PeerDirectory d(c);
  auto now = t0();
  Bytes p = "p";
  CHECK(route_to(d, kNobody, p, now) == Route::wait);
  REQUIRE(d.start_listing(now));
  auto r = d.on_listed({{kPeer, generate_key_pair().public_key}}, false, now);
  REQUIRE(r.size() == 1);
  CHECK_FALSE(r[0].present);
  CHECK(r[0].unproven); // dropped without an ICMPv6 answer
  // Nor is the next listing at once: junk records that make every listing incomplete must not make every
  // waiting packet start another many-page listing. It backs off as after a failure.
  Bytes q = "q";
  CHECK(route_to(d, kNobody, q, now + 10ms) == Route::wait);
  CHECK_FALSE(d.start_listing(now + 10ms));
  CHECK(d.next_listing() == now + c.retry_first);
  REQUIRE(d.start_listing(now + c.retry_first));
  d.on_listed({}, false, now + c.retry_first);
  Bytes q2 = "q2";
  CHECK(route_to(d, kNobody, q2, now + c.retry_first) == Route::wait);
  CHECK(d.next_listing() == now + 3 * c.retry_first); // doubled
  REQUIRE(d.start_listing(now + 3 * c.retry_first));
  d.on_listed({}, true, now + 3 * c.retry_first);     // complete: the backoff is over
  // Junk addresses fill the table, then go: a real peer listed later still gets its key.
  for (int round = 0; round < 3; ++round) {
    std::vector<PeerKey> junk;
    for (int i = 0; i < 4; ++i) {
      auto a = kNobody;
      a.bytes[13] = static_cast<std::uint8_t>(round);
      a.bytes[15] = static_cast<std::uint8_t>(i);
      junk.push_back({a, generate_key_pair().public_key});
    }
    d.want_listing();
    REQUIRE(d.start_listing(now + std::chrono::minutes(11 * (round + 1))));
    d.on_listed(junk, true, now + std::chrono::minutes(11 * (round + 1)));
    CHECK(d.keys().size() <= 4);
  }
  auto real = generate_key_pair().public_key;
  d.want_listing();
  REQUIRE(d.start_listing(now + 50min));
  d.on_listed({{kSelf, real}}, true, now + 50min);
  CHECK(d.key_of(kSelf) == real);
}

TEST_CASE("Directory: a restored key must be listed as it was; once seen, changes are followed as rotations", "[presence][identity]") {
  auto k1 = generate_key_pair().public_key, k2 = generate_key_pair().public_key, k3 = generate_key_pair().public_key;
  PeerDirectory d;
  auto now = t0();
  d.restore(kPeer, k1);
  CHECK(d.key_of(kPeer) == k1);
  d.on_listed({{kPeer, k2}}, true, now); // replaced while we did not look
  CHECK(d.key_of(kPeer) == k1);
  CHECK(d.key_changes_refused() == 1);
  auto changes = d.take_key_changes();
  REQUIRE(changes.size() == 1);
  CHECK((changes[0].refused && changes[0].restored && changes[0].to == k2));
  d.on_listed({{kPeer, k2}}, true, now + 10s); // reported once
  CHECK(d.key_changes_refused() == 1);
  CHECK(d.take_key_changes().empty());
  CHECK_FALSE(d.take_known_changed()); // nothing new to persist

  PeerDirectory e;
  e.restore(kPeer, k1);
  e.on_listed({{kPeer, k1}}, true, now); // seen as remembered: confirmed
  e.on_listed({{kPeer, k3}}, true, now + 1min); // then a rotation in this run: followed, logged
  CHECK(e.key_of(kPeer) == k3);
  CHECK(e.key_changes_refused() == 0);
  CHECK(e.take_known_changed());
  CHECK(e.keys_known(10) == std::vector<PeerKey>{{kPeer, k3}});

  PeerDirectoryConfig c;
  c.accept_key_changes = true;
  PeerDirectory f(c);
  f.restore(kPeer, k1);
  f.on_listed({{kPeer, k2}}, true, now);
  CHECK(f.key_of(kPeer) == k2);
}

TEST_CASE("Directory: a restored key seen beside a new one is a rotation watched; known peers keep real ones first",
          "[presence][identity]") {
  auto k1 = generate_key_pair().public_key, k2 = generate_key_pair().public_key;
  PeerDirectory d;
  auto now = t0();
  d.restore(kPeer, k1);
  d.on_listed({{kPeer, k1}, {kPeer, k2}}, true, now); // the rotation under way: both records
  d.on_listed({{kPeer, k2}}, true, now + 1s);         // then the new one alone
  CHECK(d.key_of(kPeer) == k2);
  CHECK(d.key_changes_refused() == 0);
  // Junk addresses trusted on first use cannot push a peer heard from out of the file.
  std::vector<PeerKey> junk;
  for (int i = 0; i < 50; ++i) junk.push_back({addr(("fd5e::" + std::to_string(i + 1)).c_str()), generate_key_pair().public_key});
  d.on_listed(junk, true, now + 2s);
  d.on_heard(kPeer, now + 3s);
  auto kept = d.keys_known(10);
  REQUIRE(kept.size() == 10);
  CHECK(kept.front().address == kPeer);
}

#include "core/bundle.hpp"
#include "core/inbox.hpp"
#include "support/packets.hpp"

#include <catch2/catch.hpp>
#include <fmt/core.h>

using namespace hoshino::core;
using hoshino::test::addr;
using hoshino::test::ipv6_packet;
using hoshino::test::payload_of;

namespace {

const Address kSelf = addr("fd5e::1");
const Address kA = addr("fd5e::a");
const Address kB = addr("fd5e::b");
constexpr std::uint64_t kNow = 1'700'000'000'000ULL;

struct Fixture {
  InboxConfig config() {
    InboxConfig c;
    c.key_prefix = "h";
    c.self = kSelf;
    c.max_concurrent_gets = 2;
    c.max_age_ms = 60'000;
    c.start_ms = kNow - 10'000;
    c.startup_grace_ms = 5'000;
    c.stream_gap_ms = 0;             // no sender is a stream,
    c.conversation_poll_wait_ms = 0; // and polls go back to back (paced polls have tests of their own)
    return c;
  }
  std::string key(const Address& src, std::uint64_t t, std::uint64_t seq = 0) {
    // A ULID whose random part is seq, so tests control the order within a millisecond.
    UlidGenerator gen([seq] { return seq; });
    return format_key("h", {kSelf, src, gen.next(t)});
  }
  std::string body(const Address& src, std::initializer_list<const char*> payloads,
                   const std::optional<Ulid>& after = {}, const std::optional<Ulid>& next = {}) {
    std::vector<Bytes> ps;
    for (auto p : payloads) ps.push_back(ipv6_packet(src, kSelf, p));
    return encode_bundle(ps, after, next);
  }
  static Ulid ulid_of(const std::string& key) { return parse_key("h", key)->id; }
  // The LIST-and-GET path for one object.
  static void receive(Inbox& in, const std::string& key, const std::string& body, std::uint64_t now) {
    in.on_listed({key}, now);
    in.start_fetches(kNow);
    in.on_fetched(key, body, now);
  }
};

std::vector<std::string> payloads(const std::vector<Bytes>& packets) {
  std::vector<std::string> out;
  for (const auto& p : packets) out.push_back(payload_of(p));
  return out;
}

} // namespace

TEST_CASE_METHOD(Fixture, "Objects are fetched with bounded concurrency and delivered in ULID order per sender", "[inbox]") {
  Inbox in(config());
  auto k1 = key(kA, kNow - 3), k2 = key(kA, kNow - 2), k3 = key(kA, kNow - 1);
  CHECK(in.on_listed({k3, k1, k2}, kNow) == 3); // listing order does not matter
  auto f = in.start_fetches(kNow);
  REQUIRE(f == std::vector<std::string>{k1, k2}); // earliest first, two at a time
  CHECK(in.start_fetches(kNow).empty());
  in.on_fetched(k2, body(kA, {"two"}), kNow);
  CHECK(in.take_deliveries().empty()); // k1 not here yet: hold k2
  in.on_fetched(k1, body(kA, {"one", "one-b"}), kNow);
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"one", "one-b", "two"});
  REQUIRE(in.start_fetches(kNow) == std::vector<std::string>{k3});
  in.on_fetched(k3, body(kA, {"three"}), kNow);
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"three"});
  CHECK(in.take_deletions() == std::vector<std::string>{k1, k2, k3});
  CHECK(in.tracked() == 0);
}

TEST_CASE_METHOD(Fixture, "Senders do not block each other", "[inbox]") {
  Inbox in(config());
  auto a1 = key(kA, kNow - 5), b1 = key(kB, kNow - 9);
  in.on_listed({a1, b1}, kNow);
  auto f = in.start_fetches(kNow);
  REQUIRE(f.size() == 2);
  in.on_fetched(b1, body(kB, {"from-b"}), kNow);
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"from-b"});
}

TEST_CASE_METHOD(Fixture, "Keys seen again are skipped; undeleted ones are deleted again", "[inbox]") {
  Inbox in(config());
  auto k = key(kA, kNow - 1);
  in.on_listed({k}, kNow);
  in.start_fetches(kNow);
  CHECK(in.on_listed({k}, kNow) == 0); // in progress: not new
  in.on_fetched(k, body(kA, {"x"}), kNow);
  CHECK(in.take_deliveries().size() == 1);
  auto del = in.take_deletions();
  REQUIRE(del == std::vector<std::string>{k});
  CHECK(in.on_listed({k}, kNow) == 0); // listed while the delete is in flight: nothing
  CHECK(in.pending_deletions() == 0);
  in.on_deleted(del);                  // the delete "failed" (the key is still listed)
  CHECK(in.on_listed({k}, kNow) == 0);
  CHECK(in.take_deletions() == std::vector<std::string>{k}); // delete again, never deliver again
  CHECK(in.start_fetches(kNow).empty());
  CHECK(in.take_deliveries().empty());
}

TEST_CASE_METHOD(Fixture, "Old and stale objects are dropped unread and deleted", "[inbox]") {
  Inbox in(config());
  auto old = key(kA, kNow - 61'000);
  auto stale = key(kA, kNow - 16'000); // before start (now-10s) minus grace (5s)
  auto fresh = key(kA, kNow - 14'000); // within the grace
  CHECK(in.on_listed({old, stale, fresh}, kNow) == 1);
  CHECK(in.dropped(DropReason::too_old) == 1);
  CHECK(in.dropped(DropReason::stale) == 1);
  auto del = in.take_deletions();
  CHECK(del.size() == 2);
  CHECK(in.start_fetches(kNow) == std::vector<std::string>{fresh});
}

TEST_CASE_METHOD(Fixture, "Malformed keys and bodies are dropped, deleted, and do not block", "[inbox]") {
  Inbox in(config());
  auto k1 = key(kA, kNow - 3), k2 = key(kA, kNow - 2);
  std::string junk_key = "h/" + kSelf.hex() + "/not-a-sender/xyz";
  in.on_listed({junk_key, k1, k2}, kNow);
  CHECK(in.dropped(DropReason::malformed_key) == 1);
  in.start_fetches(kNow);
  in.on_fetched(k1, "random bytes that are not a bundle", kNow);
  in.on_fetched(k2, body(kA, {"ok"}), kNow);
  CHECK(in.dropped(DropReason::malformed_body) == 1);
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"ok"});
  CHECK(in.take_deletions().size() == 3);
}

TEST_CASE_METHOD(Fixture, "Packets are checked: IPv6, to this node, from the sender in the key", "[inbox]") {
  Inbox in(config());
  auto k = key(kA, kNow - 1);
  in.on_listed({k}, kNow);
  in.start_fetches(kNow);
  std::vector<Bytes> ps{ipv6_packet(kA, kSelf, "good"), ipv6_packet(kB, kSelf, "spoofed"),
                        ipv6_packet(kA, addr("fd5e::99"), "elsewhere"), Bytes("\x45not ipv6")};
  in.on_fetched(k, encode_bundle(ps), kNow);
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"good"});
  CHECK(in.dropped(DropReason::spoofed_source) == 1);
  CHECK(in.dropped(DropReason::wrong_destination) == 1);
  CHECK(in.dropped(DropReason::not_ipv6) == 1);
}

TEST_CASE_METHOD(Fixture, "Failed GETs are retried with backoff until the object is too old, then skipped in order", "[inbox]") {
  auto c = config();
  c.retry_base_ms = 100;
  c.retry_max_ms = 1'000;
  Inbox in(c);
  auto k1 = key(kA, kNow - 2), k2 = key(kA, kNow - 1);
  in.on_listed({k1, k2}, kNow);
  in.start_fetches(kNow);
  in.on_fetched(k2, body(kA, {"second"}), kNow);
  // A SlowDown burst: many quick failures do not lose the object, they space its GETs out.
  std::uint64_t t = kNow;
  std::uint64_t last_delay = 0;
  for (int i = 0; i < 8; ++i) {
    in.on_fetch_failed(k1, FetchError::transient, t);
    REQUIRE(in.next_wakeup_ms());
    std::uint64_t delay = *in.next_wakeup_ms() - t;
    CHECK(delay >= last_delay);
    CHECK(delay <= 1'000);
    last_delay = delay;
    CHECK(in.start_fetches(t + delay - 1).empty()); // not before its time
    t += delay;
    REQUIRE(in.start_fetches(t) == std::vector<std::string>{k1});
  }
  CHECK(last_delay == 1'000);
  CHECK(in.dropped(DropReason::fetch_failed) == 0);
  CHECK(in.take_deliveries().empty()); // "second" waits for k1
  in.on_fetched(k1, body(kA, {"first"}), t);
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"first", "second"});
  CHECK(in.retrying() == 0);
}

TEST_CASE_METHOD(Fixture, "A GET that keeps failing is given up at the age limit; a missing object at once", "[inbox]") {
  Inbox in(config());
  auto k1 = key(kA, kNow - 3), k2 = key(kA, kNow - 2), k3 = key(kA, kNow - 1);
  in.on_listed({k1, k2, k3}, kNow);
  in.start_fetches(kNow);
  in.on_fetch_failed(k1, FetchError::gone, kNow); // 404: nothing to wait for
  CHECK(in.dropped(DropReason::fetch_failed) == 1);
  in.on_fetch_failed(k2, FetchError::transient, kNow + 60'001); // past max_age_ms: given up
  CHECK(in.dropped(DropReason::fetch_failed) == 2);
  in.start_fetches(kNow);
  in.on_fetched(k3, body(kA, {"third"}), kNow + 60'001);
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"third"});
  CHECK(in.next_wakeup_ms() == std::nullopt);
}

TEST_CASE_METHOD(Fixture, "Tracking is bounded; untracked objects wait for a later listing", "[inbox]") {
  auto c = config();
  c.max_tracked = 3;
  c.remember = 2;
  Inbox in(c);
  std::vector<ListedObject> keys;
  for (int i = 0; i < 10; ++i) keys.emplace_back(key(kA, kNow - 100 + i));
  CHECK(in.on_listed(keys, kNow) == 3);
  CHECK(in.tracked() == 3);
  // The rest are offered again by later listings once there is room, and every object is delivered
  // exactly once although the handled-keys memory (2) is far smaller than the listing.
  std::size_t rounds = 0;
  while (in.delivered_objects() < 10 && ++rounds < 20) {
    for (const auto& k : in.start_fetches(kNow)) in.on_fetched(k, body(kA, {k.c_str()}), kNow);
    CHECK(in.tracked() <= 3);
    in.on_listed(keys, kNow); // the deletes have not gone out: the whole listing again
  }
  CHECK(in.delivered_objects() == 10);
  auto got = payloads(in.take_deliveries());
  std::vector<std::string> want;
  for (const auto& k : keys) want.push_back(k.key);
  CHECK(got == want);
  CHECK(in.tracked() == 0);
  for (int i = 0; i < 3; ++i) in.on_listed(keys, kNow);
  CHECK(in.take_deliveries().empty());
}

TEST_CASE_METHOD(Fixture, "Oversized objects are dropped unread", "[inbox]") {
  auto c = config();
  c.max_object_bytes = 1000;
  Inbox in(c);
  auto big = key(kA, kNow - 2), ok = key(kA, kNow - 1);
  CHECK(in.on_listed({ListedObject(big, 5000), ListedObject(ok, 100)}, kNow) == 1);
  CHECK(in.dropped(DropReason::oversized) == 1);
  CHECK(in.start_fetches(kNow) == std::vector<std::string>{ok});
  CHECK(in.take_deletions() == std::vector<std::string>{big});
}

TEST_CASE_METHOD(Fixture, "Inlined objects are read from the listing, in ULID order with fetched ones", "[inbox][inline]") {
  Inbox in(config());
  UlidGenerator gen([] { return 1; });
  auto k1 = key(kA, kNow - 3);
  ObjectKey inl{kSelf, kA, gen.next(kNow - 2)};
  inl.inline_body = ipv6_packet(kA, kSelf, "inline two");
  auto k2 = format_key("h", inl);
  CHECK(in.on_listed({k2, k1}, kNow) == 2);
  CHECK(in.inlined_objects() == 1);
  CHECK(in.start_fetches(kNow) == std::vector<std::string>{k1}); // only the object with a body is fetched
  CHECK(in.take_deliveries().empty());                        // the inline one waits for k1
  in.on_fetched(k1, body(kA, {"one"}), kNow);
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"one", "inline two"});
  CHECK(in.take_deletions() == std::vector<std::string>{k1, k2});
  CHECK(in.on_listed({k2}, kNow) == 0); // consumed: not delivered again
  CHECK(in.take_deliveries().empty());
  // An inlined packet from someone else than the key's sender is refused like a fetched one.
  ObjectKey spoof{kSelf, kB, gen.next(kNow - 1)};
  spoof.inline_body = ipv6_packet(kA, kSelf, "spoofed");
  in.on_listed({format_key("h", spoof)}, kNow);
  CHECK(in.take_deliveries().empty());
  CHECK(in.dropped(DropReason::spoofed_source) == 1);
}

TEST_CASE_METHOD(Fixture, "Inlined objects must be sealed under their base key when a key is shared", "[inbox][inline][psk]") {
  auto c = config();
  Psk psk;
  psk.fill(9);
  c.psk = psk;
  Inbox in(c);
  UlidGenerator gen([] { return 2; });
  ObjectKey good{kSelf, kA, gen.next(kNow - 3)};
  Nonce nonce{};
  good.inline_body = seal(psk, base_key("h", good), ipv6_packet(kA, kSelf, "sealed"), nonce);
  ObjectKey plain{kSelf, kA, gen.next(kNow - 2)};
  plain.inline_body = ipv6_packet(kA, kSelf, "plain");
  ObjectKey moved{kSelf, kA, gen.next(kNow - 1)};
  moved.inline_body = good.inline_body; // sealed for another ULID
  in.on_listed({format_key("h", good), format_key("h", plain), format_key("h", moved)}, kNow);
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"sealed"});
  CHECK(in.dropped(DropReason::unsealed) == 1);
  CHECK(in.dropped(DropReason::bad_seal) == 1);
  CHECK(in.take_deletions().size() == 3);
}

TEST_CASE_METHOD(Fixture, "An object that becomes visible after a later one is delivered, and counted", "[inbox]") {
  Inbox in(config());
  auto k1 = key(kA, kNow - 3), k2 = key(kA, kNow - 2), k3 = key(kA, kNow - 1);
  receive(in, k2, body(kA, {"two"}), kNow); // k1's PUT is still on its way
  in.on_listed({k1, k3}, kNow);
  in.start_fetches(kNow);
  in.on_fetched(k1, body(kA, {"one"}), kNow);
  in.on_fetched(k3, body(kA, {"three"}), kNow);
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"two", "one", "three"});
  CHECK(in.out_of_order() == 1);
}

TEST_CASE_METHOD(Fixture, "An object waits for the predecessor it names, which arrives in a later LIST", "[inbox][order]") {
  Inbox in(config());
  auto k1 = key(kA, kNow - 3), k2 = key(kA, kNow - 2), k3 = key(kA, kNow - 1);
  // k1 was still being PUT when k2 was sent, and k2 landed first.
  receive(in, k2, body(kA, {"two"}, ulid_of(k1)), kNow);
  CHECK(in.take_deliveries().empty());
  CHECK(in.held() == 1);
  in.on_listed({k1, k2, k3}, kNow + 5);
  for (const auto& k : in.start_fetches(kNow)) {
    if (k == k1) in.on_fetched(k1, body(kA, {"one"}), kNow + 6);
    if (k == k3) in.on_fetched(k3, body(kA, {"three"}, ulid_of(k2)), kNow + 6);
  }
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"one", "two", "three"});
  CHECK(in.out_of_order() == 0);
  CHECK(in.held() == 1);          // k3's predecessor was through already: no wait
  CHECK(in.hold_expired() == 0);
  CHECK(in.tracked() == 0);
}

TEST_CASE_METHOD(Fixture, "A predecessor that never shows up holds its follower only for the hold time", "[inbox][order]") {
  auto c = config();
  c.reorder_hold_ms = 100;
  Inbox in(c);
  auto k1 = key(kA, kNow - 3), k2 = key(kA, kNow - 2), k3 = key(kA, kNow - 1);
  receive(in, k2, body(kA, {"two"}, ulid_of(k1)), kNow);
  in.on_listed({k2, k3}, kNow + 50); // still within the hold: k3 queues behind k2
  in.start_fetches(kNow);
  in.on_fetched(k3, body(kA, {"three"}), kNow + 50);
  CHECK(in.take_deliveries().empty());
  REQUIRE(in.next_wakeup_ms() == kNow + 100); // when to look again, with no LIST needed
  in.on_tick(kNow + 99);
  CHECK(in.take_deliveries().empty());
  in.on_tick(kNow + 100); // hold over: delivered without k1
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"two", "three"});
  CHECK(in.next_wakeup_ms() == std::nullopt);
  CHECK(in.hold_expired() == 1);
  receive(in, k1, body(kA, {"one"}), kNow + 200); // k1 after all: still delivered, and counted as late
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"one"});
  CHECK(in.out_of_order() == 1);
}

TEST_CASE_METHOD(Fixture, "A predecessor that was dropped unread does not hold its follower", "[inbox][order]") {
  Inbox in(config());
  auto k1 = key(kA, kNow - 3), k2 = key(kA, kNow - 2);
  in.on_listed({k1, k2}, kNow);
  auto f = in.start_fetches(kNow);
  REQUIRE(f.size() == 2);
  in.on_fetched(k1, "not a bundle", kNow);               // malformed: passed over, in order
  in.on_fetched(k2, body(kA, {"two"}, ulid_of(k1)), kNow);
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"two"});
  CHECK(in.held() == 0);
  CHECK(in.dropped(DropReason::malformed_body) == 1);
}

TEST_CASE_METHOD(Fixture, "An announced successor is polled; a hit is delivered without a LIST", "[inbox][chain]") {
  Inbox in(config());
  auto k1 = key(kA, kNow - 3), k2 = key(kA, kNow - 2, 5), k3 = key(kA, kNow - 2, 9);
  CHECK(in.start_polls(kNow).empty()); // nothing announced yet
  CHECK_FALSE(in.chained(kNow));
  receive(in, k1, body(kA, {"one"}, std::nullopt, ulid_of(k2)), kNow);
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"one"});
  CHECK(in.chained(kNow));
  CHECK(in.start_polls(kNow) == std::vector<std::string>{k2});
  CHECK(in.start_polls(kNow).empty()); // one poll per key at a time
  in.on_poll_missed(k2, false, kNow); // not there yet
  CHECK(in.start_polls(kNow + 1) == std::vector<std::string>{k2});
  in.on_polled(k2, body(kA, {"two"}, std::nullopt, ulid_of(k3)), kNow + 2);
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"two"});
  CHECK(in.take_deletions() == std::vector<std::string>{k1, k2}); // a polled object is deleted like any
  CHECK(in.start_polls(kNow + 2) == std::vector<std::string>{k3}); // the chain moves on
  CHECK(in.poll_hits() == 1);
  CHECK(in.poll_misses() == 1);
  CHECK(in.poll_errors() == 0);
  // A LIST that still shows the polled object does not deliver it twice.
  CHECK(in.on_listed({k2}, kNow + 3) == 0);
  CHECK(in.take_deliveries().empty());
}

TEST_CASE_METHOD(Fixture, "An announced key is polled only for the chain TTL", "[inbox][chain]") {
  auto c = config();
  c.chain_ttl_ms = 1000;
  Inbox in(c);
  auto k1 = key(kA, kNow - 3), k2 = key(kA, kNow - 2);
  receive(in, k1, body(kA, {"one"}, std::nullopt, ulid_of(k2)), kNow);
  in.start_polls(kNow + 999);
  in.on_poll_missed(k2, true, kNow + 999); // an error keeps the key announced, like a miss
  CHECK(in.poll_errors() == 1);
  CHECK(in.chained(kNow + 999));
  CHECK_FALSE(in.chained(kNow + 1000)); // the sender will not use it any more: LIST finds what comes
  CHECK(in.start_polls(kNow + 1000).empty());
}

TEST_CASE_METHOD(Fixture, "A streaming sender's next key is polled again after a miss at an eighth of its cadence", "[inbox][chain]") {
  auto c = config();
  c.stream_gap_ms = 100;
  Inbox in(c);
  // A sender that makes an object every 40 ms (the times in its ULIDs), however they arrive here.
  std::uint64_t t = kNow;
  std::vector<std::string> keys;
  for (int i = 0; i < 8; ++i) keys.push_back(key(kA, kNow - 1000 + 40 * static_cast<std::uint64_t>(i), 1));
  receive(in, keys[0], body(kA, {"0"}, std::nullopt, ulid_of(keys[1])), t);
  for (std::size_t i = 1; i + 1 < keys.size(); ++i) {
    t += 3; // arriving in a burst: polled at once after each hit, the next may be there already
    REQUIRE(in.polls_due(t));
    REQUIRE(in.start_polls(t) == std::vector<std::string>{keys[i]});
    in.on_polled(keys[i], body(kA, {"x"}, std::nullopt, ulid_of(keys[i + 1])), t);
  }
  in.take_deliveries();
  REQUIRE(in.start_polls(t) == std::vector<std::string>{keys.back()});
  // A miss: asked again after an eighth of the cadence (5 ms), not back to back.
  in.on_poll_missed(keys.back(), false, t);
  CHECK_FALSE(in.polls_due(t + 4));
  REQUIRE(in.next_poll_ms(t).has_value());
  CHECK(*in.next_poll_ms(t) == t + 5);
  CHECK(in.start_polls(t + 5) == std::vector<std::string>{keys.back()});
  // A conversation (objects made a second apart) is not paced by its cadence: its reply is polled
  // again in the next millisecond after a miss (back to back with the experiment's switch).
  for (std::uint64_t wait : {std::uint64_t{1}, std::uint64_t{0}}) {
    auto cc = c;
    cc.conversation_poll_wait_ms = wait;
    Inbox slow(cc);
    auto s0 = key(kA, kNow - 3000, 1), s1 = key(kA, kNow - 2000, 1), s2 = key(kA, kNow - 1000, 1);
    receive(slow, s0, body(kA, {"0"}, std::nullopt, ulid_of(s1)), kNow);
    slow.start_polls(kNow);
    slow.on_polled(s1, body(kA, {"1"}, std::nullopt, ulid_of(s2)), kNow);
    REQUIRE(slow.start_polls(kNow) == std::vector<std::string>{s2});
    slow.on_poll_missed(s2, false, kNow);
    CHECK(slow.polls_due(kNow) == (wait == 0));
    CHECK(slow.polls_due(kNow + 1));
    CHECK(slow.start_polls(kNow + 1) == std::vector<std::string>{s2});
  }
}

TEST_CASE_METHOD(Fixture, "Polls and LISTs that find the same object deliver it once", "[inbox][chain]") {
  Inbox in(config());
  auto k1 = key(kA, kNow - 3), k2 = key(kA, kNow - 2), k3 = key(kA, kNow - 1);
  receive(in, k1, body(kA, {"one"}, std::nullopt, ulid_of(k2)), kNow);
  in.take_deliveries();
  // A LIST sees k2 before any poll asked for it: it is not polled, and its GET is made.
  CHECK(in.on_listed({k2}, kNow + 1) == 1);
  CHECK(in.start_polls(kNow + 1).empty());
  CHECK(in.start_fetches(kNow) == std::vector<std::string>{k2});
  in.on_fetched(k2, body(kA, {"two"}, std::nullopt, ulid_of(k3)), kNow + 2);
  // A poll that was already asking for k3 when a LIST found it: the poll's body is used, no GET.
  CHECK(in.start_polls(kNow + 2) == std::vector<std::string>{k3});
  CHECK(in.on_listed({k3}, kNow + 3) == 1);
  in.on_polled(k3, body(kA, {"three"}), kNow + 3);
  CHECK(in.start_fetches(kNow).empty());
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"two", "three"});
  CHECK(in.tracked() == 0);
}

TEST_CASE_METHOD(Fixture, "Polled objects pass the same checks as listed ones", "[inbox][chain]") {
  Inbox in(config());
  auto k1 = key(kA, kNow - 3), k2 = key(kA, kNow - 2);
  receive(in, k1, body(kA, {"one"}, std::nullopt, ulid_of(k2)), kNow);
  in.take_deliveries();
  REQUIRE(in.start_polls(kNow) == std::vector<std::string>{k2});
  in.on_polled(k2, body(kB, {"spoofed"}), kNow); // a packet claiming another source
  CHECK(in.take_deliveries().empty());
  CHECK(in.dropped(DropReason::spoofed_source) == 1);
  in.on_polled(k2, body(kA, {"again"}), kNow); // consumed: not taken twice
  CHECK(in.take_deliveries().empty());
}

TEST_CASE_METHOD(Fixture, "Announcements that go backwards are ignored, and the table is bounded", "[inbox][chain]") {
  auto c = config();
  c.max_chains = 1;
  Inbox in(c);
  auto k1 = key(kA, kNow - 3), k0 = key(kA, kNow - 4);
  receive(in, k1, body(kA, {"one"}, std::nullopt, ulid_of(k0)), kNow); // "next" before itself
  CHECK_FALSE(in.chained(kNow));
  auto b1 = key(kB, kNow - 3), b2 = key(kB, kNow - 2);
  auto a3 = key(kA, kNow - 1), a4 = key(kA, kNow);
  in.on_listed({a3, b1}, kNow);
  in.start_fetches(kNow);
  in.on_fetched(a3, body(kA, {"a"}, std::nullopt, ulid_of(a4)), kNow);
  in.on_fetched(b1, body(kB, {"b"}, std::nullopt, ulid_of(b2)), kNow); // no room: B is found by LIST
  CHECK(in.start_polls(kNow) == std::vector<std::string>{a4});
}

// --- Identity is (sender, ULID): what a bucket writer without the key can try --------------------------

namespace {

// The inline spelling of key(src, t, seq), carrying one packet in the key.
std::string inline_key(const std::string& bare, const Address& src, const char* payload) {
  auto k = *parse_key("h", bare);
  k.inline_body = ipv6_packet(src, kSelf, payload);
  return format_key("h", k);
}

} // namespace

TEST_CASE_METHOD(Fixture, "Re-spelled pairs take one slot each and cannot jam the inbox", "[inbox][replay]") {
  auto c = config(); // max_tracked 4096, all of it for one sender here (shares are tested on their own)
  c.max_tracked_per_sender = c.max_tracked;
  Inbox in(c);
  // 3000 pairs: the bare key (with a body) and the inline key of the same ULID.
  std::vector<ListedObject> listing;
  for (int i = 0; i < 3000; ++i) {
    auto bare = key(kA, kNow - 5'000 + static_cast<std::uint64_t>(i));
    listing.emplace_back(bare, 100);
    listing.emplace_back(inline_key(bare, kA, "inline"));
  }
  in.on_listed(listing, kNow);
  CHECK(in.tracked() == 3000); // one per ULID
  for (int round = 0; round < 3000 && in.tracked() > 0; ++round)
    for (const auto& k : in.start_fetches(kNow)) in.on_fetched(k, body(kA, {"bare"}), kNow);
  CHECK(in.tracked() == 0);
  CHECK(in.delivered_objects() == 3000);
  in.take_deliveries();
  // Listed again: every second spelling is refused as a replay, and deleted.
  in.on_listed(listing, kNow);
  CHECK(in.dropped(DropReason::replayed) == 3000);
  CHECK(in.take_deliveries().empty());
  CHECK(in.tracked() == 0);
  // Other senders and the same sender still get through.
  auto b = key(kB, kNow - 1), a = key(kA, kNow - 1);
  receive(in, b, body(kB, {"from b"}), kNow);
  receive(in, a, body(kA, {"from a"}), kNow);
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"from b", "from a"});
}

TEST_CASE_METHOD(Fixture, "A consumed object re-PUT under the other spelling is not delivered again", "[inbox][replay][psk]") {
  auto psk = GENERATE(false, true);
  auto c = config();
  if (psk) c.psk = Psk{7};
  Inbox in(c);
  auto bare = key(kA, kNow - 1);
  // The sender's inline object: its body (sealed under the base key when a key is shared) in the key.
  Bytes plain = ipv6_packet(kA, kSelf, "once");
  Bytes inline_body = psk ? seal(*c.psk, bare, plain, Nonce{1}) : plain;
  auto k = *parse_key("h", bare);
  k.inline_body = inline_body;
  auto inl = format_key("h", k);
  in.on_listed({inl}, kNow);
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"once"});
  // A writer copies the decoded body to the bare key (the seal binds the base key, so it opens).
  in.on_listed({ListedObject(bare, inline_body.size())}, kNow);
  for (const auto& f : in.start_fetches(kNow)) in.on_fetched(f, inline_body, kNow);
  CHECK(in.take_deliveries().empty());
  CHECK(in.dropped(DropReason::replayed) == 1);
  CHECK(in.take_deletions() == std::vector<std::string>{inl, bare});
}

TEST_CASE_METHOD(Fixture, "Refused junk cannot push real objects out of the replay memory", "[inbox][replay][psk]") {
  auto c = config();
  c.psk = Psk{7};
  c.remember = 16; // the handled-keys memory is small and evictable: it only saves work
  Inbox in(c);
  auto real = key(kA, kNow - 2);
  auto sealed = seal(*c.psk, real, body(kA, {"real"}), Nonce{1});
  receive(in, real, sealed, kNow);
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"real"});
  // A flood of forged objects (no key): each is read, refused and forgotten again.
  for (int i = 0; i < 1000; ++i) {
    auto junk = key(kB, kNow - 3'000 + static_cast<std::uint64_t>(i));
    receive(in, junk, "HSNE\x01 not a real seal, but it looks like one", kNow);
  }
  CHECK(in.dropped(DropReason::bad_seal) == 1000);
  // The real object, replayed under its own key after the flood.
  receive(in, real, sealed, kNow);
  CHECK(in.take_deliveries().empty());
  CHECK(in.dropped(DropReason::replayed) == 1);
}

TEST_CASE_METHOD(Fixture, "A squatter's refused object does not consume the real object's identity", "[inbox][replay][psk]") {
  auto c = config();
  c.psk = Psk{7};
  Inbox in(c);
  auto bare = key(kA, kNow - 1);
  auto k = *parse_key("h", bare);
  k.inline_body = seal(*c.psk, bare, ipv6_packet(kA, kSelf, "real"), Nonce{1});
  auto inl = format_key("h", k);
  // The squatter's bare object sorts first and is tracked; the real inline one waits its turn.
  in.on_listed({ListedObject(bare, 50), ListedObject(inl)}, kNow);
  for (const auto& f : in.start_fetches(kNow)) in.on_fetched(f, "HSNE\x01 forged", kNow);
  CHECK(in.dropped(DropReason::bad_seal) == 1);
  in.on_listed({ListedObject(bare, 50), ListedObject(inl)}, kNow); // the squatter's delete has not gone out
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"real"});
  CHECK(in.dropped(DropReason::replayed) == 0);
}

TEST_CASE_METHOD(Fixture, "A restarted inbox refuses what the previous one consumed", "[inbox][replay]") {
  auto c = config();
  c.start_ms = kNow - 1'000; // everything below is within the startup grace of the new inbox too
  Inbox before(c);
  auto k1 = key(kA, kNow - 3), k2 = key(kA, kNow - 2), k3 = key(kA, kNow - 1);
  receive(before, k1, body(kA, {"1"}), kNow);
  receive(before, k2, body(kA, {"2"}), kNow);
  auto saved = before.take_replay_changes();
  REQUIRE(saved.size() == 1);
  CHECK(saved[0].sender == kA);
  CHECK(saved[0].id == ulid_of(k2));
  CHECK(before.take_replay_changes().empty()); // reported once

  c.start_ms = kNow;
  Inbox after(c);
  for (const auto& [sender, id] : saved) after.restore(sender, id, kNow);
  receive(after, k1, body(kA, {"1"}), kNow);
  receive(after, k2, body(kA, {"2"}), kNow);
  receive(after, k3, body(kA, {"3"}), kNow);
  CHECK(payloads(after.take_deliveries()) == std::vector<std::string>{"3"});
  CHECK(after.dropped(DropReason::replayed) == 2);
}

TEST_CASE_METHOD(Fixture, "Objects dated further ahead than clocks differ are refused", "[inbox][replay]") {
  Inbox in(config()); // max_future_ms 10 s
  auto ahead = key(kA, kNow + 10'001), near = key(kA, kNow + 9'000);
  CHECK(in.on_listed({ahead, near}, kNow) == 1);
  CHECK(in.dropped(DropReason::from_future) == 1);
  CHECK(in.take_deletions() == std::vector<std::string>{ahead});
}

TEST_CASE_METHOD(Fixture, "A GET cut at the size cap drops the object as oversized; a poll's too", "[inbox]") {
  Inbox in(config());
  auto k = key(kA, kNow - 2);
  in.on_listed({ListedObject(k, 10)}, kNow); // listed small, grew before the GET
  in.start_fetches(kNow);
  in.on_fetch_failed(k, FetchError::too_large, kNow);
  CHECK(in.dropped(DropReason::oversized) == 1);
  CHECK(in.tracked() == 0);
  auto polled = key(kA, kNow - 1);
  in.on_poll_too_large(polled, kNow);
  CHECK(in.dropped(DropReason::oversized) == 2);
  CHECK(in.take_deletions() == std::vector<std::string>{k, polled});
}

TEST_CASE_METHOD(Fixture, "A thousand junk spellings of one ULID are refused in one listing, not one per LIST", "[inbox][replay][psk]") {
  auto c = config();
  c.psk = Psk{7};
  Inbox in(c);
  auto bare = key(kA, kNow - 1);
  std::vector<ListedObject> listing{ListedObject(bare, 100)};
  for (int i = 0; i < 1000; ++i) {
    auto k = *parse_key("h", bare);
    k.inline_body = Bytes("junk " + std::to_string(i));
    listing.emplace_back(format_key("h", k));
  }
  CHECK(in.on_listed(listing, kNow) == 1);              // the bare one is tracked
  CHECK(in.dropped(DropReason::unsealed) == 1000);      // the rest judged at once: no key, no seal
  CHECK(in.take_deletions().size() == 1000);
  CHECK(in.on_listed(listing, kNow) == 0);              // listed again: skipped quietly
  CHECK(in.dropped(DropReason::unsealed) == 1000);
}

TEST_CASE_METHOD(Fixture, "A due retry does not wake the node while every GET slot is taken", "[inbox]") {
  Inbox in(config()); // 2 GETs at a time
  auto k1 = key(kA, kNow - 3), k2 = key(kB, kNow - 2), k3 = key(kB, kNow - 1);
  in.on_listed({k1, k2, k3}, kNow);
  REQUIRE(in.start_fetches(kNow).size() == 2); // k1, k2
  in.on_fetch_failed(k1, FetchError::transient, kNow);
  REQUIRE(in.start_fetches(kNow).size() == 1); // k3 takes the freed slot; k1 waits for its retry
  CHECK(in.next_wakeup_ms() == std::nullopt);   // due or not, no slot: the next GET's end looks again
  in.on_fetched(k2, body(kB, {"b"}), kNow);
  CHECK(in.next_wakeup_ms().has_value());
}

TEST_CASE_METHOD(Fixture, "An announced key that answered with junk is not polled again", "[inbox][chain][psk]") {
  auto c = config();
  c.psk = Psk{7};
  Inbox in(c);
  auto k1 = key(kA, kNow - 2);
  auto next = ulid_of(key(kA, kNow - 1, 5));
  receive(in, k1, seal(*c.psk, k1, body(kA, {"one"}, std::nullopt, next), Nonce{1}), kNow);
  auto polls = in.start_polls(kNow);
  REQUIRE(polls.size() == 1);
  in.on_polled(polls[0], "HSNE\x01 a squatter's object", kNow);
  CHECK(in.dropped(DropReason::bad_seal) == 1);
  CHECK(in.start_polls(kNow + 10).empty()); // not asked again on every beat
  CHECK_FALSE(in.chained(kNow + 10));
}

TEST_CASE_METHOD(Fixture, "By default a conversation's next key is polled a millisecond after each miss or error", "[inbox][chain]") {
  auto c = config();
  c.stream_gap_ms = 100;
  c.conversation_poll_wait_ms = InboxConfig{}.conversation_poll_wait_ms; // the default: 1
  Inbox in(c);
  auto k1 = key(kA, kNow - 2000, 1), k2 = key(kA, kNow - 1000, 1);
  receive(in, k1, body(kA, {"0"}, std::nullopt, ulid_of(k2)), kNow);
  // Each poll answered "not yet" 1 ms after it started, for a second: one poll per 2 ms, not per 1 ms.
  std::uint64_t t = kNow;
  int polls = 0;
  while (t < kNow + 1000) {
    auto due = in.polls_due(t) ? std::optional<std::uint64_t>(t) : in.next_poll_ms(t);
    REQUIRE(due);
    CHECK(*due <= t + 1); // never longer than the wait
    t = std::max(t, *due);
    REQUIRE(in.start_polls(t) == std::vector<std::string>{k2});
    ++polls;
    t += 1;
    in.on_poll_missed(k2, false, t);
  }
  CHECK(polls == 501); // at 0, 2, 4, ... 1000 ms
  // Sending to the peer (a reply is expected) polls at once, whatever the wait.
  CHECK_FALSE(in.polls_due(t));
  in.on_sent_to(kA);
  CHECK(in.polls_due(t));
  // A failed poll (a 503 SlowDown, a timeout) waits as a miss does: the next GET is not sent at once.
  REQUIRE(in.start_polls(t) == std::vector<std::string>{k2});
  in.on_poll_missed(k2, true, t + 1);
  CHECK_FALSE(in.polls_due(t + 1));
  CHECK(in.polls_due(t + 2));
}

TEST_CASE_METHOD(Fixture, "A flood from one sender takes its share of the slots; another sender's object is still taken and fetched first",
                 "[inbox][hostile]") {
  auto c = config();
  c.max_tracked = 400;
  c.max_tracked_per_sender = 100;
  Inbox in(c);
  // B was heard from before (an authentic object consumed): it holds a key.
  receive(in, key(kB, kNow - 3'000), body(kB, {"earlier"}), kNow);
  in.take_deliveries();
  // A stolen key's flood: A lists 1000 objects at once, and objects under 300 made-up senders follow.
  std::vector<ListedObject> flood;
  for (std::uint64_t i = 0; i < 1000; ++i) flood.emplace_back(key(kA, kNow - 5'000, i), 100);
  for (int s = 0; s < 300; ++s) flood.emplace_back(key(addr(fmt::format("fd5e::7:{:x}", s).c_str()), kNow - 4'000), 100);
  in.on_listed(flood, kNow);
  CHECK(in.tracked() == 100 + 300);                          // A's share, and one per made-up sender
  CHECK(in.not_tracked(NotTracked::sender_share) == 900);
  // B's next object: every slot is taken, by senders never heard from before: one gives its slot up.
  auto b = key(kB, kNow - 1);
  in.on_listed({ListedObject(b, 100)}, kNow);
  CHECK(in.not_tracked(NotTracked::evicted) == 1);
  CHECK(in.tracked() == 400);
  // B's object is the first GET, ahead of 400 others that came before it.
  auto first = in.start_fetches(kNow);
  REQUIRE_FALSE(first.empty());
  CHECK(first.front() == b);
  in.on_fetched(b, body(kB, {"through"}), kNow);
  CHECK(payloads(in.take_deliveries()) == std::vector<std::string>{"through"});
}

TEST_CASE_METHOD(Fixture, "Senders take turns for the GET slots, from where the last round stopped", "[inbox]") {
  auto c = config();
  c.max_concurrent_gets = 2;
  Inbox in(c);
  const Address kC = addr("fd5e::c");
  std::vector<ListedObject> listing;
  for (std::uint64_t i = 0; i < 10; ++i) listing.emplace_back(key(kA, kNow - 5'000, i), 100); // A sorts first
  listing.emplace_back(key(kB, kNow - 5'000), 100);
  listing.emplace_back(key(kC, kNow - 5'000), 100);
  in.on_listed(listing, kNow);
  std::vector<Address> served;
  for (int round = 0; round < 3; ++round)
    for (const auto& k : in.start_fetches(kNow)) {
      served.push_back(parse_key("h", k)->src);
      in.on_fetched(k, body(parse_key("h", k)->src, {"x"}), kNow);
    }
  // Before: A's ten objects first. Now B and C are served within the first two rounds.
  CHECK(std::count(served.begin(), served.begin() + 4, kB) == 1);
  CHECK(std::count(served.begin(), served.begin() + 4, kC) == 1);
}

TEST_CASE_METHOD(Fixture, "Fetched bodies not yet handed over are bounded per sender and node-wide", "[inbox][hostile]") {
  auto c = config();
  c.max_concurrent_gets = 8;
  c.max_object_bytes = 1000;
  c.max_undelivered_bytes = 4000;
  c.max_undelivered_bytes_per_sender = 2000;
  Inbox in(c);
  // A's first object never arrives (its GET keeps failing), so everything after it waits: the sender's
  // budget stops its GETs at 2000 bytes, plus its first object.
  std::vector<ListedObject> listing;
  for (std::uint64_t i = 0; i < 20; ++i) listing.emplace_back(key(kA, kNow - 5'000, i), 900);
  in.on_listed(listing, kNow);
  auto got = in.start_fetches(kNow);
  CHECK(got.size() == 2); // 1800 of 2000 bytes: a third would pass the sender's bound
  CHECK(in.undelivered_bytes() == 1800);
  in.on_fetch_failed(got[0], FetchError::transient, kNow);
  for (std::size_t i = 1; i < got.size(); ++i) in.on_fetched(got[i], body(kA, {"held back"}), kNow);
  CHECK(in.take_deliveries().empty());
  CHECK(in.start_fetches(kNow + 10'000).size() == 2); // the first again (it may pass), one more
  CHECK(in.deferred(Budget::sender_bytes) >= 1);
  // B and C still get GETs; the node-wide bound stops the rest.
  const Address kC = addr("fd5e::c");
  std::vector<ListedObject> others;
  for (std::uint64_t i = 0; i < 5; ++i) {
    others.emplace_back(key(kB, kNow - 4'000, i), 900);
    others.emplace_back(key(kC, kNow - 4'000, i), 900);
  }
  in.on_listed(others, kNow + 10'000);
  auto more = in.start_fetches(kNow + 10'000);
  CHECK_FALSE(more.empty());
  CHECK(in.undelivered_bytes() <= c.max_undelivered_bytes + c.max_object_bytes);
  CHECK(in.undelivered_bytes_peak() <= c.max_undelivered_bytes + c.max_object_bytes);
  CHECK(in.deferred(Budget::node_bytes) >= 1);
  // A GET reads no more than the object's listed size.
  CHECK(in.fetch_limit(more.front()) == 900);
}

TEST_CASE_METHOD(Fixture, "Polled bodies count against the byte budgets: a chain of held objects stops at them",
                 "[inbox][hostile][chain]") {
  auto c = config();
  c.max_concurrent_gets = 8;
  c.max_object_bytes = 100'000;
  c.max_undelivered_bytes = 400'000;
  c.max_undelivered_bytes_per_sender = 200'000;
  Inbox in(c);
  const std::string big(60'000, 'x');
  std::vector<std::string> keys;
  for (std::uint64_t i = 0; i < 61; ++i) keys.push_back(key(kA, kNow - 100 + i));
  // The first names a predecessor that never comes: held, and everything after it waits behind it.
  const auto missing = ulid_of(key(kA, kNow - 200));
  in.on_listed({ListedObject(keys[0], 60'100)}, kNow);
  REQUIRE(in.start_fetches(kNow) == std::vector<std::string>{keys[0]});
  in.on_fetched(keys[0], body(kA, {big.c_str()}, missing, ulid_of(keys[1])), kNow);
  // A stolen key's chain: every polled body announces the next.
  int polled = 0;
  for (std::size_t i = 1; i < 60; ++i) {
    auto polls = in.start_polls(kNow);
    if (polls.empty()) break;
    REQUIRE(polls.front() == keys[i]);
    CHECK(in.poll_limit(keys[i]) <= c.max_object_bytes);
    in.on_polled(keys[i], body(kA, {big.c_str()}, {}, ulid_of(keys[i + 1])), kNow);
    ++polled;
  }
  CHECK(polled <= 3); // until the sender's 200,000 bytes are used up, not the whole chain
  CHECK(in.undelivered_bytes_peak() <= c.max_undelivered_bytes_per_sender + c.max_object_bytes);
  CHECK_FALSE(in.polls_due(kNow)); // and the schedule is told so (no empty poll rounds)
}

TEST_CASE_METHOD(Fixture, "A known sender's flood leaves a GET slot for a sender not heard from before", "[inbox][hostile]") {
  auto c = config();
  c.max_concurrent_gets = 2;
  Inbox in(c);
  receive(in, key(kA, kNow - 3'000), body(kA, {"earlier"}), kNow); // A is known
  in.take_deliveries();
  std::vector<ListedObject> flood;
  for (std::uint64_t i = 0; i < 100; ++i) flood.emplace_back(key(kA, kNow - 2'000, i), 100);
  in.on_listed(flood, kNow);
  // The slots turn over one at a time, the known flooder asking first each time.
  auto first = in.start_fetches(kNow);
  REQUIRE(first.size() == 2);
  in.on_fetched(first[0], body(kA, {"x"}), kNow);
  const auto b = key(kB, kNow - 1'000);
  in.on_listed({ListedObject(b, 100)}, kNow);
  auto next = in.start_fetches(kNow);
  CHECK(next == std::vector<std::string>{b}); // the slot freed goes to the newcomer, not to A
}

// When a node writes and removes its presence record, on a fake clock: first write, refresh, retry after
// a failure, rotation (new record first, then the old one removed, retried if that fails), records of
// an earlier key found at startup, two rotations in a row.
#include "core/presence_publisher.hpp"

#include <catch2/catch.hpp>

using namespace hoshino;
using namespace hoshino::core;
using namespace std::chrono_literals;
using Kind = PresenceAction::Kind;

namespace {
const Clock::time_point t0{1h};
const PresenceTiming kTiming{6h, 1min};
} // namespace

TEST_CASE("The record is written at once, then every refresh; a failed write is retried soon", "[presence_publisher]") {
  PresencePublisher p(kTiming, "rec-a", t0);
  auto a = p.next(t0);
  REQUIRE(a);
  CHECK(a->kind == Kind::write);
  CHECK(a->key == "rec-a");
  CHECK_FALSE(p.next(t0)); // one request at a time
  CHECK_FALSE(p.due());
  p.on_written("rec-a", false, t0 + 1s);
  CHECK_FALSE(p.published());
  CHECK(p.due() == t0 + 1s + 1min);
  CHECK_FALSE(p.next(t0 + 30s));
  REQUIRE(p.next(t0 + 1s + 1min));
  p.on_written("rec-a", true, t0 + 2min);
  CHECK(p.published());
  CHECK(p.due() == t0 + 2min + 6h);
  CHECK_FALSE(p.next(t0 + 3h));
  auto refresh = p.next(t0 + 2min + 6h);
  REQUIRE(refresh);
  CHECK(refresh->kind == Kind::write);
}

TEST_CASE("A rotation writes the new record first and removes the old one after; a failed removal is retried", "[presence_publisher][rotate]") {
  PresencePublisher p(kTiming, "old", t0);
  p.next(t0);
  p.on_written("old", true, t0);
  p.rotate("new", t0 + 1h);
  auto w = p.next(t0 + 1h);
  REQUIRE(w);
  CHECK(w->kind == Kind::write);
  CHECK(w->key == "new");
  p.on_written("new", false, t0 + 1h); // the new one is not there: the old one must stay
  CHECK_FALSE(p.next(t0 + 1h));
  auto again = p.next(t0 + 1h + 1min);
  REQUIRE(again);
  CHECK(again->key == "new");
  p.on_written("new", true, t0 + 1h + 1min);
  auto r = p.next(t0 + 1h + 1min);
  REQUIRE(r);
  CHECK(r->kind == Kind::remove);
  CHECK(r->keys == std::vector<std::string>{"old"});
  p.on_removed(false, {}, t0 + 1h + 1min); // the request failed: tried again after `retry`, not at the next refresh
  CHECK(p.due() == t0 + 1h + 2min);
  auto r2 = p.next(t0 + 1h + 2min);
  REQUIRE(r2);
  CHECK(r2->kind == Kind::remove);
  p.on_removed(true, {}, t0 + 1h + 2min);
  CHECK(p.stale().empty());
  CHECK(p.due() == t0 + 1h + 1min + 6h);
}

TEST_CASE("Two rotations in a row: both old records go once the newest is written", "[presence_publisher][rotate]") {
  PresencePublisher p(kTiming, "k1", t0);
  p.next(t0);
  p.on_written("k1", true, t0);
  p.rotate("k2", t0 + 1s);
  auto w2 = p.next(t0 + 1s); // the write of k2 is under way when k3 comes
  REQUIRE(w2);
  p.rotate("k3", t0 + 2s);
  p.on_written("k2", true, t0 + 3s); // k2 is stale already: k3 is still due
  CHECK_FALSE(p.published());
  auto w3 = p.next(t0 + 3s);
  REQUIRE(w3);
  CHECK(w3->key == "k3");
  p.on_written("k3", true, t0 + 4s);
  auto r = p.next(t0 + 4s);
  REQUIRE(r);
  CHECK(r->keys == std::vector<std::string>{"k1", "k2"});
}

TEST_CASE("Records of this address under other keys found at startup go once the current one is written", "[presence_publisher]") {
  PresencePublisher p(kTiming, "cur", t0);
  p.add_stale({"cur", "older", "older"});
  CHECK(p.stale() == std::vector<std::string>{"older"});
  auto first = p.next(t0);
  REQUIRE(first);
  CHECK(first->kind == Kind::write);
  p.on_written("cur", true, t0);
  auto r = p.next(t0);
  REQUIRE(r);
  CHECK(r->keys == std::vector<std::string>{"older"});
  PresencePublisher back(kTiming, "a", t0); // rotated back to a key whose record was to go: it stays
  back.rotate("b", t0);
  back.rotate("a", t0);
  CHECK(back.stale() == std::vector<std::string>{"b"});
}

TEST_CASE("A rotation while old records are being removed: the record it leaves behind is removed too", "[presence_publisher][rotate]") {
  PresencePublisher p(kTiming, "a", t0);
  p.next(t0);
  p.on_written("a", true, t0);
  p.rotate("b", t0);
  REQUIRE(p.next(t0)->key == "b");
  p.on_written("b", true, t0);
  auto r = p.next(t0);
  REQUIRE(r);
  REQUIRE(r->keys == std::vector<std::string>{"a"});
  p.rotate("c", t0 + 1s); // while the removal of a is under way
  p.on_removed(true, {}, t0 + 2s);
  CHECK(p.stale() == std::vector<std::string>{"b"}); // only a was answered for
  auto w = p.next(t0 + 2s);
  REQUIRE(w);
  CHECK(w->key == "c");
  p.on_written("c", true, t0 + 2s);
  auto r2 = p.next(t0 + 2s);
  REQUIRE(r2);
  CHECK(r2->keys == std::vector<std::string>{"b"});
}

TEST_CASE("A record S3 refuses to remove is not given up: tried again after `retry`", "[presence_publisher][rotate]") {
  PresencePublisher p(kTiming, "a", t0);
  p.next(t0);
  p.on_written("a", true, t0);
  p.rotate("b", t0);
  p.next(t0);
  p.on_written("b", true, t0);
  auto r = p.next(t0);
  REQUIRE(r);
  p.on_removed(true, {"a"}, t0 + 1s); // answered, but "a" refused one by one (a policy, Object Lock)
  CHECK(p.stale() == std::vector<std::string>{"a"});
  CHECK_FALSE(p.next(t0 + 2s));
  auto again = p.next(t0 + 1s + kTiming.retry);
  REQUIRE(again);
  CHECK(again->keys == std::vector<std::string>{"a"});
  p.on_removed(true, {}, t0 + 2min);
  CHECK(p.stale().empty());
}

// The ingress schedule on a fake clock: what a node does when, idle and busy, with its doorbell.
#include "core/ingress_schedule.hpp"
#include "core/s3_prices.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <map>

using namespace hoshino::core;
using namespace std::chrono_literals;

namespace {

IngressConfig config() {
  IngressConfig c; // the defaults a user gets, so the cost figures below are theirs
  return c;
}

// Carries out a schedule's steps on a fake clock: every action takes `latency` and its result comes
// from the answer hooks. Counts the requests each kind of step costs.
struct Driver {
  explicit Driver(IngressConfig c) : s(c, t) {}
  Clock::time_point t{std::chrono::hours(1)};
  IngressSchedule s{config(), t};
  InboxView view;
  Duration latency = 10ms;
  std::function<std::size_t()> list_finds = [] { return std::size_t{0}; };
  std::function<BellCheck()> bell = [] { return BellCheck::quiet; };
  std::optional<Address> ringer; // who the rang bell proves rang (core/ring.hpp)
  std::map<IngressAction, std::uint64_t> count;

  // Runs until `until` (virtual); returns the steps taken.
  void run_until(Clock::time_point until) {
    while (t < until) {
      auto step = s.next(view, t);
      if (step.action == IngressAction::wait) {
        REQUIRE(step.until > t); // a wait must let time pass
        t = std::min(step.until, until);
        continue;
      }
      ++count[step.action];
      switch (step.action) {
        case IngressAction::list: {
          t += latency;
          s.on_listed(list_finds(), step.second_list, t);
          break;
        }
        case IngressAction::poll: t += latency; s.on_polled(1, false, t); break;
        case IngressAction::check_bell: {
          t += latency;
          auto r = bell();
          s.on_bell(r, t, ringer);
          break;
        }
        case IngressAction::delete_consumed:
          view.pending_deletions = 0;
          s.on_deleted(t);
          break;
        default: break;
      }
    }
  }
  void run_for(Duration d) { run_until(t + d); }
  std::uint64_t lists() { return count[IngressAction::list]; }
  std::uint64_t bells() { return count[IngressAction::check_bell]; }
};

double dollars(std::uint64_t lists_and_puts, std::uint64_t gets) {
  return kS3Standard.dollars(lists_and_puts, 0, gets);
}

} // namespace

TEST_CASE("An idle node watches its bell: a day costs at most $0.02 and a ring is heard within the bell interval",
          "[ingress][bell]") {
  Driver d(config());
  d.run_for(10s); // activity at start, then the quiet spell
  CHECK(d.s.idle(d.t));
  d.count.clear();
  d.run_for(24h);
  // One GET per bell interval; a LIST only every idle_list_interval.
  CHECK(d.bells() == Approx(24.0 * 3600 / 1.76).epsilon(0.01));
  CHECK(d.lists() <= 49);
  double day = dollars(d.lists(), d.bells());
  CHECK(day <= 0.02);
  CHECK(day > 0.015); // the budget is spent on watching, which is what makes the wake-up fast

  // A ring: the next check hears it, and the LIST follows at once.
  d.bell = [] { return BellCheck::rang; };
  d.list_finds = [] { return std::size_t{1}; };
  auto rung = d.t;
  d.count.clear();
  while (d.lists() == 0) d.run_for(1ms);
  CHECK(d.t - rung <= config().bell_interval + 2 * d.latency);
  CHECK_FALSE(d.s.idle(d.t)); // the LIST found objects: back to the fast pace
  CHECK(d.s.rings_found() == 1);
  d.bell = [] { return BellCheck::quiet; };
  d.list_finds = [] { return std::size_t{0}; };
  d.count.clear();
  d.run_for(1s);
  CHECK(d.lists() > 20); // back-to-back LISTs while the conversation may go on
  CHECK(d.bells() == 0);
}

TEST_CASE("Without the doorbell an idle node LISTs every pace.max", "[ingress][bell]") {
  auto c = config();
  c.bell = false;
  Driver d(c);
  d.run_for(30s);
  d.count.clear();
  d.run_for(1h);
  CHECK(d.bells() == 0);
  CHECK(d.lists() == Approx(3600 / 5.01).epsilon(0.01));
  CHECK(dollars(d.lists() * 24, 0) == Approx(0.086).epsilon(0.02)); // today's $0.086 a day
}

TEST_CASE("Rings whose LIST finds nothing are rate-limited, and counted", "[ingress][bell][hostile]") {
  Driver d(config());
  d.run_for(10s);
  REQUIRE(d.s.idle(d.t));
  d.bell = [] { return BellCheck::rang; }; // a writer rings all the time, and nothing is ever there
  d.count.clear();
  d.run_for(1h);
  // At most the burst, then one per refill period, plus the backstop.
  CHECK(d.lists() <= 4 + 3600 / 30 + 2);
  CHECK(d.lists() >= 3600 / 30);
  CHECK(d.s.rings_empty() + 2 >= d.lists()); // every LIST but the backstop answered a ring
  CHECK(d.s.rings_limited() > 0);
  CHECK(d.s.idle(d.t)); // junk rings do not make the node LIST at the fast pace
  CHECK(dollars(d.lists(), d.bells()) * 24 < 0.04); // bounded: at most double the idle budget
}

TEST_CASE("A ring whose LIST fails is not forgotten, and is LISTed again after a backoff, not at once", "[ingress][bell]") {
  Driver d(config());
  d.run_for(10s);
  REQUIRE(d.s.idle(d.t));
  auto step = d.s.next(d.view, d.t);
  while (step.action != IngressAction::check_bell) {
    d.t = step.until;
    step = d.s.next(d.view, d.t);
  }
  d.s.on_bell(BellCheck::rang, d.t);
  step = d.s.next(d.view, d.t);
  REQUIRE(step.action == IngressAction::list);
  d.s.on_list_failed(false, d.t);
  auto failed = d.t;
  step = d.s.next(d.view, d.t);
  REQUIRE(step.action == IngressAction::wait); // not a tight retry loop
  CHECK(step.until >= failed + config().pace.error_floor);
  d.t = step.until;
  step = d.s.next(d.view, d.t);
  CHECK(step.action == IngressAction::list); // the ring is not forgotten, and no bell check comes first
}

TEST_CASE("A node that sent does not watch its bell for the hold time, with or without anticipation", "[ingress][bell]") {
  for (bool anticipation : {true, false}) {
    auto c = config();
    c.pace.anticipation = anticipation;
    Driver d(c);
    d.run_for(4s); // slowing down, not idle yet
    d.s.on_sent(d.t); // a reply: its peer heard from it and will not ring it for a while
    auto sent = d.t;
    while (d.t < sent + c.pace.hold) {
      CHECK_FALSE(d.s.idle(d.t));
      d.run_for(100ms);
    }
    d.run_for(10s);
    CHECK(d.s.idle(d.t)); // later, with nothing sent, it is
  }
}

TEST_CASE("Quiet, then slower: LISTs double after the hold time until the bell takes over", "[ingress][pace]") {
  Driver d(config());
  d.run_for(2s - 1ms);
  auto fast = d.lists();
  CHECK(fast > 100); // back to back during the hold (10 ms each here)
  d.count.clear();
  d.run_for(2600ms); // 10, 20, ... 1280 ms
  CHECK(d.lists() >= 7);
  CHECK(d.lists() <= 10);
  d.run_for(3s);
  CHECK(d.s.idle(d.t));
}

TEST_CASE("Announced keys are polled instead of LISTed; LIST only every chained_list_interval", "[ingress][chain]") {
  Driver d(config());
  d.view.chained = true;
  d.view.polls_due = true;
  d.list_finds = [] { return std::size_t{1}; };
  d.run_for(10s);
  CHECK(d.count[IngressAction::poll] > 500);
  CHECK(d.lists() == Approx(10).margin(2)); // one per second
  CHECK(d.bells() == 0);

  // Right after a LIST:
  for (auto step = d.s.next(d.view, d.t); step.action != IngressAction::list; step = d.s.next(d.view, d.t)) {
    if (step.action == IngressAction::poll) d.s.on_polled(1, false, d.t);
    if (step.action == IngressAction::wait) d.t = step.until;
  }
  d.t += 10ms;
  d.s.on_listed(1, false, d.t);
  d.t += 1ms;
  // A stream's next object is not due yet: wait for its time, not LIST or poll.
  d.view.polls_due = false;
  d.view.next_poll = d.t + 30ms;
  auto step = d.s.next(d.view, d.t);
  CHECK(step.action == IngressAction::wait);
  CHECK(step.until == *d.view.next_poll);
  // A GET of the announced object (found by LIST) is under way: wait for progress, not LIST again.
  d.view.next_poll.reset();
  d.view.fetching = 1;
  step = d.s.next(d.view, d.t);
  CHECK(step.action == IngressAction::wait);
  CHECK(step.until > d.t);
  // An object held for its predecessor wants LISTs: that one may be findable only so.
  d.view.holding = true;
  step = d.s.next(d.view, d.t);
  CHECK(step.action == IngressAction::list);
}

TEST_CASE("DeleteObjects: the first at once, then at most one per delete_interval, one at a time", "[ingress][delete]") {
  auto c = config();
  c.pace.second_list = false;
  IngressSchedule s(c, Clock::time_point{1h});
  auto t = Clock::time_point{1h};
  InboxView v;
  v.pending_deletions = 3;
  auto step = s.next(v, t); // the LIST goes first in order, deletions do not wait for it
  CHECK(step.action == IngressAction::delete_consumed);
  step = s.next(v, t);
  CHECK(step.action == IngressAction::list);
  step = s.next(v, t);
  CHECK(step.action == IngressAction::wait); // one DeleteObjects at a time
  s.on_deleted(t + 5ms);
  step = s.next(v, t + 5ms);
  CHECK(step.action == IngressAction::wait);
  CHECK(step.until == t + 250ms);
  step = s.next(v, t + 250ms);
  CHECK(step.action == IngressAction::delete_consumed);
}

TEST_CASE("In a conversation a second LIST starts half a LIST after each one", "[ingress][second_list]") {
  auto t = Clock::time_point{1h};
  IngressSchedule s(config(), t);
  InboxView v;
  auto step = s.next(v, t);
  REQUIRE(step.action == IngressAction::list);
  REQUIRE_FALSE(step.second_list);
  step = s.next(v, t);
  CHECK(step.action == IngressAction::wait);
  CHECK(step.until == t + 2500us); // half the initial 5 ms estimate
  step = s.next(v, step.until);
  CHECK(step.action == IngressAction::list);
  CHECK(step.second_list);
  step = s.next(v, t + 3ms);
  CHECK(step.action == IngressAction::wait); // once per main LIST
  // Not while announced keys are awaited (polls come back to back), and not in a stream.
  s.on_listed(0, true, t + 6ms);
  s.on_listed(0, false, t + 6ms);
  v.chained = true;
  v.polls_due = false;
  step = s.next(v, t + 6ms);
  REQUIRE(step.action == IngressAction::list); // nothing to poll and nothing fetching: LIST
  step = s.next(v, t + 20ms);
  CHECK(step.action == IngressAction::wait);
  CHECK(step.until == Clock::time_point::max());
}

TEST_CASE("The inbox's wake-ups are ticked once per instant, so a wake-up nobody can serve does not spin",
          "[ingress]") {
  auto t = Clock::time_point{1h};
  IngressSchedule s(config(), t);
  InboxView v;
  v.wakeup = t;
  CHECK(s.next(v, t).action == IngressAction::tick_inbox);
  auto step = s.next(v, t); // the LIST
  CHECK(step.action == IngressAction::list);
  step = s.next(v, t);
  CHECK(step.action == IngressAction::wait);
  CHECK(step.until == t + 1ms);
  CHECK(s.next(v, t + 1ms).action == IngressAction::tick_inbox);
}

TEST_CASE("Memory is handed back once per idle spell", "[ingress]") {
  Driver d(config());
  d.run_for(1h);
  CHECK(d.count[IngressAction::trim_memory] == 1);
  d.s.on_sent(d.t);
  d.run_for(1h);
  CHECK(d.count[IngressAction::trim_memory] == 2);
}

TEST_CASE("A sender rings a destination it has exchanged nothing with for the quiet time", "[ingress][ring]") {
  auto t = Clock::time_point{1h};
  RingPolicy r(1s, 3);
  auto a = *Address::parse("fd5e::a"), b = *Address::parse("fd5e::b");
  CHECK(r.on_put(a, t));            // never talked: ring
  CHECK_FALSE(r.on_put(a, t + 500ms)); // a conversation (a ping a second) rings once
  CHECK_FALSE(r.on_put(a, t + 1400ms));
  CHECK(r.on_put(a, t + 2500ms));   // 1.1 s of silence: it may be idle by now
  r.on_heard(b, t + 3s);            // b sent us something: it is awake
  CHECK_FALSE(r.on_put(b, t + 3500ms));
  // Bounded: the longest-quiet peer is forgotten, and rung again at its next object.
  for (int i = 0; i < 5; ++i) r.on_put(*Address::parse("fd5e::" + std::to_string(100 + i)), t + 4s);
  CHECK(r.peers() == 3);
  CHECK(r.on_put(b, t + 4100ms));
}

TEST_CASE("The bell watch: a changed ETag rang; a server that ignores If-None-Match is found out once", "[ingress][bell]") {
  BellWatch w;
  CHECK(w.etag_to_send().empty());
  auto first = w.on_answer(true, "\"e1\""); // a bell that was rung before we watched
  CHECK(first.result == BellCheck::rang);
  CHECK(w.etag_to_send() == "\"e1\"");
  CHECK(w.on_answer(false, "\"e1\"").result == BellCheck::quiet); // 304
  auto ignored = w.on_answer(true, "\"e1\""); // 200 with the ETag we sent
  CHECK(ignored.result == BellCheck::quiet);
  CHECK(ignored.conditional_ignored);
  CHECK_FALSE(w.conditional());
  CHECK(w.etag_to_send().empty()); // unconditional from now on; ETags compared here
  auto again = w.on_answer(true, "\"e1\"");
  CHECK(again.result == BellCheck::quiet);
  CHECK_FALSE(again.conditional_ignored); // said once
  CHECK(w.on_answer(true, "\"e2\"").result == BellCheck::rang);
}

TEST_CASE("The bell watch: no bell, junk too large, and failures", "[ingress][bell][hostile]") {
  auto err = [](long status, std::string code) {
    hoshino::s3::Error e;
    e.kind = hoshino::s3::Error::Kind::http;
    e.http_status = status;
    e.code = std::move(code);
    return e;
  };
  BellWatch w;
  auto none = w.on_error(err(404, "NoSuchKey"));
  CHECK(none.result == BellCheck::quiet);
  CHECK_FALSE(none.report);
  CHECK(w.on_error(err(403, "AccessDenied")).result == BellCheck::quiet); // without s3:ListBucket
  CHECK(w.on_error(err(200, std::string(kObjectTooLarge))).result == BellCheck::quiet); // junk, never seen
  w.on_answer(true, "\"e1\"");
  CHECK(w.on_error(err(200, std::string(kObjectTooLarge))).result == BellCheck::rang); // a known bell replaced
  CHECK(w.etag_to_send().empty());
  auto failed = w.on_error(err(503, "SlowDown"));
  CHECK(failed.result == BellCheck::failed);
  CHECK(failed.report);
  CHECK(w.on_error(err(403, "SignatureDoesNotMatch")).report);
}

TEST_CASE("A proven ring spends its ringer's tokens: junk cannot delay it, and a member that rings without end pays alone",
          "[ingress][bell][hostile]") {
  Driver d(config());
  d.run_for(10s);
  REQUIRE(d.s.idle(d.t));
  d.bell = [] { return BellCheck::rang; }; // junk, all the time
  d.run_for(5min);
  REQUIRE(d.s.rings_limited() > 0); // the shared tokens are gone
  // A member's proven ring: its LIST comes at the next bell check, not at the next shared token.
  const Address member = *Address::parse("fd5e::a");
  d.ringer = member;
  const auto lists = d.lists();
  d.run_for(config().bell_interval + 100ms);
  CHECK(d.lists() == lists + 1);
  // That member ringing without end is limited like junk, by its own tokens.
  d.count.clear();
  d.run_for(1h);
  CHECK(d.lists() <= 4 + 3600 / 30 + 2);
}

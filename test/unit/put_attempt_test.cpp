// One object's PUT on a fake clock: retries under the S3 error policy, the 412 re-key, the NotImplemented
// fallback, the deadline, stopping; and Retry's attempts and deadline on their own.
#include "core/put_attempt.hpp"

#include <catch2/catch.hpp>

using namespace hoshino;
using namespace hoshino::core;
using namespace std::chrono_literals;
using Kind = PutAction::Kind;

namespace {

s3::Error http(long status, std::string code) {
  s3::Error e;
  e.kind = s3::Error::Kind::http;
  e.http_status = status;
  e.code = std::move(code);
  return e;
}

const Clock::time_point t0{1h};
const RetryConfig kRetry{BackoffConfig{100ms, 1s}, 2s, 0};

} // namespace

TEST_CASE("A PUT that lands is sent; the first one is create-only while the server supports it", "[put_attempt]") {
  PutAttempt a(kRetry, true, t0);
  auto s = a.start();
  CHECK(s.kind == Kind::put);
  CHECK(s.create_only);
  CHECK(a.on_sent().kind == Kind::sent);
  PutAttempt plain(kRetry, false, t0);
  CHECK_FALSE(plain.start().create_only);
}

TEST_CASE("A transient failure waits with backoff and tries again, until the deadline", "[put_attempt]") {
  PutAttempt a(kRetry, true, t0);
  auto t = t0;
  int waits = 0;
  for (;;) {
    auto s = a.on_error(http(503, "SlowDown"), false, t, 0.0);
    CHECK(s.report);
    if (s.kind == Kind::failed) break;
    REQUIRE(s.kind == Kind::wait);
    CHECK(s.at > t);
    CHECK(s.at - t0 <= 2s); // no attempt starts past the deadline
    t = s.at;
    ++waits;
    auto again = a.on_waited();
    CHECK(again.kind == Kind::put);
    CHECK(again.create_only);
  }
  // 50, 100, 200, 400, 500, 500 ms (equal jitter at 0): the seventh would start past 2 s.
  CHECK(waits == 6);
  CHECK(a.attempt() == 7);
}

TEST_CASE("A refusal is not retried, nor is anything once the node stops", "[put_attempt]") {
  PutAttempt denied(kRetry, true, t0);
  auto s = denied.on_error(http(403, "AccessDenied"), false, t0, 0.5);
  CHECK(s.kind == Kind::failed);
  CHECK(s.report);
  PutAttempt stopping(kRetry, true, t0);
  CHECK(stopping.on_error(http(500, "InternalError"), true, t0, 0.5).kind == Kind::failed);
}

TEST_CASE("A squatted key moves the object to a fresh key once; a second squat gives it up", "[put_attempt][hostile]") {
  PutAttempt a(kRetry, true, t0);
  auto s = a.on_error(http(412, std::string(kPreconditionFailed)), false, t0, 0.0);
  CHECK(s.kind == Kind::rekey);
  CHECK(s.squatted);
  CHECK_FALSE(s.report); // not an S3 fault: a writer got there first
  auto put = a.on_rekeyed(true);
  CHECK(put.kind == Kind::put);
  CHECK(put.create_only);
  CHECK(a.attempt() == 1); // still the first attempt (only failures count), at the new key
  auto again = a.on_error(http(412, std::string(kPreconditionFailed)), false, t0, 0.0);
  CHECK(again.kind == Kind::failed);
  CHECK(again.squatted);
  PutAttempt b(kRetry, true, t0);
  REQUIRE(b.on_error(http(412, std::string(kPreconditionFailed)), false, t0, 0.0).kind == Kind::rekey);
  CHECK(b.on_rekeyed(false).kind == Kind::failed); // no fresh key could be made
}

TEST_CASE("A 412 after a retried attempt is our own earlier attempt: sent", "[put_attempt]") {
  PutAttempt a(kRetry, true, t0);
  auto s = a.on_error(s3::Error{}, false, t0, 0.0); // a transport error: the answer was lost
  REQUIRE(s.kind == Kind::wait);
  REQUIRE(a.on_waited().kind == Kind::put);
  CHECK(a.on_error(http(412, std::string(kPreconditionFailed)), false, s.at, 0.0).kind == Kind::sent);
}

TEST_CASE("NotImplemented on a create-only PUT switches to plain PUTs at once, as the same attempt", "[put_attempt]") {
  PutAttempt a(kRetry, true, t0);
  auto s = a.on_error(http(501, "NotImplemented"), false, t0, 0.0);
  CHECK(s.kind == Kind::put);
  CHECK_FALSE(s.create_only);
  CHECK(s.plain_puts_now);
  CHECK_FALSE(s.report);
  CHECK(a.attempt() == 1);
  // Plain from now on: a 412 is no squat but a refusal, and NotImplemented a server error.
  auto n = a.on_error(http(501, "NotImplemented"), false, t0, 0.0);
  CHECK(n.kind == Kind::wait);
  CHECK_FALSE(n.plain_puts_now);
  CHECK(a.on_waited().create_only == false);
}

TEST_CASE("Retry: a bound on attempts, a deadline, and faults that are not retried", "[backoff][retry]") {
  Retry three(RetryConfig{BackoffConfig{10ms, 1s}, std::nullopt, 3}, t0);
  auto t = t0;
  for (int i = 1; i < 3; ++i) {
    auto at = three.on_failure(S3Fault::transient, false, t, 0.0);
    REQUIRE(at);
    t = *at;
  }
  CHECK(three.attempt() == 3);
  CHECK_FALSE(three.on_failure(S3Fault::transient, false, t, 0.0));
  Retry r(RetryConfig{BackoffConfig{10ms, 1s}, 15ms, 0}, t0);
  CHECK(r.on_failure(S3Fault::transient, false, t0, 0.0) == t0 + 5ms);
  CHECK(r.attempt() == 2);
  CHECK_FALSE(r.on_failure(S3Fault::too_large, false, t0, 0.0));
  CHECK_FALSE(r.on_failure(S3Fault::transient, false, t0 + 6ms, 0.0)); // would start at 16 ms > 15 ms
  Retry none(RetryConfig{BackoffConfig{10ms, 1s}, 0ms, 0}, t0); // a zero deadline: no retry at all
  CHECK_FALSE(none.on_failure(S3Fault::transient, false, t0, 0.0));
}

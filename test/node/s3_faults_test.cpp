// S3 failing: outages, SlowDown, AccessDenied, expired credentials, misses and oversized objects.
#include "node/harness.hpp"

using namespace hoshino;
using namespace hoshino::node_test;

TEST_CASE("During an S3 outage the nodes keep running; queued PUTs are retried and traffic resumes", "[node]") {
  test::VirtualTime vt;
  Pair p;
  bool down = false;
  p.bucket.fault = outage(down, 503, "SlowDown");
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, "before"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  down = true;
  p.dev_a.inject(ipv6_packet(kA, kB, "during"));
  p.run_until([] { return false; }, 300ms);
  // B looks for A's next object by LIST or by GET on its announced key: either way, it saw the outage.
  CHECK(p.b.metrics().s3_errors.count({"list", "SlowDown"}) + p.b.metrics().s3_errors.count({"get", "SlowDown"}) >= 1);
  CHECK(p.a.metrics().s3_errors.at({"put", "SlowDown"}) >= 2); // retried with backoff
  down = false;
  p.dev_a.inject(ipv6_packet(kA, kB, "after"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 3; }));
  CHECK(payloads(p.dev_b.written()) == std::vector<std::string>{"before", "during", "after"});
  CHECK(p.a.metrics().dropped.count("s3_put_failed") == 0);
  p.stop();
}

TEST_CASE("An outage longer than the PUT deadline drops those packets, counted", "[node]") {
  test::VirtualTime vt;
  Pair p(1s);
  bool down = false;
  p.bucket.fault = outage(down, 500, "InternalError");
  p.start();
  down = true;
  p.dev_a.inject(ipv6_packet(kA, kB, "lost"));
  REQUIRE(p.run_until([&] { return p.a.metrics().dropped.count("s3_put_failed") == 1; }));
  CHECK(p.a.metrics().s3_errors.at({"put", "InternalError"}) >= 3); // retried until the deadline
  CHECK(p.a.metrics().dropped.at("s3_put_failed") == 1);
  down = false;
  p.dev_a.inject(ipv6_packet(kA, kB, "next"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  CHECK(payload_of(p.dev_b.written()[0]) == "next");
  p.stop();
}

TEST_CASE("AccessDenied is not retried: dropped and counted, the node keeps running", "[node]") {
  test::VirtualTime vt;
  Pair p;
  bool down = false;
  p.bucket.fault = outage(down, 403, "AccessDenied");
  StderrCapture log;
  p.start();
  down = true;
  for (int i = 0; i < 5; ++i) p.dev_a.inject(ipv6_packet(kA, kB, "denied"));
  REQUIRE(p.run_until([&] { return p.a.metrics().dropped.count("s3_put_failed") == 1 &&
                                   p.a.metrics().dropped.at("s3_put_failed") == 5; }));
  p.run_until([] { return false; }, 500ms); // several more LISTs denied meanwhile
  // Loud (an error, naming the fix) but once per interval per operation, not once per request.
  auto text = log.text();
  CHECK(count_of(text, "error: S3 put denied: AccessDenied") == 1);
  CHECK(count_of(text, "error: S3 list denied: AccessDenied") == 2); // one per node
  CHECK(count_of(text, "check the credentials and the bucket policy") == 3);
  CHECK(p.a.metrics().s3_errors.at({"put", "AccessDenied"}) == p.bucket.requests(store::OpKind::put)); // each counted
  CHECK(p.a.metrics().s3_errors.at({"list", "AccessDenied"}) >= 2);
  auto puts = p.bucket.requests(store::OpKind::put);
  CHECK(puts <= 5); // one attempt per object, no retries
  down = false;
  p.dev_a.inject(ipv6_packet(kA, kB, "allowed"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  p.stop();
}

TEST_CASE("A poll for a key not there yet is a miss, also as S3's 403 without ListBucket; bad credentials are errors", "[node][chain]") {
  test::VirtualTime vt;
  Pair p;
  bool bad_signature = false;
  p.bucket.fault = [&](store::OpKind op, const std::string& key) -> std::optional<s3::Error> {
    if (op != store::OpKind::get) return std::nullopt;
    s3::Error e;
    e.kind = s3::Error::Kind::http;
    e.http_status = 403;
    if (bad_signature) e.code = "SignatureDoesNotMatch";
    else if (!p.bucket.objects().contains(key)) e.code = "AccessDenied"; // what AWS says for a missing key
    else return std::nullopt;
    return e;
  };
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, "one"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  REQUIRE(p.run_until([&] { return p.b.inbox().poll_misses() > 3; })); // b polls a's announced key
  p.dev_a.inject(ipv6_packet(kA, kB, "two"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 2; }));
  CHECK(p.b.inbox().poll_hits() == 1);
  CHECK(p.b.inbox().poll_errors() == 0);
  CHECK(p.b.metrics().s3_errors.empty());
  bad_signature = true;
  REQUIRE(p.run_until([&] { return p.b.inbox().poll_errors() > 0; }));
  CHECK(p.b.metrics().s3_errors.count({"get", "SignatureDoesNotMatch"}) == 1);
  p.stop();
}

TEST_CASE("A SlowDown burst on GETs delays an object, it does not lose it", "[node][retry]") {
  test::VirtualTime vt;
  Pair p;
  int refusals = 0;
  p.bucket.fault = [&](store::OpKind op, const std::string&) -> std::optional<s3::Error> {
    if (op == store::OpKind::get && refusals < 6) {
      ++refusals;
      return store::http_error(503, "SlowDown");
    }
    return std::nullopt;
  };
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, std::string(1200, 'y')));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }, 20s));
  CHECK(refusals == 6);
  CHECK(p.b.inbox().dropped(core::DropReason::fetch_failed) == 0);
  p.stop();
}

TEST_CASE("An oversized object at an announced key is cut off, dropped and deleted", "[node][chain]") {
  test::VirtualTime vt;
  Pair p;
  std::optional<std::string> next_key;
  p.bucket.on_put = [&](const std::string& key, const core::Bytes& body) {
    auto k = core::parse_key("hoshino", key);
    if (!k || k->dst != kB || next_key) return;
    auto bundle = core::decode_body(k->inline_body.empty() ? body : k->inline_body);
    if (bundle && bundle->next) next_key = core::format_key("hoshino", {kB, kA, *bundle->next});
  };
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, "first"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1 && next_key; }));
  // A writer squats the announced key with more than any sender writes (the poll must not read it all).
  p.bucket.objects()[*next_key] = core::Bytes((16u << 20) + 1, 'z');
  REQUIRE(p.run_until([&] { return p.b.inbox().dropped(core::DropReason::oversized) == 1; }));
  REQUIRE(p.run_until([&] { return !p.bucket.objects().contains(*next_key); }));
  p.dev_a.inject(ipv6_packet(kA, kB, "second")); // the conversation goes on
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 2; }));
  p.stop();
}

TEST_CASE("Credentials S3 keeps calling expired stop the node with an error; a passing blip does not", "[node][credentials]") {
  test::VirtualTime vt;
  auto persistent = GENERATE(false, true);
  auto ca = config(kA), cb = config(kB);
  ca.expired_credentials_limit = cb.expired_credentials_limit = 300ms;
  Pair p(std::move(ca), std::move(cb));
  int expired_answers = persistent ? -1 : 2; // -1: forever
  p.bucket.fault = [&](store::OpKind, const std::string&) -> std::optional<s3::Error> {
    if (expired_answers == 0) return std::nullopt;
    if (expired_answers > 0) --expired_answers;
    return store::http_error(400, "ExpiredToken");
  };
  p.start();
  if (persistent) {
    REQUIRE(p.run_until([&] { return p.running < 2; }));
    CHECK_FALSE((p.a.fatal_error().empty() && p.b.fatal_error().empty()));
    CHECK((p.a.fatal_error() + p.b.fatal_error()).find("expired") != std::string::npos);
  } else {
    // Two answers say expired, then requests succeed (renewed in time): however long that took, no
    // ExpiredToken follows a success, so the node goes on. (A PUT that met the blip would be dropped:
    // ExpiredToken is not retried; the packet is sent after it.)
    REQUIRE(p.run_until([&] { return expired_answers == 0; }));
    p.dev_a.inject(ipv6_packet(kA, kB, "still here"));
    REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
    CHECK(p.a.fatal_error().empty());
    CHECK(p.b.fatal_error().empty());
  }
  p.stop();
}

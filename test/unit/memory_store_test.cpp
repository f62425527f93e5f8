// The tests' simulated S3 (test/fakes/memory_store.hpp): MemoryStore::watch, the doorbell's conditional
// GET, as S3 answers it and as a server that ignores If-None-Match does; distance, rates, failures, ledger.
#include "fakes/memory_store.hpp"
#include "support/run.hpp"
#include "support/virtual_time.hpp"

#include <asio/co_spawn.hpp>

#include <catch2/catch.hpp>

#include <algorithm>

using namespace hoshino;
using hoshino::test::run;

namespace {

constexpr std::uint64_t kCap = 1024;

store::Watch watch(asio::io_context& io, store::MemoryStore& bucket, const std::string& key, const std::string& etag) {
  auto w = run(io, bucket.watch(key, etag, kCap));
  REQUIRE(w);
  return std::move(w).value();
}

void put(asio::io_context& io, store::MemoryStore& bucket, const std::string& key, const std::string& body) {
  REQUIRE(run(io, bucket.put(key, body, false)));
}

} // namespace

TEST_CASE("MemoryStore::watch answers as S3 does to If-None-Match", "[store][watch]") {
  asio::io_context io;
  store::MemoryStore bucket(io);

  auto missing = run(io, bucket.watch("bell/a", "", kCap));
  REQUIRE_FALSE(missing);
  CHECK(missing.error().http_status == 404);
  CHECK(missing.error().code == "NoSuchKey");

  put(io, bucket, "bell/a", "ring 1");
  auto first = watch(io, bucket, "bell/a", ""); // an unknown etag: an existing bell counts as changed
  CHECK(first.changed);
  // S3's format for a single-part PUT: the quoted hex MD5 of the body (MD5("") is d41d8cd9...).
  CHECK(first.etag.size() == 34);
  CHECK(first.etag.front() == '"');
  CHECK(first.etag.back() == '"');

  auto same = watch(io, bucket, "bell/a", first.etag);
  CHECK_FALSE(same.changed);
  CHECK(same.etag == first.etag);

  put(io, bucket, "bell/a", "ring 1"); // the same content again: the same ETag, no ring
  CHECK_FALSE(watch(io, bucket, "bell/a", first.etag).changed);

  put(io, bucket, "bell/a", "ring 2");
  auto rung = watch(io, bucket, "bell/a", first.etag);
  CHECK(rung.changed);
  CHECK(rung.etag != first.etag);
  CHECK_FALSE(watch(io, bucket, "bell/a", rung.etag).changed);

  put(io, bucket, "bell/empty", "");
  CHECK(watch(io, bucket, "bell/empty", "").etag == "\"d41d8cd98f00b204e9800998ecf8427e\"");

  put(io, bucket, "bell/big", std::string(kCap + 1, 'x'));
  auto big = run(io, bucket.watch("bell/big", "", kCap));
  REQUIRE_FALSE(big);
  CHECK(big.error().code == store::kObjectTooLarge);

  // Billed and counted as GETs.
  CHECK(bucket.requests(store::OpKind::get) == 8);
}

TEST_CASE("MemoryStore::watch without conditional GETs answers the whole object every time", "[store][watch]") {
  asio::io_context io;
  store::MemoryStore bucket(io);
  bucket.conditional_gets = false;
  put(io, bucket, "bell/a", "ring 1");
  auto first = watch(io, bucket, "bell/a", "");
  CHECK(first.changed);
  auto again = watch(io, bucket, "bell/a", first.etag);
  CHECK(again.changed);            // the server's word...
  CHECK(again.etag == first.etag); // ...but the etag shows nothing changed
  put(io, bucket, "bell/a", "ring 2");
  auto rung = watch(io, bucket, "bell/a", first.etag);
  CHECK(rung.changed);
  CHECK(rung.etag != first.etag);
}

TEST_CASE("MemoryStore::watch goes through the fault hook as a get", "[store][watch]") {
  asio::io_context io;
  store::MemoryStore bucket(io);
  put(io, bucket, "bell/a", "ring");
  std::vector<store::OpKind> seen;
  bucket.fault = [&](store::OpKind op, const std::string& key) -> std::optional<s3::Error> {
    seen.push_back(op);
    if (key == "bell/a") return store::http_error(403, "AccessDenied");
    return std::nullopt;
  };
  auto denied = run(io, bucket.watch("bell/a", "", kCap));
  REQUIRE_FALSE(denied);
  CHECK(denied.error().http_status == 403);
  CHECK(denied.error().code == "AccessDenied");
  CHECK(seen == std::vector<store::OpKind>{store::OpKind::get});
}

// --- The simulated S3: distance, per-prefix rates, failures, the ledger --------------------------------

namespace {
using namespace std::chrono_literals;

// Runs op to completion on virtual time and says how long it took.
template <class T>
std::pair<T, Clock::duration> timed(asio::io_context& io, test::VirtualTime& vt, asio::awaitable<T> op) {
  std::optional<T> out;
  asio::co_spawn(io, std::move(op), [&](std::exception_ptr e, T value) {
    if (e) std::rethrow_exception(e);
    out.emplace(std::move(value));
  });
  auto start = vt.now();
  REQUIRE(vt.run_until(io, [&] { return out.has_value(); }, 60s));
  return {std::move(*out), vt.now() - start};
}
} // namespace

TEST_CASE("DistantStore: a request takes its round trip, plus jitter within bounds, and lands half-way", "[store][sim]") {
  test::VirtualTime vt;
  asio::io_context io;
  store::MemoryStore bucket(io);
  store::DistantStore near(bucket, 20ms);
  store::DistantStore far(bucket, 80ms, 10ms, 3);
  auto [put, took] = timed(io, vt, near.put("a/1", "x", false));
  CHECK(put);
  CHECK(took == 20ms);
  for (int i = 0; i < 50; ++i) {
    auto [got, t] = timed(io, vt, far.get("a/1", kCap));
    CHECK(got);
    CHECK(t >= 80ms);
    CHECK(t <= 90ms); // 80 ms plus up to the 10 ms of jitter
  }
  CHECK(far.ledger().of(store::OpKind::get) == 50);
  CHECK(near.ledger().of(store::OpKind::get) == 0);
  CHECK(bucket.ledger().of(store::OpKind::get) == 50); // the bucket sees everyone's
  CHECK(bucket.ledger().bytes_down == 50);
}

TEST_CASE("MemoryStore: past a prefix's request rate S3 answers SlowDown, unbilled; other prefixes are not affected",
          "[store][sim]") {
  test::VirtualTime vt;
  asio::io_context io;
  store::MemoryStore bucket(io);
  bucket.rate_limit = store::RateLimit{3, 0};
  store::DistantStore link(bucket, 10ms);
  std::vector<bool> ok;
  for (int i = 0; i < 5; ++i) ok.push_back(static_cast<bool>(timed(io, vt, link.put("p/" + std::to_string(i), "x", false)).first));
  CHECK(ok == std::vector<bool>{true, true, true, false, false}); // 5 PUTs within 50 ms: 3 a second
  auto refused = timed(io, vt, link.put("p/9", "x", false)).first;
  REQUIRE_FALSE(refused);
  CHECK(refused.error().http_status == 503);
  CHECK(refused.error().code == "SlowDown");
  CHECK(timed(io, vt, link.put("q/1", "x", false)).first); // another prefix
  CHECK(timed(io, vt, link.get("p/0", kCap)).first);        // reads have their own limit (none here)
  vt.run_until(io, [] { return false; }, 1s);
  CHECK(timed(io, vt, link.put("p/5", "x", false)).first); // a second later: room again
  CHECK(bucket.ledger().throttled == 3);
  CHECK(bucket.ledger().of(store::OpKind::put) == 8);
  CHECK(bucket.ledger().billed[static_cast<std::size_t>(store::OpKind::put)] == 5); // 5xx are not billed
  CHECK(bucket.ledger().dollars() == Approx(5 * 0.005 / 1000 + 1 * 0.0004 / 1000));
  CHECK(bucket.peak_prefix() == "p/");
  CHECK(bucket.peak_prefix_rate() == 4); // 3 PUTs and the GET within one second
  CHECK(bucket.objects().count("p/3") == 0);
}

TEST_CASE("MemoryStore: failures at their rates, the same for the same seed; a timed-out PUT may have landed",
          "[store][sim]") {
  auto outcomes = [](std::uint64_t seed) {
    test::VirtualTime vt;
    asio::io_context io;
    store::MemoryStore bucket(io);
    bucket.failures = store::Failures{0.2, 0.2, 3s, seed};
    store::DistantStore link(bucket, 10ms);
    std::string out;
    int landed_after_timeout = 0;
    for (int i = 0; i < 400; ++i) {
      auto key = "k/" + std::to_string(i);
      auto [r, took] = timed(io, vt, link.put(key, "x", false));
      if (r) out += '.';
      else if (r.error().code == "Timeout") {
        out += 'T';
        CHECK(took == 3s); // the client's timeout, from sending
        landed_after_timeout += bucket.objects().count(key) ? 1 : 0;
      } else {
        out += 'E';
        CHECK(r.error().http_status == 500);
        CHECK(bucket.objects().count(key) == 0); // an InternalError here never took effect
      }
    }
    const auto timeouts = std::count(out.begin(), out.end(), 'T');
    CHECK(std::count(out.begin(), out.end(), 'E') > 40);
    CHECK(timeouts > 40);
    CHECK(landed_after_timeout > 0);
    CHECK(landed_after_timeout < timeouts);
    CHECK(bucket.ledger().failed + bucket.ledger().timed_out == static_cast<std::uint64_t>(400 - std::count(out.begin(), out.end(), '.')));
    return out;
  };
  CHECK(outcomes(5) == outcomes(5));
  CHECK(outcomes(5) != outcomes(6));
}

// The S3 client against a real S3 server (the local Ceph RGW that scripts/test.sh starts). Skips (exit
// 77) when no server is configured: AWS_ENDPOINT_URL and keys come from scripts/rgw.sh's env file.
#define CATCH_CONFIG_RUNNER
#include "core/clock_offset.hpp"
#include "s3/client.hpp"
#include "store/s3_store.hpp"
#include "util/crypto.hpp"
#include "support/run.hpp"

#include <asio/ip/tcp.hpp>
#include <catch2/catch.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <set>

using namespace hoshino;
using hoshino::test::run;
using hoshino::test::run_all;

namespace {

std::string g_bucket;

s3::ClientConfig config() {
  auto c = s3::resolve_client_config("", "", s3::process_env());
  REQUIRE(c);
  return std::move(c).value();
}

std::vector<asio::awaitable<Result<Unit, s3::Error>>> puts(s3::Client& c, const std::vector<std::string>& keys) {
  std::vector<asio::awaitable<Result<Unit, s3::Error>>> ops;
  for (const auto& k : keys) ops.push_back(c.put_object(g_bucket, k, "body of " + k));
  return ops;
}

// PUTs keys, at most `batch` at a time.
void put_keys(asio::io_context& io, s3::Client& c, const std::vector<std::string>& keys, std::size_t batch = 100) {
  for (std::size_t i = 0; i < keys.size(); i += batch) {
    std::vector<std::string> part(keys.begin() + i, keys.begin() + std::min(keys.size(), i + batch));
    for (auto& r : run_all(io, puts(c, part))) REQUIRE(r);
  }
}

std::vector<std::string> keys_of(const std::vector<s3::ObjectInfo>& objs) {
  std::vector<std::string> k;
  for (const auto& o : objs) k.push_back(o.key);
  return k;
}

} // namespace

TEST_CASE("PUT, LIST, GET, DELETE round trip with awkward keys", "[rgw]") {
  asio::io_context io;
  s3::Client c(io, config());
  std::vector<std::string> keys{"rt/plain", "rt/with space", "rt/plus+sign", "rt/percent%20literal",
                                "rt/unicode-é☃", "rt/deep/er/path", "rt/amp&eq=q?"};
  put_keys(io, c, keys);
  auto listed = run(io, c.list_all(g_bucket, "rt/"));
  REQUIRE(listed);
  auto got = keys_of(*listed);
  auto want = keys;
  std::sort(want.begin(), want.end());
  CHECK(got == want);
  for (const auto& o : *listed) CHECK(o.size == ("body of " + o.key).size());
  for (const auto& k : keys) {
    auto body = run(io, c.get_object(g_bucket, k));
    REQUIRE(body);
    CHECK(*body == "body of " + k);
  }
  auto del = run(io, c.delete_objects(g_bucket, keys));
  REQUIRE(del);
  CHECK(del->deleted.size() == keys.size());
  CHECK(del->failed.empty());
  auto after = run(io, c.list_all(g_bucket, "rt/"));
  REQUIRE(after);
  CHECK(after->empty());
}

TEST_CASE("Binary bodies and empty objects survive the round trip", "[rgw]") {
  asio::io_context io;
  s3::Client c(io, config());
  std::string bin;
  for (int i = 0; i < 70000; ++i) bin.push_back(static_cast<char>(i * 7 % 256));
  REQUIRE(run(io, c.put_object(g_bucket, "bin/blob", bin)));
  REQUIRE(run(io, c.put_object(g_bucket, "bin/empty", "")));
  auto b = run(io, c.get_object(g_bucket, "bin/blob"));
  REQUIRE(b);
  CHECK(*b == bin);
  auto e = run(io, c.get_object(g_bucket, "bin/empty"));
  REQUIRE(e);
  CHECK(e->empty());
}

TEST_CASE("UNSIGNED-PAYLOAD (what HTTPS endpoints get by default) is accepted", "[rgw]") {
  asio::io_context io;
  auto cfg = config();
  cfg.payload_signing = s3::ClientConfig::PayloadSigning::never;
  s3::Client c(io, cfg);
  std::string body(100000, 'u');
  REQUIRE(run(io, c.put_object(g_bucket, "unsigned/body", body)));
  auto got = run(io, c.get_object(g_bucket, "unsigned/body"));
  REQUIRE(got);
  CHECK(*got == body);
}

TEST_CASE("Keys of S3's full 1024 bytes work (hoshino inlines small packets in keys)", "[rgw]") {
  asio::io_context io;
  s3::Client c(io, config());
  std::string key = "long/" + std::string(1024 - 5, 'k');
  REQUIRE(run(io, c.put_object(g_bucket, key, "")));
  auto listed = run(io, c.list_all(g_bucket, "long/"));
  REQUIRE(listed);
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().key == key);
  auto too_long = run(io, c.put_object(g_bucket, key + "x", ""));
  CHECK_FALSE(too_long);
}

TEST_CASE("Listing 1500 keys follows continuation tokens; start-after skips", "[rgw]") {
  asio::io_context io;
  s3::Client c(io, config());
  std::vector<std::string> keys;
  for (int i = 0; i < 1500; ++i) keys.push_back(fmt::format("many/{:05}", i));
  put_keys(io, c, keys);

  s3::ListOptions first;
  first.prefix = "many/";
  auto page = run(io, c.list_objects(g_bucket, first));
  REQUIRE(page);
  CHECK(page->objects.size() == 1000);
  CHECK(page->truncated);
  CHECK_FALSE(page->next_continuation_token.empty());

  auto all = run(io, c.list_all(g_bucket, "many/"));
  REQUIRE(all);
  CHECK(keys_of(*all) == keys);

  auto tail = run(io, c.list_all(g_bucket, "many/", "many/01489"));
  REQUIRE(tail);
  CHECK(keys_of(*tail) == std::vector<std::string>(keys.begin() + 1490, keys.end()));

  auto limited = run(io, c.list_all(g_bucket, "many/", "", 1200));
  REQUIRE(limited);
  CHECK(limited->size() == 1200);

  // 1500 keys need two DeleteObjects requests (1000 at most each).
  auto del = run(io, c.delete_objects(g_bucket, keys));
  REQUIRE(del);
  CHECK(del->deleted.size() == 1500);
  auto after = run(io, c.list_all(g_bucket, "many/"));
  REQUIRE(after);
  CHECK(after->empty());
}

TEST_CASE("200 concurrent requests share at most max_connections TCP connections", "[rgw]") {
  asio::io_context io;
  auto cfg = config();
  cfg.max_connections = 4;
  s3::Client c(io, cfg);
  std::vector<std::string> keys;
  for (int i = 0; i < 200; ++i) keys.push_back(fmt::format("conc/{:03}", i));
  auto results = run_all(io, puts(c, keys)); // all 200 in flight at once
  CHECK(std::all_of(results.begin(), results.end(), [](const auto& r) { return r.ok(); }));
  CHECK(c.http().stats().requests_completed == 200);
  CHECK(c.http().stats().sockets_opened >= 1);
  CHECK(c.http().stats().sockets_opened <= 4);
  // Idle connections stay cached: a second burst opens none.
  auto before = c.http().stats().sockets_opened;
  auto again = run_all(io, puts(c, keys));
  CHECK(std::all_of(again.begin(), again.end(), [](const auto& r) { return r.ok(); }));
  CHECK(c.http().stats().sockets_opened == before);
  REQUIRE(run(io, c.delete_objects(g_bucket, keys)));
}

TEST_CASE("Wrong secret surfaces SignatureDoesNotMatch", "[rgw][errors]") {
  asio::io_context io;
  auto cfg = config();
  cfg.credentials.secret_access_key = "not-the-secret";
  s3::Client c(io, cfg);
  auto r = run(io, c.check_bucket(g_bucket));
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == s3::Error::Kind::http);
  CHECK(r.error().http_status == 403);
  CHECK(r.error().code == "SignatureDoesNotMatch");
  CHECK_FALSE(r.error().retryable());
  CHECK(r.error().describe().find("not-the-secret") == std::string::npos);
  auto put = run(io, c.put_object(g_bucket, "x", "y"));
  REQUIRE_FALSE(put);
  CHECK(put.error().code == "SignatureDoesNotMatch");
}

TEST_CASE("Unknown bucket surfaces NoSuchBucket; missing key NoSuchKey", "[rgw][errors]") {
  asio::io_context io;
  s3::Client c(io, config());
  auto r = run(io, c.check_bucket("hoshino-no-such-bucket"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "NoSuchBucket");
  CHECK(r.error().http_status == 404);
  auto g = run(io, c.get_object(g_bucket, "no/such/key"));
  REQUIRE_FALSE(g);
  CHECK(g.error().code == "NoSuchKey");
}

TEST_CASE("get_object with max_bytes: an object over the cap is ObjectTooLarge, one up to it arrives", "[rgw]") {
  asio::io_context io;
  s3::Client c(io, config());
  const std::string body(100 * 1024, 'b');
  REQUIRE(run(io, c.put_object(g_bucket, "cap/big", body)));
  auto over = run(io, c.get_object(g_bucket, "cap/big", body.size() - 1));
  REQUIRE_FALSE(over);
  CHECK(over.error().code == "ObjectTooLarge");
  CHECK(over.error().http_status == 200);
  CHECK_FALSE(over.error().retryable());
  for (std::uint64_t cap : {std::uint64_t{body.size()}, std::uint64_t{0}}) {
    auto whole = run(io, c.get_object(g_bucket, "cap/big", cap));
    REQUIRE(whole);
    CHECK(*whole == body);
  }
  // The connection the refused transfer left is not reused in a broken state.
  CHECK(run(io, c.get_object(g_bucket, "cap/big", body.size())));
  auto missing = run(io, c.get_object(g_bucket, "cap/no-such-key", 10));
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == "NoSuchKey"); // an error answer is not mistaken for a large object
}

TEST_CASE("PUT with If-None-Match: * creates a key; on an existing one it is PreconditionFailed (412)", "[rgw]") {
  asio::io_context io;
  s3::Client c(io, config());
  const s3::PutOptions create_only{.if_none_match = true};
  auto created = run(io, c.put_object(g_bucket, "cond/key", "first", create_only));
  REQUIRE(created);
  auto again = run(io, c.put_object(g_bucket, "cond/key", "second", create_only));
  REQUIRE_FALSE(again);
  CHECK(again.error().kind == s3::Error::Kind::http);
  CHECK(again.error().http_status == 412);
  CHECK(again.error().code == "PreconditionFailed");
  CHECK_FALSE(again.error().retryable());
  auto kept = run(io, c.get_object(g_bucket, "cond/key"));
  REQUIRE(kept);
  CHECK(*kept == "first");
  // Without the option a PUT still overwrites.
  REQUIRE(run(io, c.put_object(g_bucket, "cond/key", "third")));
  auto overwritten = run(io, c.get_object(g_bucket, "cond/key"));
  REQUIRE(overwritten);
  CHECK(*overwritten == "third");
}

TEST_CASE("GET with If-None-Match: 304 for the current ETag, 200 and the new one once the content changed", "[rgw][watch]") {
  asio::io_context io;
  s3::Client c(io, config());
  REQUIRE(run(io, c.put_object(g_bucket, "bell/a", "ring 1")));

  auto plain = run(io, c.get_object_if_none_match(g_bucket, "bell/a", "", 1024)); // no ETag known: a plain GET
  REQUIRE(plain);
  CHECK(plain->modified);
  CHECK(plain->body == "ring 1");
  // S3's ETag of a single-part PUT is the body's MD5 in hex, quoted (the quotes are part of the ETag).
  INFO("ETag " << plain->etag);
  CHECK(plain->etag == "\"" + crypto::hex(crypto::md5(crypto::bytes_of("ring 1"))) + "\"");

  auto same = run(io, c.get_object_if_none_match(g_bucket, "bell/a", plain->etag, 1024));
  REQUIRE(same);
  CHECK_FALSE(same->modified); // 304 Not Modified
  CHECK(same->etag == plain->etag);
  CHECK(same->body.empty());

  // The same content PUT again keeps the ETag (its MD5): a ringer must write different content each time.
  REQUIRE(run(io, c.put_object(g_bucket, "bell/a", "ring 1")));
  auto rewritten = run(io, c.get_object_if_none_match(g_bucket, "bell/a", plain->etag, 1024));
  REQUIRE(rewritten);
  CHECK_FALSE(rewritten->modified);

  REQUIRE(run(io, c.put_object(g_bucket, "bell/a", "ring 2")));
  auto rung = run(io, c.get_object_if_none_match(g_bucket, "bell/a", plain->etag, 1024)); // a stale ETag
  REQUIRE(rung);
  CHECK(rung->modified);
  CHECK(rung->body == "ring 2");
  CHECK(rung->etag != plain->etag);
  CHECK(rung->etag == "\"" + crypto::hex(crypto::md5(crypto::bytes_of("ring 2"))) + "\"");
  auto quiet = run(io, c.get_object_if_none_match(g_bucket, "bell/a", rung->etag, 1024));
  REQUIRE(quiet);
  CHECK_FALSE(quiet->modified);

  auto too_large = run(io, c.get_object_if_none_match(g_bucket, "bell/a", "\"stale\"", 3));
  REQUIRE_FALSE(too_large);
  CHECK(too_large.error().code == "ObjectTooLarge");

  auto missing = run(io, c.get_object_if_none_match(g_bucket, "bell/missing", plain->etag, 1024));
  REQUIRE_FALSE(missing);
  CHECK(missing.error().http_status == 404);
  CHECK(missing.error().code == "NoSuchKey");
}

TEST_CASE("S3Store::watch over the RGW: changed only when the bell's content changed", "[rgw][watch]") {
  asio::io_context io;
  s3::Client c(io, config());
  store::S3Store bucket(c, g_bucket);
  REQUIRE(run(io, bucket.put("bell/b", "ring 1", false)));
  auto first = run(io, bucket.watch("bell/b", "", 1024));
  REQUIRE(first);
  CHECK(first->changed);
  auto same = run(io, bucket.watch("bell/b", first->etag, 1024));
  REQUIRE(same);
  CHECK_FALSE(same->changed);
  CHECK(same->etag == first->etag);
  REQUIRE(run(io, bucket.put("bell/b", "ring 2", false)));
  auto rung = run(io, bucket.watch("bell/b", first->etag, 1024));
  REQUIRE(rung);
  CHECK(rung->changed);
  CHECK(rung->etag != first->etag);
  auto missing = run(io, bucket.watch("bell/none", "", 1024));
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == "NoSuchKey");
}

TEST_CASE("A server that is not running fails promptly with a connection error", "[errors]") {
  asio::io_context io;
  // A port nobody listens on: bind one, note it, close it.
  unsigned short port;
  {
    asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  auto cfg = config();
  cfg.endpoint = s3::parse_endpoint(fmt::format("http://127.0.0.1:{}", port)).value();
  s3::Client c(io, cfg);
  auto start = std::chrono::steady_clock::now();
  auto r = run(io, c.check_bucket(g_bucket));
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == s3::Error::Kind::transport);
  CHECK(r.error().code == "ConnectionRefused");
  CHECK(r.error().retryable());
  // Not a performance claim: a generous bound that only a hang would break.
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
}

TEST_CASE("A server that accepts but never answers hits the request timeout", "[errors]") {
  asio::io_context io;
  asio::ip::tcp::acceptor silent(io, {asio::ip::make_address("127.0.0.1"), 0}); // the kernel accepts; nobody reads
  auto cfg = config();
  cfg.endpoint = s3::parse_endpoint(fmt::format("http://127.0.0.1:{}", silent.local_endpoint().port())).value();
  cfg.request_timeout = std::chrono::milliseconds(300);
  s3::Client c(io, cfg);
  auto start = std::chrono::steady_clock::now();
  auto r = run(io, c.get_object(g_bucket, "k"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "Timeout");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

int main(int argc, char** argv) {
  if (!std::getenv("AWS_ENDPOINT_URL")) {
    fmt::print("s3_rgw_test: AWS_ENDPOINT_URL unset (no local RGW; run scripts/test.sh): skipped\n");
    return 77;
  }
  asio::io_context io;
  auto cfg = s3::resolve_client_config("", "", s3::process_env());
  if (!cfg) {
    fmt::print(stderr, "s3_rgw_test: {}\n", cfg.error());
    return 1;
  }
  s3::Client c(io, cfg.value());
  g_bucket = fmt::format("it-{}-{}", ::getpid(), std::chrono::system_clock::now().time_since_epoch().count() % 1000000);
  auto made = run(io, c.create_bucket(g_bucket));
  if (!made) {
    fmt::print(stderr, "s3_rgw_test: create bucket {}: {}\n", g_bucket, made.error().describe());
    return 1;
  }
  return Catch::Session().run(argc, argv);
}

TEST_CASE("Every answer's Date reaches on_server_date: the clock offset to the RGW is measured", "[rgw][clock]") {
  asio::io_context io;
  s3::Client c(io, config());
  core::ClockOffset clock;
  std::size_t answers = 0;
  c.on_server_date = [&](std::uint64_t sent, std::uint64_t received, std::string_view date) {
    auto server = core::parse_http_date(date);
    REQUIRE(server);
    CHECK(sent <= received);
    clock.on_sample(sent, received, *server);
    ++answers;
  };
  REQUIRE(run(io, c.put_object(g_bucket, "clock/a", "x")));
  REQUIRE(run(io, c.get_object(g_bucket, "clock/a")));
  auto missing = run(io, c.get_object(g_bucket, "clock/missing")); // errors carry a Date too
  CHECK_FALSE(missing);
  CHECK(answers == 3);
  // The RGW runs on this machine, on this clock: well within the tolerance, so nothing is corrected.
  CHECK(std::abs(clock.estimate_ms()) < 1500);
  CHECK(clock.correction_ms() == 0);
}

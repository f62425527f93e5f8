// MemoryStore::watch, the doorbell's conditional GET, as S3 answers it and as a server that ignores
// If-None-Match does.
#include "fakes/memory_store.hpp"
#include "support/run.hpp"

#include <catch2/catch.hpp>

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

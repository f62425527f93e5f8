#include "core/keys.hpp"
#include "core/ulid.hpp"
#include "util/crypto.hpp"
#include "support/packets.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace hoshino::core;
using hoshino::test::addr;

namespace {
UlidGenerator fixed_random(std::uint64_t value) {
  return UlidGenerator([value] { return value; });
}
} // namespace

TEST_CASE("ULID text form: 26 Crockford characters carrying the time", "[ulid]") {
  auto gen = fixed_random(0);
  auto u = gen.next(1469918176385ULL); // the ULID spec's example timestamp
  CHECK(u.str().size() == 26);
  CHECK(u.str().substr(0, 10) == "01ARYZ6S41");
  CHECK(u.time_ms() == 1469918176385ULL);
  CHECK(Ulid::parse(u.str()) == u);
}

TEST_CASE("ULID parsing is strict", "[ulid]") {
  CHECK(Ulid::parse("01ARYZ6S41TSV4RRFFQ69G5FAV"));
  CHECK_FALSE(Ulid::parse("01ARYZ6S41TSV4RRFFQ69G5FA"));   // 25 chars
  CHECK_FALSE(Ulid::parse("01arYZ6S41TSV4RRFFQ69G5FAV"));  // lower case
  CHECK_FALSE(Ulid::parse("01ARYZ6S41TSV4RRFFQ69G5FAU"));  // U is not Crockford
  CHECK_FALSE(Ulid::parse("81ARYZ6S41TSV4RRFFQ69G5FAV"));  // overflows 128 bits
}

TEST_CASE("ULIDs are monotonic within the process, even when the clock stands still or steps back", "[ulid]") {
  std::uint64_t r = 12345;
  UlidGenerator gen([&r] { return r = r * 6364136223846793005ULL + 1442695040888963407ULL; });
  std::vector<std::string> ids;
  std::uint64_t times[] = {1000, 1000, 1000, 999, 1001, 1001, 500, 2000};
  for (auto t : times) ids.push_back(gen.next(t).str());
  CHECK(std::is_sorted(ids.begin(), ids.end()));
  CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
  CHECK(Ulid::parse(ids.back())->time_ms() == 2000);
}

TEST_CASE("ULIDs made in one millisecond are not one apart: the next cannot be guessed from the last", "[ulid]") {
  UlidGenerator gen(hoshino::crypto::random64);
  auto a = gen.next(1000), b = gen.next(1000), c = gen.next(1000);
  CHECK(a < b);
  CHECK(b < c);
  auto low = [](const Ulid& u) {
    std::uint64_t v = 0;
    for (std::size_t i = 8; i < 16; ++i) v = v << 8 | u.bytes[i];
    return v;
  };
  // One step of +1 each would make both differences 1; random 32-bit steps make that a 1 in 2^64 chance.
  CHECK((low(b) - low(a) != 1 || low(c) - low(b) != 1));
  CHECK(b.time_ms() == 1000);
}

TEST_CASE("Object key format and parse", "[keys]") {
  auto gen = fixed_random(42);
  ObjectKey k{addr("fd5e::2"), addr("fd5e::1"), gen.next(1700000000000ULL)};
  auto s = format_key("hoshino", k);
  CHECK(s == "hoshino/fd5e0000000000000000000000000002/fd5e0000000000000000000000000001/" + k.id.str());
  CHECK(s.starts_with(inbox_prefix("hoshino", k.dst)));
  auto back = parse_key("hoshino", s);
  REQUIRE(back);
  CHECK(back->dst == k.dst);
  CHECK(back->src == k.src);
  CHECK(back->id == k.id);
  CHECK(parse_key("a/b", format_key("a/b", k)));
}

TEST_CASE("Malformed keys do not parse", "[keys]") {
  auto gen = fixed_random(42);
  ObjectKey k{addr("fd5e::2"), addr("fd5e::1"), gen.next(1700000000000ULL)};
  auto good = format_key("hoshino", k);
  CHECK_FALSE(parse_key("other", good));
  CHECK_FALSE(parse_key("hoshino", good + "x"));
  CHECK_FALSE(parse_key("hoshino", good.substr(0, good.size() - 1)));
  CHECK_FALSE(parse_key("hoshino", ""));
  std::string upper = good;
  upper[8] = 'F'; // upper-case hex in dst
  CHECK_FALSE(parse_key("hoshino", upper));
  std::string slash = good;
  slash[20] = '/'; // inside the dst segment
  CHECK_FALSE(parse_key("hoshino", slash));
  std::string badid = good;
  badid.back() = 'U';
  CHECK_FALSE(parse_key("hoshino", badid));
}

TEST_CASE("A ULID generator bounded ahead starts again from now after the clock steps back", "[ulid][clock]") {
  constexpr std::uint64_t kNow = 1'700'000'000'000ULL;
  std::uint64_t r = 0;
  UlidGenerator bounded([&] { return ++r; }, 1000), unbounded([&] { return ++r; });
  bounded.next(kNow + 3'600'000); // made while the clock was an hour ahead
  unbounded.next(kNow + 3'600'000);
  CHECK(bounded.next(kNow + 500).time_ms() == kNow + 500); // back to the clock
  CHECK(bounded.restarts() == 1);
  CHECK(unbounded.next(kNow).time_ms() == kNow + 3'600'000); // monotonic: an hour in the future
  // Within the bound it stays monotonic (a small step back keeps the order).
  auto a = bounded.next(kNow + 1'200);
  auto b = bounded.next(kNow + 400);
  CHECK(a < b);
  CHECK(bounded.restarts() == 1);
}

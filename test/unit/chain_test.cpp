#include "core/chain.hpp"
#include "support/packets.hpp"

#include <catch2/catch.hpp>

using namespace hoshino::core;
using hoshino::test::addr;

namespace {
std::function<std::uint64_t()> counter() {
  return [n = std::uint64_t{1}]() mutable { return n++ * 0x9e3779b97f4a7c15ULL; };
}
} // namespace

TEST_CASE("Each object takes the key its predecessor announced", "[chain]") {
  KeyChain chain(true, counter());
  auto b = addr("fd5e::b");
  auto first = chain.pick(b, 1'000);
  CHECK_FALSE(first.announced); // nothing announced yet: found by LIST, may be inlined
  REQUIRE(first.next);
  CHECK(*first.next > first.id);
  auto second = chain.pick(b, 1'200);
  CHECK(second.announced);
  CHECK(second.id == *first.next);
  REQUIRE(second.next);
  CHECK(*second.next > second.id);
  auto third = chain.pick(b, 1'300);
  CHECK(third.id == *second.next);
}

TEST_CASE("Chains are per destination, and keys still sort in sending order", "[chain]") {
  KeyChain chain(true, counter());
  auto b = addr("fd5e::b"), c = addr("fd5e::c");
  auto b1 = chain.pick(b, 1'000);
  auto c1 = chain.pick(c, 1'000);
  auto b2 = chain.pick(b, 1'001);
  auto c2 = chain.pick(c, 1'001);
  CHECK(b2.id == *b1.next);
  CHECK(c2.id == *c1.next);
  CHECK(b1.id < b2.id);
  CHECK(c1.id < c2.id);
  CHECK(b2.id != c2.id);
}

TEST_CASE("An announcement older than the chain TTL is not used", "[chain]") {
  KeyChain chain(true, counter());
  auto b = addr("fd5e::b");
  auto first = chain.pick(b, 10'000);
  auto late = chain.pick(b, 10'000 + kChainTtlMs);
  CHECK_FALSE(late.announced);
  CHECK(late.id != *first.next);
  CHECK(late.id.time_ms() == 10'000 + kChainTtlMs); // fresh: carries the current time
  auto after_late = chain.pick(b, 10'000 + kChainTtlMs + 1);
  CHECK(after_late.announced); // and the chain goes on from there
  CHECK(after_late.id == *late.next);
}

TEST_CASE("A clock that steps back does not revive an announcement", "[chain]") {
  KeyChain chain(true, counter());
  auto b = addr("fd5e::b");
  chain.pick(b, 50'000);
  auto back = chain.pick(b, 40'000);
  CHECK_FALSE(back.announced);
}

TEST_CASE("Disabled chaining announces nothing", "[chain]") {
  KeyChain chain(false, counter());
  auto b = addr("fd5e::b");
  auto first = chain.pick(b, 1'000);
  auto second = chain.pick(b, 1'001);
  CHECK_FALSE(first.next);
  CHECK_FALSE(second.announced);
  CHECK(first.id < second.id);
  CHECK(chain.destinations() == 0);
}

TEST_CASE("The chain table is bounded", "[chain]") {
  KeyChain chain(true, counter(), 3);
  for (int i = 1; i <= 10; ++i) chain.pick(addr(("fd5e::" + std::to_string(i)).c_str()), 1'000);
  CHECK(chain.destinations() <= 3);
  // Expired links are dropped first when room is needed.
  KeyChain small(true, counter(), 2);
  auto b = addr("fd5e::b"), c = addr("fd5e::c"), d = addr("fd5e::d");
  small.pick(b, 1'000);
  auto c1 = small.pick(c, 1'000 + kChainTtlMs - 1);
  small.pick(d, 1'000 + kChainTtlMs); // b's link has expired: it goes, c's stays
  CHECK(small.destinations() == 2);
  CHECK(small.pick(c, 1'000 + kChainTtlMs).id == *c1.next);
}

// The listing of presence records under floods (core/presence_scan.hpp): junk records under one address,
// or under thousands, must not hide the records of real peers that packets wait for.
#include "core/presence_scan.hpp"
#include "support/packets.hpp"

#include <catch2/catch.hpp>
#include <fmt/core.h>

#include <set>

using namespace hoshino;
using namespace hoshino::core;
using namespace std::chrono_literals;
using test::addr;

namespace {
const Address kSelf = addr("fd5e::a");
// Real peers sort after the junk below (fd5e::1, fd5e::1:0 ... fd5e::1:2903).
const Address kPeerB = addr("fd5e::ff00:b");
const Address kPeerC = addr("fd5e::ff00:c");

PublicKey key_n(std::uint32_t n) {
  PublicKey k{};
  for (int i = 0; i < 4; ++i) k[i] = static_cast<std::uint8_t>(n >> (8 * i));
  k[31] = 0x42;
  return k;
}

// A bucket's LIST: keys in order, after start_after, under prefix, 1000 a page, IsTruncated as S3 says it.
struct Bucket {
  std::set<std::string> keys;
  std::size_t lists = 0;
  void add(const Address& a, std::uint32_t n) { keys.insert(presence_key("hoshino", a, key_n(n))); }
  ListPage list(const ListRequest& r) {
    ++lists;
    ListPage page;
    for (auto it = keys.upper_bound(r.start_after); it != keys.end(); ++it) {
      if (!it->starts_with(r.prefix)) {
        if (*it > r.prefix) break;
        continue;
      }
      if (page.objects.size() == 1000) {
        page.truncated = true;
        break;
      }
      page.objects.emplace_back(*it);
    }
    return page;
  }
  // Runs a scan to its end.
  PresenceScan scan(std::vector<Address> waiting, PresenceScanConfig config = {}) {
    PresenceScan s("hoshino", kSelf, std::move(waiting), config);
    while (auto r = s.next()) s.on_page(list(*r));
    return s;
  }
};

bool found(const PresenceScan& s, const Address& a) {
  for (const auto& pk : s.found())
    if (pk.address == a) return true;
  return false;
}
} // namespace

TEST_CASE("Presence scan: 10,500 records under one address cost one page, not the listing", "[presence]") {
  Bucket b;
  const Address flooded = addr("fd5e::1"); // sorts before every real node
  for (std::uint32_t n = 0; n < 10'500; ++n) b.add(flooded, n);
  b.add(kSelf, 1);
  b.add(kPeerB, 2);
  b.add(kPeerC, 3);
  auto s = b.scan({});
  CHECK(s.coverage().complete);
  CHECK(found(s, kPeerB));
  CHECK(found(s, kPeerC));
  CHECK_FALSE(found(s, kSelf)); // our own record is no peer
  CHECK(s.skipped_addresses() == 1);
  CHECK(b.lists == 2); // the flood's first page, then everything after it
  // The flooded address is seen with more than one key (ambiguous), never with all 10,500.
  std::size_t of_flooded = 0;
  for (const auto& pk : s.found()) of_flooded += pk.address == flooded;
  CHECK(of_flooded == PresenceScanConfig{}.max_records_per_address + 1);
}

TEST_CASE("Presence scan: records under 10,500 addresses stop the pages; waiting peers are looked up", "[presence]") {
  Bucket b;
  for (std::uint32_t n = 0; n < 10'500; ++n) b.add(addr(fmt::format("fd5e::1:{:x}", n).c_str()), n);
  b.add(kPeerB, 2);
  b.add(kPeerC, 3);
  auto s = b.scan({kPeerB, addr("fd5e::ff00:dead")});
  auto c = s.coverage();
  CHECK_FALSE(c.complete);
  CHECK(b.lists == 10 + 2); // the page bound, then one LIST per waiting destination
  CHECK(found(s, kPeerB));
  CHECK_FALSE(found(s, kPeerC)); // nobody waited for it: not read, and not proven absent
  CHECK(c.covers(kPeerB));
  CHECK(c.covers(addr("fd5e::ff00:dead")));  // looked up: nobody holds it
  CHECK_FALSE(c.covers(kPeerC));
  CHECK(c.covers(addr("fd5e::1:0")));   // read by the pages
  CHECK_FALSE(c.covers(addr("fd5e::ffff:ffff:ffff:ffff")));

  // The directory: the waiting peer goes out, the looked-up address is answered unreachable, the one
  // no page reached is unproven (dropped without an answer: with keys needed nothing is sent blind).
  PeerDirectoryConfig dc;
  dc.need_keys = true;
  PeerDirectory d(dc);
  auto now = Clock::time_point(std::chrono::hours(1));
  for (const auto& dst : {kPeerB, addr("fd5e::ff00:dead"), kPeerC}) {
    Bytes p = "pkt";
    auto out = test::outgoing(dst, p);
    CHECK(d.route(out, now) == Route::wait);
  }
  REQUIRE(d.start_listing(now));
  auto lookups = d.take_lookups();
  CHECK(lookups.size() == 3);
  auto resolved = d.on_listed(s.found(), c, now + 10ms);
  REQUIRE(resolved.size() == 3);
  CHECK(resolved[0].present);
  CHECK((!resolved[1].present && !resolved[1].unproven)); // proven absent: ICMPv6 unreachable
  CHECK((!resolved[2].present && resolved[2].unproven));
}

TEST_CASE("Presence scan: a flood under a waiting peer's own address makes it ambiguous, not absent", "[presence]") {
  Bucket b;
  for (std::uint32_t n = 0; n < 10'500; ++n) b.add(addr(fmt::format("fd5e::1:{:x}", n).c_str()), n);
  for (std::uint32_t n = 0; n < 2'000; ++n) b.add(kPeerB, 100'000 + n);
  auto s = b.scan({kPeerB});
  CHECK_FALSE(s.coverage().covers(kPeerB)); // a full page of it: absence is not proven (nor is it absent)
  std::size_t keys_of_b = 0;
  for (const auto& pk : s.found()) keys_of_b += pk.address == kPeerB;
  CHECK(keys_of_b == PresenceScanConfig{}.max_records_per_address + 1);
}

TEST_CASE("Presence scan: a page that says more follow is followed, to the bound", "[presence]") {
  Bucket b;
  b.add(kPeerB, 2);
  PresenceScan s("hoshino", kSelf, {});
  auto r = s.next();
  REQUIRE(r);
  auto page = b.list(*r);
  page.truncated = true; // the server says more follow: not proof of anything yet
  s.on_page(page);
  CHECK_FALSE(s.coverage().complete);
  r = s.next();
  REQUIRE(r);
  CHECK(r->start_after == presence_key("hoshino", kPeerB, key_n(2)));
  s.on_page(b.list(*r));
  CHECK(s.coverage().complete);
  // A failure ends the scan: nothing it read proves absence.
  PresenceScan f("hoshino", kSelf, {kPeerC});
  f.on_failed();
  CHECK_FALSE(f.next());
  CHECK(f.failed());
}

TEST_CASE("Presence scan: lookups are bounded", "[presence]") {
  Bucket b;
  for (std::uint32_t n = 0; n < 10'500; ++n) b.add(addr(fmt::format("fd5e::1:{:x}", n).c_str()), n);
  std::vector<Address> waiting;
  for (int n = 0; n < 100; ++n) waiting.push_back(addr(fmt::format("fd5e::2:{:x}", n).c_str()));
  PresenceScanConfig config;
  config.max_lookups = 5;
  auto s = b.scan(waiting, config);
  CHECK(b.lists == 10 + 5);
  CHECK(s.coverage().covers(waiting[4]));
  CHECK_FALSE(s.coverage().covers(waiting[5]));
}

TEST_CASE("Presence scan: junk names that are no records are skipped as a group, and a full lookup proves no absence",
          "[presence][hostile]") {
  // 10,500 names under one address that do not parse ('+' sorts before every base64url character), and
  // 10,500 under one run of the /64 that is no address at all: each costs a page, not the listing.
  Bucket b;
  const std::string under_one = "hoshino/peers/" + addr("fd5e::1").hex() + ".+", no_address = "hoshino/peers/fd5e000000000000+";
  for (int n = 0; n < 10'500; ++n) {
    b.keys.insert(under_one + std::to_string(n));
    b.keys.insert(no_address + std::to_string(n));
  }
  b.add(kPeerB, 2);
  auto s = b.scan({});
  CHECK(s.coverage().complete);
  CHECK(found(s, kPeerB));
  CHECK(s.skipped_addresses() == 2);
  CHECK(b.lists <= 4);

  // A lookup whose page is full of junk under the waiting address: its record may be past the page.
  Bucket c;
  for (std::uint32_t n = 0; n < 10'500; ++n) c.add(addr(fmt::format("fd5e::1:{:x}", n).c_str()), n); // the pages run out
  for (int n = 0; n < 1'000; ++n) c.keys.insert("hoshino/peers/" + kPeerB.hex() + ".+" + std::to_string(n));
  c.add(kPeerB, 2);
  auto t = c.scan({kPeerB});
  CHECK_FALSE(t.coverage().covers(kPeerB));
  PeerDirectoryConfig dc;
  dc.need_keys = true;
  PeerDirectory d(dc);
  const auto now = Clock::time_point(std::chrono::hours(1));
  Bytes p = "pkt";
  auto out = test::outgoing(kPeerB, p);
  REQUIRE(d.route(out, now) == Route::wait);
  REQUIRE(d.start_listing(now));
  auto resolved = d.on_listed(t.found(), t.coverage(), now + 10ms);
  REQUIRE(resolved.size() == 1);
  CHECK((!resolved[0].present && resolved[0].unproven)); // dropped unanswered, never "unreachable"
}

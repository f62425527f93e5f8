#include "core/bundle.hpp"
#include "support/packets.hpp"

#include <catch2/catch.hpp>

using namespace hoshino::core;
using hoshino::test::addr;
using hoshino::test::ipv6_packet;

TEST_CASE("Bundle encode/decode round trip keeps order", "[bundle]") {
  std::vector<Bytes> packets;
  for (int i = 0; i < 50; ++i) packets.push_back(ipv6_packet(addr("fd5e::1"), addr("fd5e::2"), std::string(i * 31, 'a' + i % 26)));
  auto body = encode_bundle(packets);
  CHECK(body.substr(0, 4) == "HSNB");
  CHECK(body.size() == bundle_size(packets.size(), [&] { std::size_t n = 0; for (auto& p : packets) n += p.size(); return n; }()));
  auto back = decode_body(body);
  REQUIRE(back);
  CHECK(back->packets == packets);
  CHECK_FALSE(back->after);
}

TEST_CASE("A bundle may name the object it must follow", "[bundle]") {
  std::vector<Bytes> packets{ipv6_packet(addr("fd5e::1"), addr("fd5e::2"), "late")};
  UlidGenerator gen([] { return 0x1234; });
  Ulid prev = gen.next(1'700'000'000'000ULL);
  auto body = encode_bundle(packets, prev);
  CHECK(static_cast<std::uint8_t>(body[5]) == kBundleFlagAfter);
  CHECK(body.substr(8, 16) == std::string(reinterpret_cast<const char*>(prev.bytes.data()), 16));
  CHECK(body.size() == bundle_size(1, packets[0].size(), true));
  auto back = decode_body(body);
  REQUIRE(back);
  CHECK(back->packets == packets);
  CHECK(back->after == prev);
  CHECK(decode_body(body.substr(0, 20)).error() == BundleError::truncated); // cut inside the ULID
}

TEST_CASE("A bundle may announce its successor's key, after its predecessor", "[bundle]") {
  std::vector<Bytes> packets{ipv6_packet(addr("fd5e::1"), addr("fd5e::2"), "chained")};
  UlidGenerator gen([] { return 0x99; });
  Ulid prev = gen.next(1'700'000'000'000ULL);
  Ulid next = gen.next(1'700'000'000'001ULL);
  auto only_next = encode_bundle(packets, {}, next);
  CHECK(static_cast<std::uint8_t>(only_next[5]) == kBundleFlagNext);
  CHECK(only_next.substr(8, 16) == std::string(reinterpret_cast<const char*>(next.bytes.data()), 16));
  auto back = decode_body(only_next);
  REQUIRE(back);
  CHECK_FALSE(back->after);
  CHECK(back->next == next);

  auto both = encode_bundle(packets, prev, next);
  CHECK(static_cast<std::uint8_t>(both[5]) == (kBundleFlagAfter | kBundleFlagNext));
  CHECK(both.substr(8, 16) == std::string(reinterpret_cast<const char*>(prev.bytes.data()), 16));
  CHECK(both.substr(24, 16) == std::string(reinterpret_cast<const char*>(next.bytes.data()), 16));
  CHECK(both.size() == bundle_size(1, packets[0].size(), true, true));
  back = decode_body(both);
  REQUIRE(back);
  CHECK(back->packets == packets);
  CHECK(back->after == prev);
  CHECK(back->next == next);
  CHECK(decode_body(both.substr(0, 30)).error() == BundleError::truncated); // cut inside the second ULID
}

TEST_CASE("Bundle wire format is exactly as documented", "[bundle]") {
  auto body = encode_bundle({"\x60\x01", "abc"});
  CHECK(body == std::string("HSNB\x01\x00\x00\x02\x00\x02\x60\x01\x00\x03" "abc", 17));
}

TEST_CASE("A bare IPv6 packet is accepted as a one-packet body", "[bundle]") {
  auto p = ipv6_packet(addr("fd5e::1"), addr("fd5e::2"), "payload");
  auto back = decode_body(p);
  REQUIRE(back);
  REQUIRE(back->packets.size() == 1);
  CHECK(back->packets.front() == p);
  CHECK(decode_body(p + "x").error() == BundleError::bad_packet);
}

TEST_CASE("Malformed bodies are rejected with a reason", "[bundle]") {
  auto good = encode_bundle({"abc", "defg"});
  CHECK(decode_body("").error() == BundleError::empty);
  CHECK(decode_body("HSN").error() == BundleError::truncated);
  CHECK(decode_body(std::string("XXXX\x01\x00\x00\x01\x00\x01x", 11)).error() == BundleError::bad_magic);
  std::string v = good; v[4] = 2;
  CHECK(decode_body(v).error() == BundleError::bad_version);
  std::string f = good; f[5] = 4; // bit 0 is "after", bit 1 "next"; the others are not defined
  CHECK(decode_body(f).error() == BundleError::bad_flags);
  CHECK(decode_body(good.substr(0, good.size() - 1)).error() == BundleError::truncated);
  CHECK(decode_body(good + "z").error() == BundleError::trailing_bytes);
  std::string zero_count = good; zero_count[6] = 0; zero_count[7] = 0;
  CHECK(decode_body(zero_count).error() == BundleError::bad_length);
  std::string big_count = good; big_count[6] = '\xff'; big_count[7] = '\xff';
  CHECK(decode_body(big_count).error() == BundleError::truncated);
  std::string past_end = good; past_end[8] = '\x7f';  // first length points far past the end
  CHECK(decode_body(past_end).error() == BundleError::truncated);
  std::string zero_len("HSNB\x01\x00\x00\x01\x00\x00x", 11);
  CHECK(decode_body(zero_len).error() == BundleError::bad_length);
}

#include "core/seal.hpp"

#include <catch2/catch.hpp>

using namespace hoshino::core;

namespace {
Psk key_of(char c) {
  Psk k;
  k.fill(static_cast<std::uint8_t>(c));
  return k;
}
const Nonce kNonce{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
} // namespace

TEST_CASE("Sealed bodies open with the same key and key, and hide the plaintext", "[seal]") {
  auto sealed = seal(key_of('k'), "hoshino/dst/src/ulid", "secret packets", kNonce);
  CHECK(sealed.size() == 14 + kSealOverhead);
  CHECK(sealed.substr(0, 4) == "HSNE");
  CHECK(sealed.find("secret") == std::string::npos);
  auto plain = open_sealed(key_of('k'), "hoshino/dst/src/ulid", sealed);
  REQUIRE(plain);
  CHECK(*plain == "secret packets");
}

TEST_CASE("A sealed body does not open under another object key, key, or after tampering", "[seal]") {
  auto sealed = seal(key_of('k'), "hoshino/B/A/ULID1", "payload", kNonce);
  CHECK(open_sealed(key_of('k'), "hoshino/C/A/ULID1", sealed).error() == SealError::auth_failed); // moved inbox
  CHECK(open_sealed(key_of('k'), "hoshino/B/A/ULID2", sealed).error() == SealError::auth_failed); // new ULID
  CHECK(open_sealed(key_of('x'), "hoshino/B/A/ULID1", sealed).error() == SealError::auth_failed); // wrong key
  for (std::size_t i = 5; i < sealed.size(); ++i) {
    auto t = sealed;
    t[i] ^= 1;
    CHECK(open_sealed(key_of('k'), "hoshino/B/A/ULID1", t).error() == SealError::auth_failed);
  }
  CHECK(open_sealed(key_of('k'), "k", "HSNE\x01short").error() == SealError::truncated);
  CHECK(open_sealed(key_of('k'), "k", "plain bundle").error() == SealError::not_sealed);
  auto v1 = sealed; // the previous version's bodies, or a future one's: not ours to open
  v1[4] = 1;
  CHECK(open_sealed(key_of('k'), "hoshino/B/A/ULID1", v1).error() == SealError::bad_version);
}

TEST_CASE("Nonces are random", "[seal]") { CHECK(random_nonce() != random_nonce()); }

TEST_CASE("PSK files: 32 raw bytes or 64 hex digits", "[seal]") {
  auto raw = parse_psk(std::string(32, 'z'));
  REQUIRE(raw);
  CHECK((*raw)[0] == 'z');
  auto hex = parse_psk("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n");
  REQUIRE(hex);
  CHECK((*hex)[31] == 0x1f);
  CHECK_FALSE(parse_psk("tooshort"));
  CHECK_FALSE(parse_psk(std::string(64, 'g')));
  CHECK(parse_psk("x").error().find("openssl rand -hex 32") != std::string::npos);
}

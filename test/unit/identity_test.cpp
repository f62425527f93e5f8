#include "app/peers_file.hpp"
#include "core/identity.hpp"
#include "core/seal.hpp"
#include "support/packets.hpp"

#include <catch2/catch.hpp>

using namespace hoshino;
using namespace hoshino::core;
using test::addr;

namespace {
const Address kA = addr("fd5e::a");
const Address kB = addr("fd5e::b");
const Address kC = addr("fd5e::c");
} // namespace

TEST_CASE("Keys print and parse as WireGuard's, one spelling each", "[identity]") {
  auto kp = generate_key_pair();
  auto text = key_to_base64(kp.private_key);
  CHECK(text.size() == 44);
  auto back = parse_key(text + "\n");
  REQUIRE(back);
  CHECK(*back == kp.private_key);
  CHECK(public_key_of(*back) == kp.public_key);
  // RFC 7748 §6.1's test vector: Alice's private key gives her public key.
  auto alice = parse_key("dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=");
  REQUIRE(alice);
  CHECK(key_to_base64(*public_key_of(*alice)) == "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
  for (std::string bad : {std::string(""), std::string("short"), std::string(44, '!'), text.substr(0, 43) + "x",
                          text + "="}) {
    INFO(bad);
    auto r = parse_key(bad);
    REQUIRE_FALSE(r);
    if (!bad.empty()) CHECK(r.error().find(bad) == std::string::npos); // never echoed
  }
  // The same 32 bytes spelt with non-zero unused bits in the last character: refused. The last of the
  // 43 characters carries 2 bits of the key and 4 unused ones ("AAAA...A=" is 32 zero bytes).
  std::string zero = key_to_base64(PrivateKey{});
  CHECK(parse_key(zero));
  std::string noncanonical = zero;
  noncanonical[42] = 'B'; // a set unused bit
  REQUIRE_FALSE(parse_key(noncanonical));
  CHECK(parse_key(noncanonical).error().find("non-canonical") != std::string::npos);
  CHECK(key_from_base64url(key_to_base64url(kp.public_key)) == kp.public_key);
  CHECK_FALSE(key_from_base64url("too short"));
}

TEST_CASE("Both ends derive the same pair key; anyone else, or another PSK, another one", "[identity]") {
  auto a = generate_key_pair(), b = generate_key_pair(), c = generate_key_pair();
  auto ab = pair_key(a, kA, b.public_key, kB, "hoshino", std::nullopt);
  auto ba = pair_key(b, kB, a.public_key, kA, "hoshino", std::nullopt);
  REQUIRE(ab);
  REQUIRE(ba);
  CHECK(*ab == *ba);
  // C, holding only its own private key, cannot compute A-B's key, even claiming to be A.
  auto cb = pair_key(c, kA, b.public_key, kB, "hoshino", std::nullopt);
  REQUIRE(cb);
  CHECK(*cb != *ab);
  // Context: addresses, prefix and PSK all change the key.
  CHECK(*pair_key(a, kA, b.public_key, kC, "hoshino", std::nullopt) != *ab);
  CHECK(*pair_key(a, kA, b.public_key, kB, "other", std::nullopt) != *ab);
  Psk psk{};
  psk[0] = 1;
  auto with_psk = pair_key(a, kA, b.public_key, kB, "hoshino", psk);
  CHECK(*with_psk != *ab);
  CHECK(*with_psk == *pair_key(b, kB, a.public_key, kA, "hoshino", psk));
  // A low-order public key (all zeros) gives no key.
  CHECK_FALSE(pair_key(a, kA, PublicKey{}, kB, "hoshino", std::nullopt));
}

TEST_CASE("Sealed bodies carry their key ids, bound by the tag", "[identity][seal]") {
  Psk key{};
  key[5] = 7;
  auto body = seal(key, "hoshino/k", "plain", random_nonce(), {0x01020304, 0x0a0b0c0d});
  auto ids = sealed_ids(body);
  REQUIRE(ids);
  CHECK(ids->sender == 0x01020304);
  CHECK(ids->receiver == 0x0a0b0c0d);
  CHECK(open_sealed(key, "hoshino/k", body).value() == "plain");
  // Another key id written over the header: the tag no longer matches.
  auto moved = body;
  moved[5] ^= 1;
  CHECK_FALSE(open_sealed(key, "hoshino/k", moved));
  CHECK_FALSE(open_sealed(key, "hoshino/other", body));
  // Two objects with the same nonce (were it ever to repeat) still differ: each has its own subkey.
  Nonce n{};
  auto x = seal(key, "hoshino/x", "same", n), y = seal(key, "hoshino/y", "same", n);
  CHECK(x.substr(25, 4) != y.substr(25, 4)); // the ciphertext itself (the tag differs anyway: other AD)
}

TEST_CASE("Peers file: WireGuard-style sections, every error names its line", "[identity][config]") {
  auto b = generate_key_pair().public_key, c = generate_key_pair().public_key;
  std::string text = "# fleet\n[Peer]\nAddress = fd5e::b\nPublicKey = " + key_to_base64(b) +
                     "\nName = vm-b  # the second\n\n[Peer]\nPublicKey=" + key_to_base64(c) + "\nAddress=fd5e::c\n";
  auto peers = app::parse_peers_file(text, "peers.conf");
  REQUIRE(peers);
  REQUIRE(peers->size() == 2);
  CHECK((*peers)[0].address == kB);
  CHECK((*peers)[0].key == b);
  CHECK((*peers)[0].name == "vm-b");
  CHECK((*peers)[1].address == kC);
  CHECK((*peers)[1].name.empty());
  auto error = [](const std::string& t) {
    auto r = app::parse_peers_file(t, "p.conf");
    REQUIRE_FALSE(r);
    return r.error();
  };
  CHECK(error("Address = fd5e::b\n") == "p.conf:1: 'Address' outside a [Peer] section");
  CHECK(error("[Peer]\nAddress = nope\n") == "p.conf:2: Address 'nope' is not an IPv6 address");
  CHECK(error("[Peer]\nAddress = fd5e::b\n") == "p.conf:1: [Peer] needs Address and PublicKey");
  CHECK(error("[Interface]\n") == "p.conf:1: unknown section [Interface] (only [Peer])");
  CHECK(error("[Peer]\nEndpoint = x\n") == "p.conf:2: unknown key 'Endpoint' (Address, PublicKey, Name)");
  CHECK(error("[Peer]\nno equals sign\n") == "p.conf:2: expected 'Key = value'");
  CHECK(error("[Peer]\nPublicKey = abc\n").starts_with("p.conf:2: PublicKey: not a key"));
  auto twice = "[Peer]\nAddress = fd5e::b\nPublicKey = " + key_to_base64(b) + "\n[Peer]\nAddress = fd5e::b\nPublicKey = " +
               key_to_base64(c) + "\n";
  CHECK(error(twice) == "p.conf:4: fd5e::b is pinned twice");
}

// Packets inlined in object keys: the key-safe encoding, the key syntax, and when a body goes inline.
#include "core/base64url.hpp"
#include "core/bundle.hpp"
#include "core/keys.hpp"
#include "core/object.hpp"
#include "support/packets.hpp"

#include <catch2/catch.hpp>

using namespace hoshino::core;
using hoshino::test::addr;
using hoshino::test::ipv6_packet;

namespace {

ObjectKey some_id() {
  UlidGenerator gen([] { return 7; });
  return ObjectKey{addr("fd5e::b"), addr("fd5e::a"), gen.next(1'700'000'000'000ULL)};
}

Psk key_of(char fill) {
  Psk k;
  k.fill(static_cast<std::uint8_t>(fill));
  return k;
}

} // namespace

TEST_CASE("base64url: RFC 4648 test vectors, without padding", "[base64url]") {
  // RFC 4648 section 10, padding removed; the URL-safe alphabet shows in the last two.
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"},
      {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"}, {"\xff\xfe\xfd", "__79"}};
  for (auto [plain, text] : vectors) {
    CHECK(base64url_encode(plain) == text);
    CHECK(base64url_decode(text) == std::string(plain));
    CHECK(base64url_size(std::string_view(plain).size()) == std::string_view(text).size());
  }
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  CHECK(base64url_decode(base64url_encode(all)) == all);
}

TEST_CASE("base64url decoding is strict: one text form per byte string", "[base64url]") {
  CHECK_FALSE(base64url_decode("Zg=="));  // padding
  CHECK_FALSE(base64url_decode("Zm9v+")); // '+' is standard base64, not URL-safe
  CHECK_FALSE(base64url_decode("Z"));     // a lone character cannot hold a byte
  CHECK_FALSE(base64url_decode("Zh"));    // unused low bits set: "Zg" is the canonical form
  CHECK_FALSE(base64url_decode("Zm9"));   // ditto for two bytes ("Zm8")
  CHECK(base64url_capacity(3) == 2);
  CHECK(base64url_capacity(4) == 3);
  CHECK(base64url_capacity(5) == 3);
}

TEST_CASE("Keys with an inline body: format, parse, and limits", "[keys][inline]") {
  ObjectKey k = some_id();
  k.inline_body = std::string("\x60\x00packet", 8);
  auto text = format_key("hoshino", k);
  CHECK(text == base_key("hoshino", k) + "." + base64url_encode(k.inline_body));
  CHECK(base_of("hoshino", text) == base_key("hoshino", k));
  CHECK(base_of("hoshino", base_key("hoshino", k)) == base_key("hoshino", k));
  auto back = parse_key("hoshino", text);
  REQUIRE(back);
  CHECK(back->inline_body == k.inline_body);
  CHECK(back->id == k.id);
  CHECK(format_key("hoshino", *back) == text);
  CHECK_FALSE(parse_key("hoshino", base_key("hoshino", k) + "."));       // empty inline part
  CHECK_FALSE(parse_key("hoshino", base_key("hoshino", k) + "-Zm9v"));   // wrong separator
  CHECK_FALSE(parse_key("hoshino", base_key("hoshino", k) + ".Zm9v/x")); // not base64url
  // The whole key stays within S3's 1024 bytes.
  k.inline_body = std::string(inline_capacity("hoshino"), 'x');
  CHECK(format_key("hoshino", k).size() <= kMaxKeyBytes);
  CHECK(parse_key("hoshino", format_key("hoshino", k)));
  k.inline_body.push_back('x');
  CHECK(format_key("hoshino", k).size() > kMaxKeyBytes);
  CHECK_FALSE(parse_key("hoshino", format_key("hoshino", k)));
  CHECK(inline_capacity(std::string(1000, 'p')) == 0); // a very long prefix leaves no room
}

TEST_CASE("encode_object: small batches go in the key, large ones in the body", "[object][inline]") {
  auto small = ipv6_packet(addr("fd5e::a"), addr("fd5e::b"), "ping");
  auto o = encode_object("hoshino", some_id(), {small}, std::nullopt, true, Nonce{});
  CHECK(o.inlined);
  CHECK(o.body.empty());
  auto parsed = parse_key("hoshino", o.key);
  REQUIRE(parsed);
  CHECK(parsed->inline_body == small); // one packet travels bare
  CHECK(decode_body(parsed->inline_body)->packets.front() == small);

  auto two = encode_object("hoshino", some_id(), {small, small}, std::nullopt, true, Nonce{});
  REQUIRE(two.inlined);
  CHECK(decode_body(parse_key("hoshino", two.key)->inline_body)->packets.size() == 2);

  // Naming a predecessor needs the bundle header, inline too.
  Ulid prev = some_id().id;
  auto behind = encode_object("hoshino", some_id(), {small}, std::nullopt, true, Nonce{}, prev);
  REQUIRE(behind.inlined);
  auto opened = decode_body(parse_key("hoshino", behind.key)->inline_body);
  REQUIRE(opened);
  CHECK(opened->after == prev);
  CHECK(opened->packets == std::vector<Bytes>{small});

  // So does announcing the successor's key; in the body form it is there too.
  Ulid next = some_id().id;
  next.bytes[15] ^= 1;
  auto chained = encode_object("hoshino", some_id(), {small}, std::nullopt, true, Nonce{}, std::nullopt, next);
  REQUIRE(chained.inlined);
  opened = decode_body(parse_key("hoshino", chained.key)->inline_body);
  REQUIRE(opened);
  CHECK(opened->next == next);
  CHECK_FALSE(opened->after);
  auto chained_body = encode_object("hoshino", some_id(), {small}, std::nullopt, false, Nonce{}, prev, next);
  CHECK_FALSE(chained_body.inlined);
  CHECK(chained_body.body == encode_bundle({small}, prev, next));

  auto off = encode_object("hoshino", some_id(), {small}, std::nullopt, false, Nonce{});
  CHECK_FALSE(off.inlined);
  CHECK(off.key == base_key("hoshino", some_id()));
  CHECK(off.body == encode_bundle({small}));

  // The largest single packet that fits, and one byte more.
  std::size_t cap = inline_capacity("hoshino");
  auto fits = ipv6_packet(addr("fd5e::a"), addr("fd5e::b"), std::string(cap - 40, 'f'));
  REQUIRE(fits.size() == cap);
  CHECK(encode_object("hoshino", some_id(), {fits}, std::nullopt, true, Nonce{}).inlined);
  auto big = ipv6_packet(addr("fd5e::a"), addr("fd5e::b"), std::string(cap - 39, 'f'));
  auto o_big = encode_object("hoshino", some_id(), {big}, std::nullopt, true, Nonce{});
  CHECK_FALSE(o_big.inlined);
  CHECK(o_big.key == base_key("hoshino", some_id()));
}

TEST_CASE("encode_object with a key: the seal is bound to the base key, inline or not", "[object][inline][psk]") {
  auto packet = ipv6_packet(addr("fd5e::a"), addr("fd5e::b"), "secret payload");
  auto psk = key_of('k');
  Nonce nonce{};
  nonce.fill(3);
  auto o = encode_object("hoshino", some_id(), {packet}, psk, true, nonce);
  REQUIRE(o.inlined);
  auto parsed = parse_key("hoshino", o.key);
  REQUIRE(parsed);
  CHECK(is_sealed(parsed->inline_body));
  auto opened = open_sealed(psk, base_key("hoshino", *parsed), parsed->inline_body);
  REQUIRE(opened);
  CHECK(*opened == packet);
  CHECK_FALSE(open_sealed(key_of('x'), base_key("hoshino", *parsed), parsed->inline_body));

  auto big = ipv6_packet(addr("fd5e::a"), addr("fd5e::b"), std::string(2000, 'b'));
  auto ob = encode_object("hoshino", some_id(), {big}, psk, true, nonce);
  REQUIRE_FALSE(ob.inlined);
  auto opened_big = open_sealed(psk, ob.key, ob.body);
  REQUIRE(opened_big);
  CHECK(*opened_big == encode_bundle({big}));
}

TEST_CASE("An object whose key was taken moves to a fresh ULID, sealed anew under its new key", "[object]") {
  auto psk_on = GENERATE(false, true);
  std::optional<Psk> psk;
  if (psk_on) psk = Psk{9};
  UlidGenerator gen([] { return 77; });
  ObjectKey id{addr("fd5e::2"), addr("fd5e::1"), gen.next(1'700'000'000'000ULL)};
  std::vector<Bytes> packets{ipv6_packet(addr("fd5e::1"), addr("fd5e::2"), std::string(2000, 'p'))};
  auto object = encode_object("h", id, packets, psk, false, Nonce{1});
  auto fresh = gen.next(1'700'000'000'001ULL);
  auto moved = rekey_object("h", object, fresh, psk, Nonce{2});
  REQUIRE(moved);
  auto k = parse_key("h", moved->key);
  REQUIRE(k);
  CHECK(k->id == fresh);
  CHECK(k->src == id.src);
  CHECK(k->dst == id.dst);
  Bytes plain = moved->body;
  if (psk) {
    CHECK_FALSE(open_sealed(*psk, object.key, moved->body)); // not valid under the old key
    auto opened = open_sealed(*psk, moved->key, moved->body);
    REQUIRE(opened);
    plain = *opened;
  }
  auto bundle = decode_body(plain);
  REQUIRE(bundle);
  CHECK(bundle->packets == packets);
  // Not ours (does not open): not moved.
  if (psk) CHECK_FALSE(rekey_object("h", object, fresh, Psk{8}, Nonce{2}));
}

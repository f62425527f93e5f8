#include "core/identity.hpp"

#include "core/base64url.hpp"

#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

namespace hoshino::core {
namespace {

using Pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)>;

Pkey private_pkey(const PrivateKey& k) {
  return Pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, k.data(), k.size()), &EVP_PKEY_free);
}

} // namespace

KeyPair generate_key_pair() {
  KeyPair kp;
  for (;;) {
    if (RAND_bytes(kp.private_key.data(), static_cast<int>(kp.private_key.size())) != 1)
      throw std::runtime_error("RAND_bytes failed");
    // Clamped as X25519 does it anyway, so the file holds the key exactly as used (as `wg genkey` does).
    kp.private_key[0] &= 248;
    kp.private_key[31] = static_cast<std::uint8_t>((kp.private_key[31] & 127) | 64);
    if (auto pub = public_key_of(kp.private_key)) {
      kp.public_key = *pub;
      return kp;
    }
  }
}

std::optional<PublicKey> public_key_of(const PrivateKey& key) {
  auto p = private_pkey(key);
  if (!p) return std::nullopt;
  PublicKey out{};
  std::size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(p.get(), out.data(), &len) != 1 || len != out.size()) return std::nullopt;
  return out;
}

std::string key_to_base64(const std::array<std::uint8_t, 32>& key) {
  std::string s(45, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(s.data()), key.data(), static_cast<int>(key.size()));
  s.resize(static_cast<std::size_t>(n));
  return s;
}

Result<std::array<std::uint8_t, 32>, std::string> parse_key(std::string_view text) {
  auto space = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  if (text.size() != 44 || text[43] != '=' || text[42] == '=')
    return std::string("not a key: 44 characters of base64 expected (as `hoshino genkey` writes)");
  unsigned char buf[33] = {};
  int n = EVP_DecodeBlock(buf, reinterpret_cast<const unsigned char*>(text.data()), 44);
  if (n != 33) return std::string("not a key: invalid base64");
  std::array<std::uint8_t, 32> out{};
  std::copy_n(buf, 32, out.begin());
  // One spelling per key: the last character's unused bits must be zero.
  if (key_to_base64(out) != text) return std::string("not a key: non-canonical base64");
  return out;
}

std::string key_to_base64url(const PublicKey& key) {
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
}

std::optional<PublicKey> key_from_base64url(std::string_view text) {
  if (text.size() != 43) return std::nullopt;
  auto bytes = base64url_decode(text);
  if (!bytes || bytes->size() != 32) return std::nullopt;
  PublicKey out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

KeyId key_id(const PublicKey& key) {
  return static_cast<KeyId>(key[0]) << 24 | static_cast<KeyId>(key[1]) << 16 | static_cast<KeyId>(key[2]) << 8 | key[3];
}

std::string fingerprint(const PublicKey& key) { return key_to_base64(key).substr(0, 8); }

std::optional<Psk> pair_key(const KeyPair& self, const Address& self_address, const PublicKey& peer,
                            const Address& peer_address, std::string_view key_prefix, const std::optional<Psk>& psk) {
  auto mine = private_pkey(self.private_key);
  Pkey theirs(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer.data(), peer.size()), &EVP_PKEY_free);
  if (!mine || !theirs) return std::nullopt;
  PkeyCtx ctx(EVP_PKEY_CTX_new(mine.get(), nullptr), &EVP_PKEY_CTX_free);
  std::array<std::uint8_t, 32> shared{};
  std::size_t len = shared.size();
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), theirs.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), shared.data(), &len) != 1 || len != shared.size())
    return std::nullopt; // OpenSSL refuses a low-order point (an all-zero shared secret)
  if (std::all_of(shared.begin(), shared.end(), [](std::uint8_t b) { return b == 0; })) return std::nullopt;

  // The context, sorted so both ends build the same bytes.
  std::string info = "hoshino pair v1";
  info += key_prefix;
  info.push_back('\0');
  bool self_first = self_address < peer_address;
  const Address& lo = self_first ? self_address : peer_address;
  const Address& hi = self_first ? peer_address : self_address;
  info.append(reinterpret_cast<const char*>(lo.bytes.data()), 16);
  info.append(reinterpret_cast<const char*>(hi.bytes.data()), 16);
  const PublicKey& klo = self_first ? self.public_key : peer;
  const PublicKey& khi = self_first ? peer : self.public_key;
  info.append(reinterpret_cast<const char*>(klo.data()), 32);
  info.append(reinterpret_cast<const char*>(khi.data()), 32);

  Psk salt = psk.value_or(Psk{});
  Psk out{};
  PkeyCtx kdf(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr), &EVP_PKEY_CTX_free);
  std::size_t out_len = out.size();
  if (!kdf || EVP_PKEY_derive_init(kdf.get()) != 1 || EVP_PKEY_CTX_set_hkdf_md(kdf.get(), EVP_sha256()) != 1 ||
      EVP_PKEY_CTX_set1_hkdf_salt(kdf.get(), salt.data(), static_cast<int>(salt.size())) != 1 ||
      EVP_PKEY_CTX_set1_hkdf_key(kdf.get(), shared.data(), static_cast<int>(shared.size())) != 1 ||
      EVP_PKEY_CTX_add1_hkdf_info(kdf.get(), reinterpret_cast<const unsigned char*>(info.data()),
                                  static_cast<int>(info.size())) != 1 ||
      EVP_PKEY_derive(kdf.get(), out.data(), &out_len) != 1 || out_len != out.size())
    throw std::runtime_error("HKDF failed");
  return out;
}

} // namespace hoshino::core

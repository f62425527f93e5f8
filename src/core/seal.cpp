#include "core/seal.hpp"

#include "util/crypto.hpp"
#include "util/hex.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>
#include <stdexcept>

namespace hoshino::core {
namespace {

constexpr std::uint8_t kVersion = 2;
constexpr std::size_t kIds = 5;    // offset of the key ids
constexpr std::size_t kNonce = 13; // offset of the nonce
constexpr std::size_t kHeader = 4 + 1 + 4 + 4 + 12;
constexpr int kTag = 16;

void put_id(Bytes& out, std::size_t at, KeyId id) {
  for (int i = 0; i < 4; ++i) out[at + i] = static_cast<char>(id >> (24 - 8 * i));
}
KeyId get_id(std::string_view b, std::size_t at) {
  KeyId id = 0;
  for (int i = 0; i < 4; ++i) id = id << 8 | static_cast<std::uint8_t>(b[at + i]);
  return id;
}

// The object's own key (see the header: why not the pair key itself).
crypto::Sha256 subkey(const Psk& key, std::string_view associated) {
  std::string data = "hoshino object v2";
  data.append(associated);
  return crypto::hmac_sha256(key, data);
}

// What the tag covers besides the ciphertext: the object key, then the header.
std::string associated_data(std::string_view key, std::string_view header) {
  std::string ad(key);
  ad.append(header);
  return ad;
}

using Ctx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

Ctx new_ctx() {
  Ctx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  if (!ctx) throw std::runtime_error("EVP_CIPHER_CTX_new failed");
  return ctx;
}

const unsigned char* u(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

} // namespace

Result<Psk, std::string> parse_psk(std::string_view content) {
  Psk key{};
  if (content.size() == 32) {
    std::copy(content.begin(), content.end(), key.begin());
    return key;
  }
  std::string_view hex = content;
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r' || hex.back() == ' ')) hex.remove_suffix(1);
  if (hex.size() == 64) {
    for (std::size_t i = 0; i < 32; ++i) {
      int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
      if (hi < 0 || lo < 0) return std::string("must hold 32 bytes or 64 hex digits");
      key[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return key;
  }
  return std::string("must hold 32 bytes or 64 hex digits (generate one with: openssl rand -hex 32)");
}

std::string_view to_string(SealError e) {
  switch (e) {
    case SealError::not_sealed: return "not_sealed";
    case SealError::truncated: return "truncated";
    case SealError::bad_version: return "bad_version";
    case SealError::auth_failed: return "auth_failed";
  }
  return "unknown";
}

bool is_sealed(std::string_view body) noexcept { return body.substr(0, 4) == kSealMagic; }

std::optional<SealIds> sealed_ids(std::string_view body) noexcept {
  if (!is_sealed(body) || body.size() < kSealOverhead || static_cast<std::uint8_t>(body[4]) != kVersion)
    return std::nullopt;
  return SealIds{get_id(body, kIds), get_id(body, kIds + 4)};
}

Nonce random_nonce() {
  Nonce n{};
  if (RAND_bytes(n.data(), static_cast<int>(n.size())) != 1) throw std::runtime_error("RAND_bytes failed");
  return n;
}

Bytes seal(const Psk& key, std::string_view associated, std::string_view plain, const Nonce& nonce, SealIds ids) {
  Bytes out;
  out.resize(kHeader + plain.size() + kTag);
  out.replace(0, 4, kSealMagic);
  out[4] = static_cast<char>(kVersion);
  put_id(out, kIds, ids.sender);
  put_id(out, kIds + 4, ids.receiver);
  std::copy(nonce.begin(), nonce.end(), out.begin() + kNonce);
  auto object_key = subkey(key, associated);
  auto ad = associated_data(associated, std::string_view(out).substr(0, kHeader));
  associated = ad;
  auto ctx = new_ctx();
  int len = 0;
  auto* dst = reinterpret_cast<unsigned char*>(out.data() + kHeader);
  // Failures here are impossible with valid arguments (allocation aside): treat them as bugs.
  if (EVP_EncryptInit_ex(ctx.get(), EVP_chacha20_poly1305(), nullptr, object_key.data(), nonce.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, u(associated), static_cast<int>(associated.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), dst, &len, u(plain), static_cast<int>(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), dst + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, kTag, dst + plain.size()) != 1)
    throw std::runtime_error("ChaCha20-Poly1305 encryption failed");
  return out;
}

Result<Bytes, SealError> open_sealed(const Psk& key, std::string_view associated, std::string_view body) {
  if (!is_sealed(body)) return SealError::not_sealed;
  if (body.size() < kSealOverhead) return SealError::truncated;
  if (static_cast<std::uint8_t>(body[4]) != kVersion) return SealError::bad_version;
  const auto* nonce = u(body.substr(kNonce, 12));
  auto object_key = subkey(key, associated);
  auto ad = associated_data(associated, body.substr(0, kHeader));
  associated = ad;
  std::string_view cipher = body.substr(kHeader, body.size() - kHeader - kTag);
  std::string tag(body.substr(body.size() - kTag));
  Bytes plain(cipher.size(), '\0');
  auto ctx = new_ctx();
  int len = 0;
  auto* dst = reinterpret_cast<unsigned char*>(plain.data());
  bool ok = EVP_DecryptInit_ex(ctx.get(), EVP_chacha20_poly1305(), nullptr, object_key.data(), nonce) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &len, u(associated), static_cast<int>(associated.size())) == 1 &&
            EVP_DecryptUpdate(ctx.get(), dst, &len, u(cipher), static_cast<int>(cipher.size())) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, kTag, tag.data()) == 1 &&
            EVP_DecryptFinal_ex(ctx.get(), dst + len, &len) == 1;
  if (!ok) return SealError::auth_failed;
  return plain;
}

} // namespace hoshino::core

#include "util/crypto.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstring>

#include <stdexcept>

namespace hoshino::crypto {
namespace {

template <std::size_t N>
std::array<std::uint8_t, N> digest(const EVP_MD* md, std::span<const std::uint8_t> data) {
  std::array<std::uint8_t, N> out{};
  unsigned int len = 0;
  // EVP_Digest fails only on allocation failure: that is not an expected error, so it throws.
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1 || len != N)
    throw std::runtime_error("EVP_Digest failed");
  return out;
}

} // namespace

Sha256 sha256(std::span<const std::uint8_t> data) { return digest<32>(EVP_sha256(), data); }
Sha256 sha256(std::string_view data) { return sha256(bytes_of(data)); }
Md5 md5(std::span<const std::uint8_t> data) { return digest<16>(EVP_md5(), data); }

Sha256 hmac_sha256(std::span<const std::uint8_t> key, std::string_view data) {
  Sha256 out{};
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len) ||
      len != out.size())
    throw std::runtime_error("HMAC failed");
  return out;
}

std::string hex(std::span<const std::uint8_t> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (auto b : bytes) {
    s.push_back(digits[b >> 4]);
    s.push_back(digits[b & 15]);
  }
  return s;
}

std::string base64(std::span<const std::uint8_t> bytes) {
  std::string s(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(s.data()), bytes.data(), static_cast<int>(bytes.size()));
  s.resize(static_cast<std::size_t>(n));
  return s;
}

std::uint64_t random64() {
  std::uint8_t b[8];
  if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("RAND_bytes failed");
  std::uint64_t v;
  std::memcpy(&v, b, sizeof v);
  return v;
}

} // namespace hoshino::crypto

#include "core/keys.hpp"

#include "core/base64url.hpp"

namespace hoshino::core {
namespace {

std::size_t base_size(std::string_view key_prefix) { return key_prefix.size() + 1 + 33 + 33 + 26; }

} // namespace

std::string base_key(std::string_view key_prefix, const ObjectKey& key) {
  std::string s;
  s.reserve(base_size(key_prefix));
  s.append(key_prefix).append("/").append(key.dst.hex()).append("/").append(key.src.hex()).append("/");
  s.append(key.id.str());
  return s;
}

std::string_view base_of(std::string_view key_prefix, std::string_view key) {
  return key.substr(0, base_size(key_prefix));
}

std::string format_key(std::string_view key_prefix, const ObjectKey& key) {
  std::string s = base_key(key_prefix, key);
  if (!key.inline_body.empty()) s.append(".").append(base64url_encode(key.inline_body));
  return s;
}

std::string inbox_prefix(std::string_view key_prefix, const Address& self) {
  return std::string(key_prefix) + "/" + self.hex() + "/";
}

std::string bell_key(std::string_view key_prefix, const Address& node) {
  return std::string(key_prefix) + "/bell/" + node.hex();
}

std::size_t inline_capacity(std::string_view key_prefix) {
  std::size_t used = base_size(key_prefix) + 1;
  return used >= kMaxKeyBytes ? 0 : base64url_capacity(kMaxKeyBytes - used);
}

std::optional<ObjectKey> parse_key(std::string_view key_prefix, std::string_view key) {
  const std::size_t base = base_size(key_prefix);
  if (key.size() < base || key.size() > kMaxKeyBytes) return std::nullopt;
  if (!key.starts_with(key_prefix) || key[key_prefix.size()] != '/') return std::nullopt;
  std::string_view rest = key.substr(base);
  key = key.substr(key_prefix.size() + 1, base - key_prefix.size() - 1);
  if (key[32] != '/' || key[65] != '/') return std::nullopt;
  auto dst = Address::from_hex(key.substr(0, 32));
  auto src = Address::from_hex(key.substr(33, 32));
  auto id = Ulid::parse(key.substr(66));
  if (!dst || !src || !id) return std::nullopt;
  ObjectKey parsed{*dst, *src, *id, {}};
  if (!rest.empty()) {
    if (rest.size() < 3 || rest[0] != '.') return std::nullopt; // "." and at least one byte
    auto body = base64url_decode(rest.substr(1));
    if (!body) return std::nullopt;
    parsed.inline_body = std::move(*body);
  }
  return parsed;
}

} // namespace hoshino::core

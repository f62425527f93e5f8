#include "core/keys.hpp"

namespace hoshino::core {

std::string format_key(std::string_view key_prefix, const ObjectKey& key) {
  std::string s;
  s.reserve(key_prefix.size() + 1 + 33 + 33 + 26);
  s.append(key_prefix).append("/").append(key.dst.hex()).append("/").append(key.src.hex()).append("/");
  s.append(key.id.str());
  return s;
}

std::string inbox_prefix(std::string_view key_prefix, const Address& self) {
  return std::string(key_prefix) + "/" + self.hex() + "/";
}

std::optional<ObjectKey> parse_key(std::string_view key_prefix, std::string_view key) {
  if (key.size() != key_prefix.size() + 1 + 33 + 33 + 26) return std::nullopt;
  if (!key.starts_with(key_prefix) || key[key_prefix.size()] != '/') return std::nullopt;
  key.remove_prefix(key_prefix.size() + 1);
  if (key[32] != '/' || key[65] != '/') return std::nullopt;
  auto dst = Address::from_hex(key.substr(0, 32));
  auto src = Address::from_hex(key.substr(33, 32));
  auto id = Ulid::parse(key.substr(66));
  if (!dst || !src || !id) return std::nullopt;
  return ObjectKey{*dst, *src, *id};
}

} // namespace hoshino::core

#pragma once
// Object keys: <key-prefix>/<dst>/<src>/<ulid>[.<inline>], dst and src as 32 lowercase hex digits. A
// node's inbox is everything under <key-prefix>/<self>/; the src segment lets an IAM policy limit who
// writes as whom. A small object's body may travel in the key itself, base64url after a '.', and the
// object is then empty: the receiver reads it from the LIST and needs no GET.
#include "core/ipv6.hpp"
#include "core/ulid.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace hoshino::core {

// S3's limit on a key, in bytes.
inline constexpr std::size_t kMaxKeyBytes = 1024;

struct ObjectKey {
  Address dst;
  Address src;
  Ulid id;
  Bytes inline_body{}; // empty: the body is the object's content
};

std::string format_key(std::string_view key_prefix, const ObjectKey& key);
// The key without its inline part: what a sealed body is bound to, and what identifies the object.
std::string base_key(std::string_view key_prefix, const ObjectKey& key);
// The same, cut from a key that parse_key accepted (no copy).
std::string_view base_of(std::string_view key_prefix, std::string_view key);
std::string inbox_prefix(std::string_view key_prefix, const Address& self);
// A node's doorbell: <key_prefix>/bell/<address as 32 hex digits>, outside every inbox (core/ingress_schedule.hpp).
std::string bell_key(std::string_view key_prefix, const Address& node);
// nullopt unless `key` is exactly <key_prefix>/<dst>/<src>/<ulid>[.<base64url>] in canonical form.
std::optional<ObjectKey> parse_key(std::string_view key_prefix, std::string_view key);
// How many body bytes fit inline in a key with this prefix (0 if none).
std::size_t inline_capacity(std::string_view key_prefix);

} // namespace hoshino::core

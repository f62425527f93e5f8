#pragma once
// Object keys: <key-prefix>/<dst>/<src>/<ulid>, dst and src as 32 lowercase hex digits. A node's inbox
// is everything under <key-prefix>/<self>/; the src segment lets an IAM policy limit who writes as whom.
#include "core/ipv6.hpp"
#include "core/ulid.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace hoshino::core {

struct ObjectKey {
  Address dst;
  Address src;
  Ulid id;
};

std::string format_key(std::string_view key_prefix, const ObjectKey& key);
std::string inbox_prefix(std::string_view key_prefix, const Address& self);
// nullopt unless `key` is exactly <key_prefix>/<dst>/<src>/<ulid> in canonical form.
std::optional<ObjectKey> parse_key(std::string_view key_prefix, std::string_view key);

} // namespace hoshino::core

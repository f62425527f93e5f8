#include "core/object.hpp"

#include "core/base64url.hpp"
#include "core/bundle.hpp"

namespace hoshino::core {

EncodedObject encode_object(std::string_view key_prefix, ObjectKey id, const std::vector<Bytes>& packets,
                            const std::optional<Psk>& psk, bool allow_inline, const Nonce& nonce,
                            const std::optional<Ulid>& after, const std::optional<Ulid>& next, SealIds ids) {
  id.inline_body.clear();
  std::string base = base_key(key_prefix, id);
  std::size_t payload = 0;
  for (const auto& p : packets) payload += p.size();
  std::size_t capacity = inline_capacity(key_prefix);
  // Quick size test first: most bulk bundles are far too big, and need no trial encoding.
  if (allow_inline && payload + (psk ? kSealOverhead : 0) <= capacity) {
    Bytes plain = packets.size() == 1 && !after && !next ? packets.front() : encode_bundle(packets, after, next);
    Bytes body = psk ? seal(*psk, base, plain, nonce, ids) : std::move(plain);
    if (body.size() <= capacity) {
      id.inline_body = std::move(body);
      return {format_key(key_prefix, id), {}, true};
    }
  }
  Bytes body = encode_bundle(packets, after, next);
  if (psk) body = seal(*psk, base, body, nonce, ids);
  return {std::move(base), std::move(body), false};
}

std::optional<EncodedObject> rekey_object(std::string_view key_prefix, const EncodedObject& object, const Ulid& id,
                                          const std::optional<Psk>& psk, const Nonce& nonce) {
  auto old = parse_key(key_prefix, object.key);
  if (!old || object.inlined) return std::nullopt;
  ObjectKey moved{old->dst, old->src, id, {}};
  std::string key = base_key(key_prefix, moved);
  if (!psk) return EncodedObject{std::move(key), object.body, false};
  auto plain = open_sealed(*psk, object.key, object.body);
  if (!plain) return std::nullopt;
  return EncodedObject{key, seal(*psk, key, *plain, nonce, sealed_ids(object.body).value_or(SealIds{})), false};
}

} // namespace hoshino::core

#pragma once
// What a batch of packets becomes in the bucket: a key and a body. The body is a bundle (core/bundle.hpp),
// sealed when the nodes share a key (core/seal.hpp, bound to the base key). When that body fits in the
// key (S3 allows 1024 bytes), it goes there instead and the object is empty: the receiver has the packets
// from its LIST, one request and one round trip sooner, and pays no GET.
#include "core/keys.hpp"
#include "core/seal.hpp"

#include <optional>
#include <vector>

namespace hoshino::core {

struct EncodedObject {
  std::string key;
  Bytes body;
  bool inlined = false;
};

// `id` names dst, src and ULID (its inline_body is ignored). A single inlined packet travels bare (the
// bundle header would cost 14 key characters) unless `after` or `next` needs the header; decode_body
// accepts both.
// `after`: the sender's previous object to this destination, when its PUT is still in flight.
// `next`: the ULID the sender's next object to this destination will take (core/chain.hpp).
EncodedObject encode_object(std::string_view key_prefix, ObjectKey id, const std::vector<Bytes>& packets,
                            const std::optional<Psk>& psk, bool allow_inline, const Nonce& nonce,
                            const std::optional<Ulid>& after = {}, const std::optional<Ulid>& next = {},
                            SealIds ids = {});

// The same object under another ULID, for a key found taken (a create-only PUT answered 412: someone
// wrote at the key first). A body object only (announced keys are never inline); a sealed body is
// opened under its old key and sealed anew under the new one (with the same key ids). nullopt if it does
// not open (not ours).
std::optional<EncodedObject> rekey_object(std::string_view key_prefix, const EncodedObject& object, const Ulid& id,
                                          const std::optional<Psk>& psk, const Nonce& nonce);

} // namespace hoshino::core

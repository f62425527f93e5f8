#pragma once
// Per-node identity (like WireGuard's): an X25519 key pair per node, and from two nodes' static keys a
// key for the pair, with which every object between them is sealed (core/seal.hpp). A node that holds
// only its own private key can seal as itself, never as another node.
//
//   pair key = HKDF-SHA256(ikm = X25519(own private, peer public), salt = PSK or 32 zero bytes,
//                          info = "hoshino pair v1" | key prefix | lower address | higher address |
//                                 lower public key | higher public key)
//
// Both ends compute the same key (the context is sorted). The optional --psk-file is the HKDF salt, the
// way WireGuard mixes its preshared key into the handshake's chaining key: an attacker needs both a
// node's private key and the PSK (a hedge against a future break of X25519).
#include "core/ipv6.hpp"
#include "core/seal.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hoshino::core {

using PublicKey = std::array<std::uint8_t, 32>;
using PrivateKey = std::array<std::uint8_t, 32>;

struct KeyPair {
  PrivateKey private_key{};
  PublicKey public_key{};
};

// A fresh key pair (OpenSSL's CSPRNG).
KeyPair generate_key_pair();
// The public key of a private key; nullopt if OpenSSL refuses it.
std::optional<PublicKey> public_key_of(const PrivateKey& key);

// Keys as WireGuard writes them: 44 characters of standard base64. parse_key ignores surrounding
// whitespace (a trailing newline), and refuses anything else with a reason that never echoes the text.
std::string key_to_base64(const std::array<std::uint8_t, 32>& key);
Result<std::array<std::uint8_t, 32>, std::string> parse_key(std::string_view text);
// The same 32 bytes as 43 characters of base64url without padding: safe in an object key.
std::string key_to_base64url(const PublicKey& key);
std::optional<PublicKey> key_from_base64url(std::string_view text);

// Which key sealed an object: the first 4 bytes of the public key (a hint for choosing among a peer's
// current and previous keys during a rotation; the AEAD decides whether it opens).
KeyId key_id(const PublicKey& key);
// A short fingerprint for people (`hoshino show`): the first 8 base64 characters, as `wg show` abbreviates.
std::string fingerprint(const PublicKey& key);

// The key for objects between `self` and `peer`, in both directions; nullopt if the shared secret is
// all zeros (a low-order peer key: refused, as X25519 implementations must).
std::optional<Psk> pair_key(const KeyPair& self, const Address& self_address, const PublicKey& peer,
                            const Address& peer_address, std::string_view key_prefix, const std::optional<Psk>& psk);

} // namespace hoshino::core

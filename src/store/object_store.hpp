#pragma once
// The storage side of a node: the few operations the tunnel needs from a bucket. S3Store is the real
// one (an S3 bucket through s3::Client); MemoryStore is the in-process fake for tests.
#include "core/inbox.hpp"
#include "core/ipv6.hpp"
#include "s3/error.hpp"
#include "util/result.hpp"

#include <asio/awaitable.hpp>

#include <string>
#include <vector>

namespace hoshino::store {

template <class T>
using Op = asio::awaitable<Result<T, s3::Error>>;

// The error code of a GET whose body passed its max_bytes (the transfer was cut there).
inline constexpr std::string_view kObjectTooLarge = "ObjectTooLarge";
// The error code of a create-only PUT on a key that exists.
inline constexpr std::string_view kPreconditionFailed = "PreconditionFailed";

// The operations, as used for metric labels.
enum class OpKind { put, list, get, remove };
std::string_view to_string(OpKind op);

class ObjectStore {
public:
  virtual ~ObjectStore() = default;
  // create_only: the PUT fails with kPreconditionFailed (HTTP 412) if the key exists (If-None-Match: *).
  virtual Op<Unit> put(std::string key, core::Bytes body, bool create_only) = 0;
  // One page of keys (with sizes) under prefix, in the store's order, at most max_keys, after start_after.
  virtual Op<std::vector<core::ListedObject>> list(std::string prefix, std::size_t max_keys,
                                                   std::string start_after) = 0;
  // The body; a larger one is not read past max_bytes: the error's code is then kObjectTooLarge.
  virtual Op<core::Bytes> get(std::string key, std::uint64_t max_bytes) = 0;
  // Deletes up to 1000 keys; returns the keys that could not be deleted.
  virtual Op<std::vector<std::string>> remove(std::vector<std::string> keys) = 0;
  // Proves the bucket exists and the credentials work: a LIST of zero keys under `prefix` (the node's
  // own inbox, which is all a least-privilege policy lets it list).
  virtual Op<Unit> check(std::string prefix) = 0;
};

} // namespace hoshino::store

#pragma once
// The storage side of a node: the few operations the tunnel needs from a bucket. S3Store is the real
// one (an S3 bucket through s3::Client); MemoryStore (test/fakes/) is the tests' in-memory one.
#include "core/ipv6.hpp"
#include "core/listed_object.hpp"
#include "core/s3_errors.hpp"
#include "s3/error.hpp"
#include "util/result.hpp"

#include <asio/awaitable.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace hoshino::store {

template <class T>
using Op = asio::awaitable<Result<T, s3::Error>>;

using core::kObjectTooLarge;     // (core/s3_errors.hpp)
using core::kPreconditionFailed;

// The operations, as used for metric labels. A watch is a GET (billed and counted as one).
enum class OpKind { put, list, get, remove };
std::string_view to_string(OpKind op);

// What ObjectStore::watch learnt about one object.
struct Watch {
  // The server's word: false only when it answered 304 Not Modified. A server (or proxy) that ignores
  // If-None-Match answers the whole object every time, so a caller that must not be fooled by that
  // compares `etag` with the one it sent as well.
  bool changed = true;
  std::string etag; // the object's current ETag, always (quoted, as S3 sends it)
  core::Bytes body;  // when changed: the object (at most the caller's max_bytes)
};

class ObjectStore {
public:
  virtual ~ObjectStore() = default;
  // create_only: the PUT fails with kPreconditionFailed (HTTP 412) if the key exists (If-None-Match: *).
  virtual Op<Unit> put(std::string key, core::Bytes body, bool create_only) = 0;
  // One page of keys (with sizes) under prefix, in the store's order, at most max_keys, after start_after,
  // and whether more follow (a page may hold fewer than max_keys and still be truncated).
  virtual Op<core::ListPage> list(std::string prefix, std::size_t max_keys,
                                                   std::string start_after) = 0;
  // The body; a larger one is not read past max_bytes: the error's code is then kObjectTooLarge.
  virtual Op<core::Bytes> get(std::string key, std::uint64_t max_bytes) = 0;
  // The doorbell: a conditional GET ("If-None-Match: etag") of a small object, whether it changed since
  // `etag` for the price of a GET. An empty etag is unknown: an existing object counts as changed. The body
  // is capped as get's (kObjectTooLarge) and not returned. Errors as for get: 404 NoSuchKey, or 403
  // AccessDenied under a policy without ListBucket, mean the object does not exist (yet).
  virtual Op<Watch> watch(std::string key, std::string etag, std::uint64_t max_bytes) = 0;
  // Deletes up to 1000 keys; returns the keys that could not be deleted.
  virtual Op<std::vector<std::string>> remove(std::vector<std::string> keys) = 0;
  // Proves the bucket exists and the credentials work: a LIST of zero keys under `prefix` (the node's
  // own inbox, which is all a least-privilege policy lets it list).
  virtual Op<Unit> check(std::string prefix) = 0;
};

} // namespace hoshino::store

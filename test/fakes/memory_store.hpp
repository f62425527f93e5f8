#pragma once
// An in-memory ObjectStore shared by in-process nodes. Keys list in byte order, like S3. A fault hook
// lets tests fail chosen operations.
#include "store/object_store.hpp"

#include <asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <optional>

namespace hoshino::store {

// An answer as S3 gives it: an HTTP status and S3's error code (for the fake's answers and fault hooks).
s3::Error http_error(long status, std::string_view code);

class MemoryStore final : public ObjectStore {
public:
  explicit MemoryStore(asio::io_context& io, std::chrono::microseconds latency = {});

  Op<Unit> put(std::string key, core::Bytes body, bool create_only) override;
  Op<core::ListPage> list(std::string prefix, std::size_t max_keys, std::string start_after) override;
  Op<core::Bytes> get(std::string key, std::uint64_t max_bytes) override;
  // ETags as S3's for a single-part PUT: the quoted hex MD5 of the body. Counted and faulted as a get.
  Op<Watch> watch(std::string key, std::string etag, std::uint64_t max_bytes) override;
  Op<std::vector<std::string>> remove(std::vector<std::string> keys) override;
  Op<Unit> check(std::string prefix) override;

  // Return an error to fail the operation on that key (list: the prefix; remove: the first key).
  std::function<std::optional<s3::Error>(OpKind, const std::string& key)> fault;
  // Extra time before a PUT of that key lands (so a later PUT can become visible first, as on S3).
  std::function<std::chrono::microseconds(const std::string& key)> put_delay;
  // True for keys DeleteObjects refuses one by one (a policy or Object Lock), as S3's per-key <Error>.
  std::function<bool(const std::string& key)> undeletable;
  // Sees every PUT that lands (a test's copy of what was sent, to replay it later).
  std::function<void(const std::string& key, const core::Bytes& body)> on_put;

  // Non-zero: no page of a listing holds more keys than this, whatever max_keys asked for, and a page
  // with more to follow says so (IsTruncated), as S3 may answer.
  std::size_t page_limit = 0;

  // False: answers as a server that ignores If-None-Match, the whole object every time (watch: changed
  // true with the current etag, even the one sent), for testing a caller's fallback.
  bool conditional_gets = true;

  std::map<std::string, core::Bytes>& objects() noexcept { return objects_; }
  std::uint64_t requests(OpKind op) const { return requests_[static_cast<std::size_t>(op)]; }

private:
  asio::awaitable<std::optional<s3::Error>> begin(OpKind op, const std::string& key);
  // The object a GET of key answers (404 NoSuchKey, or kObjectTooLarge past max_bytes).
  Result<const core::Bytes*, s3::Error> find(const std::string& key, std::uint64_t max_bytes) const;

  asio::io_context& io_;
  std::chrono::microseconds latency_;
  std::map<std::string, core::Bytes> objects_;
  std::uint64_t requests_[4] = {};
};

} // namespace hoshino::store

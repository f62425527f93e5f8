#include "fakes/memory_store.hpp"

#include "core/keys.hpp"
#include "util/crypto.hpp"
#include "util/timer.hpp"

#include <algorithm>
#include <asio/use_awaitable.hpp>

namespace hoshino::store {

s3::Error http_error(long status, std::string_view code) {
  s3::Error e;
  e.kind = s3::Error::Kind::http;
  e.http_status = status;
  e.code = code;
  return e;
}

// (Every co_await here is a statement of its own: GCC 12 mishandles temporaries beside co_await.)
MemoryStore::MemoryStore(asio::io_context& io, std::chrono::microseconds latency) : io_(io), latency_(latency) {}

asio::awaitable<std::optional<s3::Error>> MemoryStore::begin(OpKind op, const std::string& key) {
  ++requests_[static_cast<std::size_t>(op)];
  // Always suspend, like a real request: callers must not rely on completion before co_await returns.
  Timer t(io_, latency_);
  co_await t.async_wait(asio::use_awaitable);
  if (fault) co_return fault(op, key);
  co_return std::nullopt;
}

Op<Unit> MemoryStore::put(std::string key, core::Bytes body, bool create_only) {
  auto failure = co_await begin(OpKind::put, key);
  if (failure) co_return *failure;
  if (put_delay) {
    Timer t(io_, put_delay(key));
    co_await t.async_wait(asio::use_awaitable);
  }
  // As S3 does: a sender bug must show here, not only on AWS.
  if (key.size() > core::kMaxKeyBytes) co_return http_error(400, "KeyTooLongError");
  // As S3 and RGW answer If-None-Match: *.
  if (create_only && objects_.contains(key)) co_return http_error(412, store::kPreconditionFailed);
  if (on_put) on_put(key, body);
  objects_[key] = std::move(body);
  co_return Unit{};
}

Op<core::ListPage> MemoryStore::list(std::string prefix, std::size_t max_keys, std::string start_after) {
  auto failure = co_await begin(OpKind::list, prefix);
  if (failure) co_return *failure;
  core::ListPage page;
  if (page_limit > 0) max_keys = std::min(max_keys, page_limit);
  auto from = start_after > prefix ? objects_.upper_bound(start_after) : objects_.lower_bound(prefix);
  auto it = from;
  for (; it != objects_.end() && it->first.starts_with(prefix); ++it) {
    if (page.objects.size() == max_keys) {
      page.truncated = true; // as S3: more keys follow under the prefix
      break;
    }
    page.objects.emplace_back(it->first, it->second.size());
  }
  co_return page;
}

Result<const core::Bytes*, s3::Error> MemoryStore::find(const std::string& key, std::uint64_t max_bytes) const {
  auto it = objects_.find(key);
  if (it == objects_.end()) return http_error(404, "NoSuchKey");
  // As s3::Client reports a body cut off at max_bytes (the answer itself was a 200).
  if (it->second.size() > max_bytes) return http_error(200, store::kObjectTooLarge);
  return &it->second;
}

Op<core::Bytes> MemoryStore::get(std::string key, std::uint64_t max_bytes) {
  auto failure = co_await begin(OpKind::get, key);
  if (failure) co_return *failure;
  auto found = find(key, max_bytes);
  if (!found) co_return std::move(found).error();
  co_return **found;
}

Op<Watch> MemoryStore::watch(std::string key, std::string etag, std::uint64_t max_bytes) {
  auto failure = co_await begin(OpKind::get, key);
  if (failure) co_return *failure;
  auto found = find(key, max_bytes);
  if (!found) co_return std::move(found).error();
  std::string current = "\"" + crypto::hex(crypto::md5(crypto::bytes_of(**found))) + "\"";
  // S3's 304 for If-None-Match naming the current ETag; a server that ignores the header sends it all.
  const bool not_modified = conditional_gets && !etag.empty() && etag == current;
  co_return Watch{!not_modified, std::move(current)};
}

Op<std::vector<std::string>> MemoryStore::remove(std::vector<std::string> keys) {
  std::string first = keys.empty() ? std::string() : keys.front();
  auto failure = co_await begin(OpKind::remove, first);
  if (failure) co_return *failure;
  std::vector<std::string> refused;
  for (const auto& k : keys) {
    if (undeletable && undeletable(k)) refused.push_back(k);
    else objects_.erase(k);
  }
  co_return refused;
}

Op<Unit> MemoryStore::check(std::string prefix) {
  auto failure = co_await begin(OpKind::list, prefix);
  if (failure) co_return *failure;
  co_return Unit{};
}

} // namespace hoshino::store

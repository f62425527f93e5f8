#include "store/s3_store.hpp"

namespace hoshino::store {

Op<Unit> S3Store::put(std::string key, core::Bytes body, bool create_only) {
  s3::PutOptions options;
  options.if_none_match = create_only;
  co_return co_await client_.put_object(bucket_, key, std::move(body), options);
}

Op<core::ListPage> S3Store::list(std::string prefix, std::size_t max_keys, std::string start_after) {
  s3::ListOptions o;
  o.prefix = std::move(prefix);
  o.start_after = std::move(start_after);
  o.max_keys = static_cast<int>(std::min<std::size_t>(max_keys, 1000));
  auto page = co_await client_.list_objects(bucket_, std::move(o));
  if (!page) co_return std::move(page).error();
  core::ListPage listed;
  listed.truncated = page->truncated;
  listed.objects.reserve(page->objects.size());
  for (auto& obj : page->objects) listed.objects.emplace_back(std::move(obj.key), obj.size);
  co_return listed;
}

Op<core::Bytes> S3Store::get(std::string key, std::uint64_t max_bytes) {
  co_return co_await client_.get_object(bucket_, key, max_bytes);
}

Op<Watch> S3Store::watch(std::string key, std::string etag, std::uint64_t max_bytes) {
  std::string bucket = bucket_;
  auto r = co_await client_.get_object_if_none_match(std::move(bucket), std::move(key), std::move(etag), max_bytes);
  if (!r) co_return std::move(r).error();
  co_return Watch{r->modified, std::move(r->etag), std::move(r->body)};
}

Op<std::vector<std::string>> S3Store::remove(std::vector<std::string> keys) {
  auto r = co_await client_.delete_objects(bucket_, std::move(keys));
  if (!r) co_return std::move(r).error();
  std::vector<std::string> failed;
  for (auto& f : r->failed) failed.push_back(std::move(f.key));
  co_return failed;
}

Op<Unit> S3Store::check(std::string prefix) { co_return co_await client_.check_bucket(bucket_, prefix); }

} // namespace hoshino::store

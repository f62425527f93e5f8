#pragma once
// ObjectStore over a real S3 bucket.
#include "s3/client.hpp"
#include "store/object_store.hpp"

namespace hoshino::store {

class S3Store final : public ObjectStore {
public:
  S3Store(s3::Client& client, std::string bucket) : client_(client), bucket_(std::move(bucket)) {}

  Op<Unit> put(std::string key, core::Bytes body, bool create_only) override;
  Op<core::ListPage> list(std::string prefix, std::size_t max_keys, std::string start_after) override;
  Op<core::Bytes> get(std::string key, std::uint64_t max_bytes) override;
  Op<Watch> watch(std::string key, std::string etag, std::uint64_t max_bytes) override;
  Op<std::vector<std::string>> remove(std::vector<std::string> keys) override;
  Op<Unit> check(std::string prefix) override;

private:
  s3::Client& client_;
  std::string bucket_;
};

} // namespace hoshino::store

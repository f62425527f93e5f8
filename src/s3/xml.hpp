#pragma once
// The S3 XML documents hoshino reads and writes. Malformed or truncated XML is an error, never a crash.
#include "util/result.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hoshino::s3 {

struct ObjectInfo {
  std::string key;
  std::uint64_t size = 0;
  std::string etag;
  std::string last_modified;
};

struct ListPage {
  std::vector<ObjectInfo> objects;
  bool truncated = false;
  std::string next_continuation_token;
};

struct ErrorBody {
  std::string code;
  std::string message;
  std::string request_id;
};

struct DeleteFailure {
  std::string key;
  std::string code;
  std::string message;
};

struct DeleteResult {
  std::vector<std::string> deleted;
  std::vector<DeleteFailure> failed;
};

// ListObjectsV2's ListBucketResult.
Result<ListPage, std::string> parse_list_result(std::string_view xml);
// An <Error> document; an error string if the body is not one.
Result<ErrorBody, std::string> parse_error(std::string_view xml);
// DeleteObjects' request body (Quiet mode: only failures are reported back).
std::string build_delete_request(std::span<const std::string> keys);
Result<DeleteResult, std::string> parse_delete_result(std::string_view xml);

} // namespace hoshino::s3

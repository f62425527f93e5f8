#pragma once
// A failed S3 request, as a value. Expected failures (network, HTTP status, S3 error codes) are never
// exceptions: callers decide whether to retry, count or report.
#include <string>

namespace hoshino::s3 {

struct Error {
  enum class Kind {
    transport, // no HTTP answer: refused, reset, timeout, DNS (curl_code says which)
    http,      // an HTTP answer with a non-2xx status; code/message from S3's error XML when present
    protocol,  // a 2xx answer whose body could not be understood (malformed or truncated XML)
  };
  Kind kind = Kind::transport;
  long http_status = 0;
  std::string code;       // S3's <Code>, e.g. "NoSuchBucket"; for transport errors the curl error name
  std::string message;    // S3's <Message> or curl's error text
  std::string request_id; // S3's <RequestId>, for support cases
  int curl_code = 0;

  // One line for logs and users: "NoSuchBucket (HTTP 404): The specified bucket does not exist".
  std::string describe() const;
  // 5xx, 429/SlowDown, timeouts and connection errors are worth retrying; 4xx and ObjectTooLarge are not
  // (core/s3_errors.hpp's table decides).
  bool retryable() const;
};

} // namespace hoshino::s3

#pragma once
// AWS Signature Version 4 for S3, done here rather than by libcurl: curl 7.88's CURLOPT_AWS_SIGV4 neither
// sorts nor encodes the query and sends no x-amz-content-sha256, so RGW and AWS reject its LISTs.
#include "s3/credentials.hpp"

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hoshino::s3 {

// RFC 3986 encoding as SigV4 wants it: unreserved characters (A-Z a-z 0-9 - . _ ~) stay, everything
// else becomes %XX with upper-case hex; '/' stays when encoding an object key path.
std::string uri_encode(std::string_view s, bool keep_slash);

using QueryParams = std::vector<std::pair<std::string, std::string>>; // raw (unencoded) name, value
using Headers = std::vector<std::pair<std::string, std::string>>;     // name, value as sent

// name=value pairs encoded, sorted by encoded name then value, joined with '&'. A parameter without a
// value ("?delete") is "delete=". The same string is used on the wire, so what is signed is what is sent.
std::string canonical_query(const QueryParams& query);

struct SigningInput {
  std::string_view method;           // "GET", "PUT", ...
  std::string_view canonical_path;   // already encoded, e.g. "/bucket/a%20b/c"
  const QueryParams* query = nullptr;
  const Headers* headers = nullptr;  // must contain host, x-amz-date and x-amz-content-sha256
  std::string_view payload_hash;     // hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;   // "host;x-amz-content-sha256;x-amz-date"
  std::string signature;        // hex
  std::string authorization;    // the Authorization header's value
};

// "20130524T000000Z"
std::string amz_date(std::chrono::system_clock::time_point t);

class Signer {
public:
  Signer(Credentials credentials, std::string region, std::string service = "s3");

  // amz_date must be the same value as the x-amz-date header in input.headers.
  Signature sign(const SigningInput& input, std::string_view amz_date) const;

  const Credentials& credentials() const noexcept { return credentials_; }
  const std::string& region() const noexcept { return region_; }

private:
  const std::string& signing_key(std::string_view date) const;

  Credentials credentials_;
  std::string region_;
  std::string service_;
  // The derived key changes once a day: cache it so a request costs one HMAC, not five.
  mutable std::string key_date_;
  mutable std::string key_;
};

} // namespace hoshino::s3

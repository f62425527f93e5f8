#pragma once
// An S3 client as coroutines on one io_context: PUT/GET/ListObjectsV2/DeleteObjects and a bucket check.
// Every operation returns a value or an s3::Error; none throws for network or S3 failures.
#include "util/clock.hpp"
#include "net/curl_multi.hpp"
#include "s3/config_sources.hpp"
#include "s3/credentials.hpp"
#include "s3/error.hpp"
#include "s3/sigv4.hpp"
#include "s3/xml.hpp"
#include "util/result.hpp"

#include <asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace hoshino::s3 {

struct ClientConfig {
  Endpoint endpoint;
  std::string region = "us-east-1";
  Credentials credentials;
  long max_connections = 16; // per host; further requests queue inside curl
  Duration request_timeout = std::chrono::milliseconds(10000);
  Duration connect_timeout = std::chrono::milliseconds(3000);
  bool trace_http = false;   // curl's verbose trace (prints headers, so never on by default)
  // Hash request bodies into the signature. Over HTTPS, TLS already protects the body and SigV4's
  // UNSIGNED-PAYLOAD spares the SHA-256 of every byte sent (about a seventh of a sending node's CPU in
  // scripts/profile.sh); over plain HTTP the signed hash is the only integrity check.
  enum class PayloadSigning { automatic, always, never } payload_signing = PayloadSigning::automatic;
};

struct PutOptions {
  // Sends "If-None-Match: *": the PUT only creates. On a key that exists it fails with Error
  // "PreconditionFailed" (HTTP 412, not retryable) and leaves the object as it was.
  bool if_none_match = false;
};

// The answer to a conditional GET (Client::get_object_if_none_match).
struct Conditional {
  bool modified = true; // false: 304 Not Modified, the ETag sent is still the object's
  std::string etag;     // the object's ETag, quotes kept as the server sent them (on a 304: the one sent)
  std::string body;     // empty on a 304
};

struct ListOptions {
  std::string prefix;
  std::string start_after;
  std::string continuation_token;
  int max_keys = 1000;
};

class Client {
public:
  template <class T>
  using Op = asio::awaitable<Result<T, Error>>;

  Client(asio::io_context& io, ClientConfig config);

  Op<Unit> put_object(std::string_view bucket, std::string_view key, std::string body, PutOptions options = {});
  // With max_bytes (0: no cap), a larger object is not downloaded: Error "ObjectTooLarge" (not retryable).
  Op<std::string> get_object(std::string_view bucket, std::string_view key, std::uint64_t max_bytes = 0);
  // GET with "If-None-Match: <etag>" (empty etag: a plain GET): for the price of a GET, whether the object
  // changed. 304 → modified false; 2xx → modified true with the answer's ETag header and the body, capped by
  // max_bytes as get_object's; any other status is an Error (404 NoSuchKey, or 403 AccessDenied where the
  // policy has no ListBucket, for a missing key). S3's ETag of a single-part PUT is the body's MD5, so only
  // different content gets a different ETag. Parameters by value: coroutine parameters.
  Op<Conditional> get_object_if_none_match(std::string bucket, std::string key, std::string etag,
                                           std::uint64_t max_bytes = 0);
  // One page of ListObjectsV2.
  Op<ListPage> list_objects(std::string_view bucket, ListOptions options); // by value: coroutine parameter
  // Follows continuation tokens until the listing ends or `limit` keys were gathered.
  Op<std::vector<ObjectInfo>> list_all(std::string_view bucket, std::string_view prefix,
                                       std::string_view start_after = {},
                                       std::size_t limit = std::numeric_limits<std::size_t>::max());
  // DeleteObjects (POST ?delete) for up to 1000 keys; more are split into several requests.
  Op<DeleteResult> delete_objects(std::string_view bucket, std::vector<std::string> keys);
  // A LIST of zero keys (under `prefix`, if given): proves the bucket exists and the credentials sign
  // correctly, needing no more permission than listing that prefix.
  Op<Unit> check_bucket(std::string_view bucket, std::string_view prefix = {});
  Op<Unit> create_bucket(std::string_view bucket);

  net::CurlMulti& http() noexcept { return http_; }
  // New credentials for the following requests (e.g. renewed instance-profile credentials).
  void set_credentials(Credentials credentials);
  const ClientConfig& config() const noexcept { return config_; }
  // Called for every answer that carries a Date header: when the request was sent and the answer ended
  // (this machine's wall clock, ms) and the server's Date (core/clock_offset.hpp measures the offset).
  std::function<void(std::uint64_t sent_ms, std::uint64_t received_ms, std::string_view date)> on_server_date;

private:
  net::HttpRequest build(std::string_view method, std::string_view bucket, std::string_view key,
                         const QueryParams& query, std::string body, const Headers& extra = {});

  // Every request goes through here: answers with a Date header are reported to on_server_date.
  asio::awaitable<net::HttpResponse> send(net::HttpRequest req);

  ClientConfig config_;
  Signer signer_;
  net::CurlMulti http_;
};

// Endpoint, region and credentials from flags (empty: not given) and the environment, as AWS tools do.
// With credentials_required false, missing credentials leave them empty (for a later provider, IMDS).
Result<ClientConfig, std::string> resolve_client_config(std::string_view endpoint_flag, std::string_view region_flag,
                                                        const EnvLookup& env, bool credentials_required = true);

// Turns a finished HTTP exchange that is not a 2xx into an Error (S3's code and message when present).
Error error_from(const net::HttpResponse& response);

} // namespace hoshino::s3

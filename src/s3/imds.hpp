#pragma once
// Credentials from the EC2 instance metadata service, version 2 (IMDSv2), the last link of the chain
// after the environment and the shared credentials file, as on EC2 with an instance profile:
//   PUT  /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds)        -> session token
//   GET  /latest/meta-data/iam/security-credentials/ (with the token)      -> role name
//   GET  /latest/meta-data/iam/security-credentials/<role> (with the token) -> JSON credentials
// Temporary credentials expire: ImdsRefresher renews them well before, without interrupting traffic.
#include "util/clock.hpp"
#include "net/curl_multi.hpp"
#include "s3/config_sources.hpp"
#include "s3/credentials.hpp"

#include <asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace hoshino::s3 {

struct ImdsConfig {
  std::string endpoint = "http://169.254.169.254";
  std::chrono::seconds token_ttl{21600};
  Duration timeout = std::chrono::milliseconds(1000); // IMDS answers in microseconds; off EC2 it does not answer
};

// AWS_EC2_METADATA_SERVICE_ENDPOINT overrides the endpoint; AWS_EC2_METADATA_DISABLED=true turns the
// provider off (nullopt), as in the AWS SDKs.
std::optional<ImdsConfig> imds_config_from_env(const EnvLookup& env);

struct ExpiringCredentials {
  Credentials credentials;
  std::chrono::system_clock::time_point expiration;
};

// The role credentials document ({"Code":"Success","AccessKeyId":...,"Expiration":"...Z"}).
Result<ExpiringCredentials, std::string> parse_imds_credentials(std::string_view json);
// A string member of a flat JSON object (nullopt if absent or not a string; escapes decoded).
std::optional<std::string> json_string_member(std::string_view json, std::string_view name);
// When to renew: halfway to expiry, but at most 5 minutes before it and at least 1 s from now.
std::chrono::system_clock::time_point refresh_time(std::chrono::system_clock::time_point expiration,
                                                   std::chrono::system_clock::time_point now);

class ImdsProvider {
public:
  ImdsProvider(net::CurlMulti& http, ImdsConfig config) : http_(http), config_(std::move(config)) {}
  // Fetches the role's credentials, getting (or renewing) the session token as needed.
  asio::awaitable<Result<ExpiringCredentials, std::string>> fetch();

private:
  struct Failure {
    std::string message;
  };
  asio::awaitable<Result<std::string, Failure>> get(std::string path);
  asio::awaitable<Result<Unit, std::string>> renew_token();

  net::CurlMulti& http_;
  ImdsConfig config_;
  std::string token_;
  std::chrono::steady_clock::time_point token_expiry_{};
};

// Keeps credentials fresh: sleeps until refresh_time, fetches, hands them to `apply`; on failure retries
// every 10 s while the old ones last. Runs until the io_context stops.
asio::awaitable<void> refresh_credentials(ImdsProvider& provider, ExpiringCredentials current,
                                          std::function<void(const Credentials&)> apply);

} // namespace hoshino::s3

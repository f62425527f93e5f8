#pragma once
// Where an S3 client's credentials, region and endpoint come from (flags, environment, the shared
// credentials file), in the order the AWS CLI and SDKs use. Reads files and the environment: shell only.
#include "s3/credentials.hpp"
#include "util/result.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace hoshino::s3 {

// Reads an environment variable; injectable so tests do not touch the real environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
EnvLookup process_env();

// Parses an AWS shared credentials file (INI) and returns the named profile's keys. Errors name the file
// and profile but never a secret.
Result<Credentials, std::string> parse_credentials_file(std::string_view text, std::string_view profile,
                                                        std::string_view file_name);

// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, else the shared credentials file
// (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile AWS_PROFILE or "default").
Result<Credentials, std::string> resolve_credentials(const EnvLookup& env);

// Flag value if given, else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1.
std::string resolve_region(std::string_view flag, const EnvLookup& env);

struct Endpoint {
  std::string scheme;     // "http" or "https"
  std::string authority;  // host[:port]
  bool path_style = true; // custom endpoints: /bucket/key; AWS: bucket.s3.region.amazonaws.com/key
  bool is_aws = false;
};

// URL from the flag, else AWS_ENDPOINT_URL, else AWS's regional endpoint.
Result<Endpoint, std::string> resolve_endpoint(std::string_view flag, std::string_view region, const EnvLookup& env);
Result<Endpoint, std::string> parse_endpoint(std::string_view url);

} // namespace hoshino::s3

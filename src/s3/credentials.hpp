#pragma once
// A set of AWS credentials, as the signer needs them (s3/sigv4.hpp). Where they come from is the shell's
// business: s3/config_sources.hpp (environment, shared credentials file) and s3/imds.hpp.
#include <string>

namespace hoshino::s3 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token; // empty unless temporary credentials
  std::string source;        // where they came from, for messages ("environment", "~/.aws/credentials [p]")
};

} // namespace hoshino::s3

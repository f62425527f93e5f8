#include "s3/config_sources.hpp"

#include "util/text.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace hoshino::s3 {
namespace {

std::optional<std::string> non_empty(const EnvLookup& env, std::string_view name) {
  auto v = env(name);
  if (v && v->empty()) return std::nullopt;
  return v;
}

} // namespace

EnvLookup process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

Result<Credentials, std::string> parse_credentials_file(std::string_view text, std::string_view profile,
                                                        std::string_view file_name) {
  Credentials c;
  bool in_profile = false, seen_profile = false;
  std::size_t line_no = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']')
        return std::string(file_name) + ":" + std::to_string(line_no) + ": malformed section header";
      auto name = trim(line.substr(1, line.size() - 2));
      // The credentials file names profiles bare; accept the config file's "profile NAME" form too.
      if (name.starts_with("profile ")) name = trim(name.substr(8));
      in_profile = name == profile;
      seen_profile = seen_profile || in_profile;
      continue;
    }
    if (!in_profile) continue;
    auto eq = line.find('=');
    if (eq == std::string_view::npos)
      return std::string(file_name) + ":" + std::to_string(line_no) + ": expected 'name = value'";
    auto key = trim(line.substr(0, eq));
    auto value = std::string(trim(line.substr(eq + 1)));
    if (key == "aws_access_key_id") c.access_key_id = value;
    else if (key == "aws_secret_access_key") c.secret_access_key = value;
    else if (key == "aws_session_token") c.session_token = value;
  }
  if (!seen_profile) return "profile [" + std::string(profile) + "] not found in " + std::string(file_name);
  if (c.access_key_id.empty() || c.secret_access_key.empty())
    return "profile [" + std::string(profile) + "] in " + std::string(file_name) +
           " lacks aws_access_key_id or aws_secret_access_key";
  c.source = std::string(file_name) + " [" + std::string(profile) + "]";
  return c;
}

Result<Credentials, std::string> resolve_credentials(const EnvLookup& env) {
  auto id = non_empty(env, "AWS_ACCESS_KEY_ID");
  auto secret = non_empty(env, "AWS_SECRET_ACCESS_KEY");
  if (id && secret) {
    return Credentials{*id, *secret, non_empty(env, "AWS_SESSION_TOKEN").value_or(""), "environment"};
  }
  if (id || secret) return std::string("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together");

  std::string path;
  if (auto p = non_empty(env, "AWS_SHARED_CREDENTIALS_FILE")) {
    path = *p;
  } else if (auto home = non_empty(env, "HOME")) {
    path = *home + "/.aws/credentials";
  } else {
    return std::string("no credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or create ~/.aws/credentials");
  }
  std::ifstream in(path);
  if (!in)
    return "no credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY unset and " + path + " cannot be read";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string profile = non_empty(env, "AWS_PROFILE").value_or("default");
  return parse_credentials_file(ss.str(), profile, path);
}

std::string resolve_region(std::string_view flag, const EnvLookup& env) {
  if (!flag.empty()) return std::string(flag);
  if (auto r = non_empty(env, "AWS_REGION")) return *r;
  if (auto r = non_empty(env, "AWS_DEFAULT_REGION")) return *r;
  return "us-east-1";
}

Result<Endpoint, std::string> parse_endpoint(std::string_view url) {
  Endpoint e;
  auto sep = url.find("://");
  if (sep == std::string_view::npos) return "endpoint '" + std::string(url) + "' must start with http:// or https://";
  e.scheme = std::string(url.substr(0, sep));
  if (e.scheme != "http" && e.scheme != "https")
    return "endpoint '" + std::string(url) + "' must start with http:// or https://";
  auto rest = url.substr(sep + 3);
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (rest.substr(slash) != "/") return "endpoint '" + std::string(url) + "' must not have a path";
    rest = rest.substr(0, slash);
  }
  if (rest.empty()) return "endpoint '" + std::string(url) + "' has no host";
  e.authority = std::string(rest);
  e.is_aws = e.authority.ends_with(".amazonaws.com");
  e.path_style = !e.is_aws;
  return e;
}

Result<Endpoint, std::string> resolve_endpoint(std::string_view flag, std::string_view region, const EnvLookup& env) {
  if (!flag.empty()) return parse_endpoint(flag);
  if (auto u = non_empty(env, "AWS_ENDPOINT_URL")) return parse_endpoint(*u);
  return parse_endpoint("https://s3." + std::string(region) + ".amazonaws.com");
}

} // namespace hoshino::s3

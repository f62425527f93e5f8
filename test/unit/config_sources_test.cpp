#include "s3/config_sources.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <map>

using namespace hoshino::s3;

namespace {

EnvLookup env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

constexpr const char* kFile = R"(# comment
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key=secretdefault

; another comment
[work]
aws_access_key_id=AKIDWORK
aws_secret_access_key = secret/work+key
aws_session_token = tok==
[profile cfgstyle]
aws_access_key_id = AKIDCFG
aws_secret_access_key = secretcfg
)";

} // namespace

TEST_CASE("Shared credentials file: profiles, spacing, comments", "[credentials]") {
  auto d = parse_credentials_file(kFile, "default", "creds");
  REQUIRE(d);
  CHECK(d->access_key_id == "AKIDDEFAULT");
  CHECK(d->secret_access_key == "secretdefault");
  CHECK(d->session_token.empty());
  auto w = parse_credentials_file(kFile, "work", "creds");
  REQUIRE(w);
  CHECK(w->access_key_id == "AKIDWORK");
  CHECK(w->secret_access_key == "secret/work+key");
  CHECK(w->session_token == "tok==");
  CHECK(w->source == "creds [work]");
  auto c = parse_credentials_file(kFile, "cfgstyle", "creds");
  REQUIRE(c);
  CHECK(c->access_key_id == "AKIDCFG");
}

TEST_CASE("Shared credentials file: errors never carry secrets", "[credentials]") {
  auto missing = parse_credentials_file(kFile, "nope", "creds");
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == "profile [nope] not found in creds");
  auto partial = parse_credentials_file("[p]\naws_access_key_id=AKID\n", "p", "creds");
  REQUIRE_FALSE(partial);
  auto bad = parse_credentials_file("[p]\naws_secret_access_key verysecret\n", "p", "creds");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().find("verysecret") == std::string::npos);
  CHECK_FALSE(parse_credentials_file("[unterminated\n", "p", "creds"));
}

TEST_CASE("Credential chain: environment first, then the shared file", "[credentials]") {
  auto e = resolve_credentials(env({{"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "s"},
                                    {"AWS_SESSION_TOKEN", "t"}}));
  REQUIRE(e);
  CHECK(e->access_key_id == "AKIDENV");
  CHECK(e->session_token == "t");
  CHECK(e->source == "environment");

  CHECK_FALSE(resolve_credentials(env({{"AWS_ACCESS_KEY_ID", "AKIDENV"}})));

  std::string path = "/tmp/hoshino-creds-test-" + std::to_string(::getpid());
  std::ofstream(path) << kFile;
  auto f = resolve_credentials(env({{"AWS_SHARED_CREDENTIALS_FILE", path}, {"AWS_PROFILE", "work"}}));
  REQUIRE(f);
  CHECK(f->access_key_id == "AKIDWORK");
  auto home = resolve_credentials(env({{"HOME", "/nonexistent-home"}}));
  REQUIRE_FALSE(home);
  CHECK(home.error().find("/nonexistent-home/.aws/credentials") != std::string::npos);
  std::remove(path.c_str());
}

TEST_CASE("Region and endpoint resolution", "[credentials][endpoint]") {
  CHECK(resolve_region("eu-west-1", env({{"AWS_REGION", "x"}})) == "eu-west-1");
  CHECK(resolve_region("", env({{"AWS_REGION", "ap-south-1"}, {"AWS_DEFAULT_REGION", "x"}})) == "ap-south-1");
  CHECK(resolve_region("", env({{"AWS_DEFAULT_REGION", "us-west-2"}})) == "us-west-2");
  CHECK(resolve_region("", env({})) == "us-east-1");

  auto aws = resolve_endpoint("", "eu-central-1", env({}));
  REQUIRE(aws);
  CHECK(aws->scheme == "https");
  CHECK(aws->authority == "s3.eu-central-1.amazonaws.com");
  CHECK_FALSE(aws->path_style);

  auto custom = resolve_endpoint("", "us-east-1", env({{"AWS_ENDPOINT_URL", "http://127.0.0.1:7480"}}));
  REQUIRE(custom);
  CHECK(custom->authority == "127.0.0.1:7480");
  CHECK(custom->path_style);
  auto flag = resolve_endpoint("http://[::1]:9000/", "us-east-1", env({{"AWS_ENDPOINT_URL", "http://x"}}));
  REQUIRE(flag);
  CHECK(flag->authority == "[::1]:9000");

  CHECK_FALSE(parse_endpoint("127.0.0.1:7480"));
  CHECK_FALSE(parse_endpoint("ftp://host"));
  CHECK_FALSE(parse_endpoint("http://host/path"));
  CHECK_FALSE(parse_endpoint("http://"));
}

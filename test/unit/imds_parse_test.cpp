#include "s3/imds.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace hoshino::s3;
using namespace std::chrono;

TEST_CASE("IMDS credentials document", "[imds]") {
  auto c = parse_imds_credentials(R"({
    "Code" : "Success", "LastUpdated" : "2026-11-21T10:00:00Z", "Type" : "AWS-HMAC",
    "AccessKeyId" : "ASIAEXAMPLE", "SecretAccessKey" : "se\/cr\"et", "Token" : "tok\u0041==",
    "Expiration" : "2026-11-21T16:30:05Z", "Weird": 12, "Flag": true })");
  REQUIRE(c);
  CHECK(c->credentials.access_key_id == "ASIAEXAMPLE");
  CHECK(c->credentials.secret_access_key == "se/cr\"et");
  CHECK(c->credentials.session_token == "tokA==");
  CHECK(system_clock::to_time_t(c->expiration) == 1795278605); // 2026-11-21T16:30:05Z
}

TEST_CASE("IMDS credentials document: errors", "[imds]") {
  CHECK_FALSE(parse_imds_credentials(""));
  CHECK_FALSE(parse_imds_credentials("not json"));
  CHECK_FALSE(parse_imds_credentials(R"({"Code":"Failure","AccessKeyId":"a","SecretAccessKey":"b","Expiration":"2026-01-01T00:00:00Z"})"));
  CHECK_FALSE(parse_imds_credentials(R"({"AccessKeyId":"a","Expiration":"2026-01-01T00:00:00Z"})"));
  CHECK_FALSE(parse_imds_credentials(R"({"AccessKeyId":"a","SecretAccessKey":"b"})"));
  CHECK_FALSE(parse_imds_credentials(R"({"AccessKeyId":"a","SecretAccessKey":"b","Expiration":"soon"})"));
  CHECK_FALSE(json_string_member(R"({"a":"unterminated)", "a"));
  CHECK(json_string_member(R"({"a":1,"b":"x"})", "b") == "x");
  CHECK_FALSE(json_string_member(R"({"a":1})", "a")); // not a string
}

TEST_CASE("Renewal time: halfway, at most 5 minutes early, never in the past", "[imds]") {
  auto now = system_clock::now();
  CHECK(refresh_time(now + hours(6), now) == now + hours(6) - minutes(5));
  CHECK(refresh_time(now + seconds(4), now) == now + seconds(2));
  CHECK(refresh_time(now + milliseconds(500), now) == now + seconds(1));
  CHECK(refresh_time(now - seconds(10), now) == now + seconds(1));
}

TEST_CASE("IMDS configuration from the environment", "[imds]") {
  auto env = [](std::map<std::string, std::string> vars) -> EnvLookup {
    return [vars](std::string_view n) -> std::optional<std::string> {
      auto it = vars.find(std::string(n));
      if (it == vars.end()) return std::nullopt;
      return it->second;
    };
  };
  CHECK(imds_config_from_env(env({}))->endpoint == "http://169.254.169.254");
  CHECK(imds_config_from_env(env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9/"}}))->endpoint ==
        "http://127.0.0.1:9");
  CHECK_FALSE(imds_config_from_env(env({{"AWS_EC2_METADATA_DISABLED", "true"}})));
}

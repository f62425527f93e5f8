// The IMDSv2 credential provider against test/support/imds_responder.py (started by imds_test.sh),
// and, with those credentials, real requests to the local RGW. Skips (77) without the responder.
#define CATCH_CONFIG_RUNNER
#include "net/curl_multi.hpp"
#include "s3/client.hpp"
#include "s3/imds.hpp"
#include "support/run.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <fmt/core.h>

#include <cstdlib>
#include <optional>
#include <utility>
#include <vector>

using namespace hoshino;
using hoshino::test::run;
using namespace std::chrono_literals;

namespace {

std::string env_or(const char* name, const char* fallback = "") {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

// GET /stats from the responder: its counters.
std::map<std::string, int> stats(asio::io_context& io, net::CurlMulti& http) {
  net::HttpRequest req;
  req.url = env_or("AWS_EC2_METADATA_SERVICE_ENDPOINT") + "/stats";
  auto r = run(io, http.perform(req));
  REQUIRE(r.ok());
  std::map<std::string, int> out;
  for (const char* k : {"token_puts", "credential_fetches", "rejected"}) {
    auto pos = r.body.find(std::string("\"") + k + "\": ");
    REQUIRE(pos != std::string::npos);
    out[k] = std::atoi(r.body.c_str() + pos + std::strlen(k) + 4);
  }
  return out;
}

// Sets (or, for nullptr, unsets) environment variables for its lifetime.
class ScopedEnv {
public:
  ScopedEnv(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (auto [name, value] : vars) {
      const char* old = std::getenv(name);
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      if (value) ::setenv(name, value, 1);
      else ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, old] : saved_) {
      if (old) ::setenv(name.c_str(), old->c_str(), 1);
      else ::unsetenv(name.c_str());
    }
  }

private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

s3::ImdsConfig config() {
  auto c = s3::imds_config_from_env(s3::process_env());
  REQUIRE(c);
  return *c;
}

} // namespace

TEST_CASE("IMDSv2: a token first, then the role, then its credentials", "[imds]") {
  asio::io_context io;
  net::CurlMulti http(io, {});
  s3::ImdsProvider p(http, config());
  auto before = stats(io, http);
  auto creds = run(io, p.fetch());
  REQUIRE(creds);
  CHECK(creds->credentials.access_key_id == env_or("AWS_ACCESS_KEY_ID"));
  CHECK(creds->credentials.secret_access_key == env_or("AWS_SECRET_ACCESS_KEY"));
  CHECK(creds->credentials.source == "instance metadata");
  CHECK(creds->expiration > std::chrono::system_clock::now());
  auto after = stats(io, http);
  CHECK(after["token_puts"] == before["token_puts"] + 1);
  CHECK(after["rejected"] == before["rejected"]); // never asked without a valid token
  // The token is reused for the next fetch.
  REQUIRE(run(io, p.fetch()));
  CHECK(stats(io, http)["token_puts"] == after["token_puts"]);
}

TEST_CASE("IMDSv2: an expired token is renewed transparently", "[imds]") {
  asio::io_context io;
  net::CurlMulti http(io, {});
  auto c = config();
  c.token_ttl = 61s; // renewed after 1 s (a minute early)
  s3::ImdsProvider p(http, c);
  REQUIRE(run(io, p.fetch()));
  auto puts = stats(io, http)["token_puts"];
  asio::steady_timer t(io, 1500ms);
  t.wait();
  REQUIRE(run(io, p.fetch()));
  CHECK(stats(io, http)["token_puts"] == puts + 1);
}

TEST_CASE("Credentials are renewed before they expire, and requests keep working", "[imds][rgw]") {
  asio::io_context io;
  auto cc = s3::resolve_client_config("", "", s3::process_env(), false);
  REQUIRE(cc);
  cc->credentials = {};
  s3::Client client(io, *cc);
  s3::ImdsProvider p(client.http(), config());
  auto first = run(io, p.fetch()); // the responder's credentials expire 4 s after each fetch
  REQUIRE(first);
  client.set_credentials(first->credentials);
  int renewals = 0;
  auto fetches = stats(io, client.http())["credential_fetches"];
  // The refresher never returns by itself; the test ends it with a cancellation, which is the only
  // exception it may end with.
  asio::cancellation_signal stop;
  bool ended = false;
  asio::co_spawn(io, s3::refresh_credentials(p, *first, [&](const s3::Credentials& c) {
    ++renewals;
    client.set_credentials(c);
  }), asio::bind_cancellation_slot(stop.slot(), [&](std::exception_ptr e) {
    ended = true;
    try {
      if (e) std::rethrow_exception(e);
    } catch (const asio::system_error& se) {
      if (se.code() != asio::error::operation_aborted) throw;
    }
  }));
  io.restart();
  io.run_for(5s);
  stop.emit(asio::cancellation_type::terminal);
  while (!ended) io.run_one_for(1s);
  CHECK(renewals >= 2); // halfway to each 4 s expiry
  CHECK(stats(io, client.http())["credential_fetches"] >= fetches + 2);
  CHECK(client.config().credentials.source == "instance metadata");
  // Signed with the renewed credentials, a real request goes through.
  auto ok = run(io, client.check_bucket("imds-test-bucket-that-does-not-exist"));
  REQUIRE_FALSE(ok);
  CHECK(ok.error().code == "NoSuchBucket"); // authenticated (not SignatureDoesNotMatch/InvalidAccessKeyId)
}

TEST_CASE("IMDS requests ignore the proxy variables (a proxy cannot reach a link-local service)", "[imds]") {
  asio::io_context io;
  net::CurlMulti http(io, {});
  s3::ImdsProvider p(http, config());
  // A proxy where nothing listens: a request that went through it would fail with a connection error.
  const char* dead = "http://127.0.0.1:1";
  ScopedEnv proxied{{"http_proxy", dead}, {"HTTP_PROXY", dead}, {"all_proxy", dead}, {"ALL_PROXY", dead},
                    {"no_proxy", nullptr}, {"NO_PROXY", nullptr}};
  auto creds = run(io, p.fetch());
  INFO((creds ? std::string() : creds.error()));
  REQUIRE(creds);
  CHECK(creds->credentials.access_key_id == env_or("AWS_ACCESS_KEY_ID"));
}

TEST_CASE("Off EC2 (nothing listening), the provider fails promptly with a clear error", "[imds]") {
  asio::io_context io;
  net::CurlMulti http(io, {});
  s3::ImdsConfig c;
  c.endpoint = "http://127.0.0.1:1";
  s3::ImdsProvider p(http, c);
  auto start = std::chrono::steady_clock::now();
  auto r = run(io, p.fetch());
  REQUIRE_FALSE(r);
  CHECK(r.error().find("instance metadata (http://127.0.0.1:1) token") != std::string::npos);
  CHECK(r.error().find(env_or("AWS_SECRET_ACCESS_KEY", "\x01")) == std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < 3s);
}

int main(int argc, char** argv) {
  if (env_or("AWS_EC2_METADATA_SERVICE_ENDPOINT").empty()) {
    fmt::print("imds_test: no AWS_EC2_METADATA_SERVICE_ENDPOINT (run via imds_test.sh): skipped\n");
    return 77;
  }
  return Catch::Session().run(argc, argv);
}

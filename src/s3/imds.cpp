#include "s3/imds.hpp"

#include "util/hex.hpp"

#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <ctime>

namespace hoshino::s3 {
namespace {

std::string_view skip_space(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\r' || s.front() == '\t'))
    s.remove_prefix(1);
  return s;
}

// Reads a JSON string at the start of s (which begins with '"'); advances s past it.
std::optional<std::string> read_string(std::string_view& s) {
  if (s.empty() || s.front() != '"') return std::nullopt;
  s.remove_prefix(1);
  std::string out;
  while (!s.empty()) {
    char c = s.front();
    s.remove_prefix(1);
    if (c == '"') return out;
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (s.empty()) return std::nullopt;
    char e = s.front();
    s.remove_prefix(1);
    switch (e) {
      case '"': case '\\': case '/': out.push_back(e); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'u': {
        // Credentials are ASCII; other code points are kept as '?' rather than decoded.
        if (s.size() < 4) return std::nullopt;
        int v = 0;
        for (int i = 0; i < 4; ++i) {
          int digit = hex_digit(s[static_cast<std::size_t>(i)]);
          if (digit < 0) return std::nullopt;
          v = v * 16 + digit;
        }
        s.remove_prefix(4);
        out.push_back(v < 0x80 ? static_cast<char>(v) : '?');
        break;
      }
      default: return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<std::chrono::system_clock::time_point> parse_time(std::string_view iso) {
  std::tm tm{};
  int y, mo, d, h, mi, sec;
  std::string s(iso);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6) return std::nullopt;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

} // namespace

std::optional<ImdsConfig> imds_config_from_env(const EnvLookup& env) {
  if (auto d = env("AWS_EC2_METADATA_DISABLED"); d && (*d == "true" || *d == "TRUE" || *d == "1")) return std::nullopt;
  ImdsConfig c;
  if (auto e = env("AWS_EC2_METADATA_SERVICE_ENDPOINT"); e && !e->empty()) {
    c.endpoint = *e;
    while (!c.endpoint.empty() && c.endpoint.back() == '/') c.endpoint.pop_back();
  }
  return c;
}

std::optional<std::string> json_string_member(std::string_view json, std::string_view name) {
  std::string_view s = skip_space(json);
  if (s.empty() || s.front() != '{') return std::nullopt;
  s.remove_prefix(1);
  for (;;) {
    s = skip_space(s);
    auto key = read_string(s);
    if (!key) return std::nullopt;
    s = skip_space(s);
    if (s.empty() || s.front() != ':') return std::nullopt;
    s = skip_space(s.substr(1));
    std::optional<std::string> value;
    if (!s.empty() && s.front() == '"') {
      value = read_string(s);
      if (!value) return std::nullopt;
    } else {
      // A number, true, false or null: skip to the next ',' or '}' (the documents here are flat).
      while (!s.empty() && s.front() != ',' && s.front() != '}') s.remove_prefix(1);
    }
    if (*key == name) return value;
    s = skip_space(s);
    if (s.empty() || s.front() == '}') return std::nullopt;
    if (s.front() != ',') return std::nullopt;
    s.remove_prefix(1);
  }
}

Result<ExpiringCredentials, std::string> parse_imds_credentials(std::string_view json) {
  auto code = json_string_member(json, "Code");
  if (code && *code != "Success") return "instance metadata credentials: Code " + *code;
  auto id = json_string_member(json, "AccessKeyId");
  auto secret = json_string_member(json, "SecretAccessKey");
  auto expiration = json_string_member(json, "Expiration");
  if (!id || !secret || id->empty() || secret->empty())
    return std::string("instance metadata credentials: no AccessKeyId/SecretAccessKey");
  if (!expiration) return std::string("instance metadata credentials: no Expiration");
  auto when = parse_time(*expiration);
  if (!when) return std::string("instance metadata credentials: bad Expiration");
  return ExpiringCredentials{{*id, *secret, json_string_member(json, "Token").value_or(""), "instance metadata"}, *when};
}

std::chrono::system_clock::time_point refresh_time(std::chrono::system_clock::time_point expiration,
                                                   std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  auto left = expiration - now;
  auto before = std::min<system_clock::duration>(minutes(5), left / 2);
  return std::max(expiration - before, now + seconds(1));
}

asio::awaitable<Result<Unit, std::string>> ImdsProvider::renew_token() {
  net::HttpRequest req;
  req.method = "PUT";
  req.url = config_.endpoint + "/latest/api/token";
  req.headers.push_back("X-aws-ec2-metadata-token-ttl-seconds: " + std::to_string(config_.token_ttl.count()));
  req.timeout = config_.timeout;
  req.no_proxy = true; // IMDS is link-local: a proxy cannot reach it, and must not see the token or keys
  auto r = co_await http_.perform(std::move(req));
  if (!r.ok()) {
    co_return "instance metadata (" + config_.endpoint + ") token: " +
        (r.curl_code != CURLE_OK ? r.curl_error : "HTTP " + std::to_string(r.status));
  }
  token_ = std::move(r.body);
  // Renew a minute early so a token never expires between our check and IMDS's.
  token_expiry_ = std::chrono::steady_clock::now() + config_.token_ttl - std::chrono::seconds(60);
  co_return Unit{};
}

asio::awaitable<Result<std::string, ImdsProvider::Failure>> ImdsProvider::get(std::string path) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (token_.empty() || std::chrono::steady_clock::now() >= token_expiry_) {
      auto t = co_await renew_token();
      if (!t) co_return Failure{std::move(t).error()};
    }
    net::HttpRequest req;
    req.url = config_.endpoint + path;
    req.headers.push_back("X-aws-ec2-metadata-token: " + token_);
    req.timeout = config_.timeout;
    req.no_proxy = true;
    auto r = co_await http_.perform(std::move(req));
    if (r.status == 401) { // the token expired or was revoked: get a new one, once
      token_.clear();
      continue;
    }
    if (!r.ok()) {
      co_return Failure{"instance metadata (" + config_.endpoint + ") " + path + ": " +
                        (r.curl_code != CURLE_OK ? r.curl_error : "HTTP " + std::to_string(r.status))};
    }
    co_return std::move(r.body);
  }
  co_return Failure{"instance metadata: token refused twice"};
}

asio::awaitable<Result<ExpiringCredentials, std::string>> ImdsProvider::fetch() {
  const std::string base = "/latest/meta-data/iam/security-credentials/";
  auto roles = co_await get(base);
  if (!roles) co_return std::move(roles).error().message;
  std::string role = roles->substr(0, roles->find('\n'));
  if (role.empty()) co_return std::string("instance metadata: no IAM role attached to this instance");
  std::string path = base + role;
  auto doc = co_await get(path);
  if (!doc) co_return std::move(doc).error().message;
  co_return parse_imds_credentials(*doc);
}

asio::awaitable<void> refresh_credentials(ImdsProvider& provider, ExpiringCredentials current,
                                          std::function<void(const Credentials&)> apply) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  for (;;) {
    auto now = std::chrono::system_clock::now();
    timer.expires_after(refresh_time(current.expiration, now) - now);
    co_await timer.async_wait(asio::use_awaitable);
    auto next = co_await provider.fetch();
    if (next) {
      current = std::move(next).value();
      apply(current.credentials);
      continue;
    }
    // Keep the old credentials while they last and try again soon.
    current.expiration = std::max(current.expiration, std::chrono::system_clock::now() + std::chrono::seconds(20));
  }
}

} // namespace hoshino::s3

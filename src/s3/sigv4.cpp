#include "s3/sigv4.hpp"

#include "util/crypto.hpp"

#include <algorithm>
#include <ctime>

namespace hoshino::s3 {
namespace {

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Header values are trimmed and inner runs of spaces folded to one, as SigV4 requires.
std::string canonical_value(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

} // namespace

std::string uri_encode(std::string_view s, bool keep_slash) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3 / 2);
  for (unsigned char c : s) {
    if (unreserved(c) || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 15]);
    }
  }
  return out;
}

std::string canonical_query(const QueryParams& query) {
  std::vector<std::pair<std::string, std::string>> enc;
  enc.reserve(query.size());
  for (const auto& [k, v] : query) enc.emplace_back(uri_encode(k, false), uri_encode(v, false));
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out.push_back('&');
    out += k;
    out.push_back('=');
    out += v;
  }
  return out;
}

std::string amz_date(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[17];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

Signer::Signer(Credentials credentials, std::string region, std::string service)
    : credentials_(std::move(credentials)), region_(std::move(region)), service_(std::move(service)) {}

const std::string& Signer::signing_key(std::string_view date) const {
  if (key_date_ != date) {
    std::string secret = "AWS4" + credentials_.secret_access_key;
    auto k = crypto::hmac_sha256(crypto::bytes_of(secret), date);
    k = crypto::hmac_sha256(k, region_);
    k = crypto::hmac_sha256(k, service_);
    k = crypto::hmac_sha256(k, "aws4_request");
    key_.assign(k.begin(), k.end());
    key_date_ = date;
  }
  return key_;
}

Signature Signer::sign(const SigningInput& in, std::string_view date_time) const {
  Signature sig;

  // Canonical headers: lower-case names, sorted; repeated headers joined with ','.
  std::map<std::string, std::string> canon;
  if (in.headers) {
    for (const auto& [name, value] : *in.headers) {
      auto& slot = canon[lower(name)];
      if (!slot.empty()) slot.push_back(',');
      slot += canonical_value(value);
    }
  }
  std::string header_block;
  for (const auto& [name, value] : canon) {
    header_block += name;
    header_block.push_back(':');
    header_block += value;
    header_block.push_back('\n');
    if (!sig.signed_headers.empty()) sig.signed_headers.push_back(';');
    sig.signed_headers += name;
  }

  sig.canonical_request.reserve(256 + header_block.size());
  sig.canonical_request.append(in.method).push_back('\n');
  sig.canonical_request.append(in.canonical_path.empty() ? "/" : in.canonical_path).push_back('\n');
  sig.canonical_request.append(in.query ? canonical_query(*in.query) : std::string()).push_back('\n');
  sig.canonical_request.append(header_block).push_back('\n');
  sig.canonical_request.append(sig.signed_headers).push_back('\n');
  sig.canonical_request.append(in.payload_hash);

  std::string_view date = date_time.substr(0, 8);
  std::string scope = std::string(date) + "/" + region_ + "/" + service_ + "/aws4_request";
  sig.string_to_sign = "AWS4-HMAC-SHA256\n" + std::string(date_time) + "\n" + scope + "\n" +
                       crypto::hex(crypto::sha256(sig.canonical_request));

  const std::string& key = signing_key(date);
  sig.signature = crypto::hex(crypto::hmac_sha256(crypto::bytes_of(key), sig.string_to_sign));
  sig.authorization = "AWS4-HMAC-SHA256 Credential=" + credentials_.access_key_id + "/" + scope +
                      ",SignedHeaders=" + sig.signed_headers + ",Signature=" + sig.signature;
  return sig;
}

} // namespace hoshino::s3

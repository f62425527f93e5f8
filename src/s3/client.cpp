#include "s3/client.hpp"

#include "core/s3_errors.hpp"

#include "util/crypto.hpp"

#include <algorithm>

// GCC 12 mishandles temporaries that share a full-expression with co_await (they can be destroyed
// before the coroutine resumes). Coroutines here therefore await only named values: build the request
// first, then co_await.

namespace hoshino::s3 {
namespace {

constexpr std::size_t kMaxDeleteBatch = 1000; // S3's limit per DeleteObjects request
// The most of any answer but a GET's body (which its caller caps) that is read: a page of 1000 keys of
// 1 KiB, or a DeleteObjects result for 1000, is about 1.3 MB of XML; a server that sends more is broken
// or hostile, and its answer is refused (ObjectTooLarge) instead of held in memory.
constexpr std::uint64_t kMaxAnswerBytes = 8 << 20;

std::string transport_code(CURLcode c) {
  switch (c) {
    case CURLE_OPERATION_TIMEDOUT: return "Timeout";
    case CURLE_COULDNT_CONNECT: return "ConnectionRefused";
    case CURLE_COULDNT_RESOLVE_HOST: return "ResolveFailed";
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING: return "ConnectionReset";
    case CURLE_PARTIAL_FILE: return "Truncated";
    default: return "Transport";
  }
}

Error protocol_error(const net::HttpResponse& r, std::string what) {
  Error e;
  e.kind = Error::Kind::protocol;
  e.http_status = r.status;
  e.code = "MalformedResponse";
  e.message = std::move(what);
  return e;
}

// An answer whose body passed the caller's cap: reading it again would find it just as large.
Error too_large_error(const net::HttpResponse& r, std::uint64_t max_bytes) {
  Error e;
  e.kind = Error::Kind::http;
  e.http_status = r.status;
  e.code = std::string(core::kObjectTooLarge);
  e.message = "larger than " + std::to_string(max_bytes) + " bytes: not downloaded";
  return e;
}

} // namespace

Error error_from(const net::HttpResponse& r) {
  Error e;
  if (r.curl_code != CURLE_OK) {
    e.kind = Error::Kind::transport;
    e.curl_code = static_cast<int>(r.curl_code);
    e.code = transport_code(r.curl_code);
    e.message = r.curl_error;
    return e;
  }
  e.kind = Error::Kind::http;
  e.http_status = r.status;
  if (auto body = parse_error(r.body)) {
    e.code = body->code;
    e.message = body->message;
    e.request_id = body->request_id;
  } else {
    // HEAD answers and some proxies carry no XML: the status is all there is.
    e.code = "Http" + std::to_string(r.status);
  }
  return e;
}

Result<ClientConfig, std::string> resolve_client_config(std::string_view endpoint_flag, std::string_view region_flag,
                                                        const EnvLookup& env, bool credentials_required) {
  ClientConfig c;
  c.region = resolve_region(region_flag, env);
  auto ep = resolve_endpoint(endpoint_flag, c.region, env);
  if (!ep) return std::move(ep).error();
  c.endpoint = std::move(ep).value();
  auto creds = resolve_credentials(env);
  if (creds) c.credentials = std::move(creds).value();
  else if (credentials_required) return std::move(creds).error();
  return c;
}

Client::Client(asio::io_context& io, ClientConfig config)
    : config_(std::move(config)),
      signer_(config_.credentials, config_.region),
      http_(io, net::CurlMulti::Options{config_.max_connections, config_.connect_timeout, config_.trace_http}) {}

void Client::set_credentials(Credentials credentials) {
  config_.credentials = std::move(credentials);
  signer_ = Signer(config_.credentials, config_.region);
}

net::HttpRequest Client::build(std::string_view method, std::string_view bucket, std::string_view key,
                               const QueryParams& query, std::string body, const Headers& extra) {
  const auto& ep = config_.endpoint;
  std::string host, path;
  if (ep.path_style) {
    host = ep.authority;
    path = "/" + uri_encode(bucket, false);
    if (!key.empty()) path += "/" + uri_encode(key, true);
  } else {
    host = std::string(bucket) + "." + ep.authority;
    path = "/" + uri_encode(key, true);
  }

  std::string date = amz_date(std::chrono::system_clock::now());
  static const std::string kEmptyHash = crypto::hex(crypto::sha256(std::string_view()));
  bool sign = config_.payload_signing == ClientConfig::PayloadSigning::always ||
              (config_.payload_signing == ClientConfig::PayloadSigning::automatic && ep.scheme != "https");
  std::string payload_hash = body.empty() ? kEmptyHash
                             : sign       ? crypto::hex(crypto::sha256(body))
                                          : std::string("UNSIGNED-PAYLOAD");
  Headers headers{{"host", host}, {"x-amz-date", date}, {"x-amz-content-sha256", payload_hash}};
  if (!config_.credentials.session_token.empty())
    headers.emplace_back("x-amz-security-token", config_.credentials.session_token);
  headers.insert(headers.end(), extra.begin(), extra.end());

  auto sig = signer_.sign({method, path, &query, &headers, payload_hash}, date);

  net::HttpRequest req;
  req.method = std::string(method);
  std::string q = canonical_query(query);
  req.url = ep.scheme + "://" + host + path + (q.empty() ? "" : "?" + q);
  for (const auto& [name, value] : headers) req.headers.push_back(name + ": " + value);
  req.headers.push_back("Authorization: " + sig.authorization);
  req.body = std::move(body);
  req.timeout = config_.request_timeout;
  req.max_body_bytes = kMaxAnswerBytes; // (a GET of an object sets its own)
  return req;
}

asio::awaitable<net::HttpResponse> Client::send(net::HttpRequest req) {
  auto r = co_await http_.perform(std::move(req));
  if (on_server_date && !r.date.empty()) on_server_date(r.sent_ms, r.received_ms, r.date);
  co_return r;
}

Client::Op<Unit> Client::put_object(std::string_view bucket, std::string_view key, std::string body,
                                    PutOptions options) {
  Headers extra;
  if (options.if_none_match) extra.emplace_back("if-none-match", "*");
  auto req = build("PUT", bucket, key, {}, std::move(body), extra);
  auto r = co_await send(std::move(req));
  if (r.too_large) co_return too_large_error(r, kMaxAnswerBytes);
  if (!r.ok()) {
    Error e = error_from(r);
    if (r.status == 412) e.code = "PreconditionFailed"; // one name for callers, XML or not
    co_return e;
  }
  co_return Unit{};
}

Client::Op<std::string> Client::get_object(std::string_view bucket, std::string_view key, std::uint64_t max_bytes) {
  std::string b(bucket), k(key), no_etag;
  auto r = co_await get_object_if_none_match(std::move(b), std::move(k), std::move(no_etag), max_bytes);
  if (!r) co_return std::move(r).error();
  co_return std::move(r->body);
}

Client::Op<Conditional> Client::get_object_if_none_match(std::string bucket, std::string key, std::string etag,
                                                         std::uint64_t max_bytes) {
  Headers extra;
  if (!etag.empty()) extra.emplace_back("if-none-match", etag);
  auto req = build("GET", bucket, key, {}, {}, extra);
  req.max_body_bytes = max_bytes;
  auto r = co_await send(std::move(req));
  // The ETag sent is the current one: RGW 16's 304 carries no ETag header (AWS's does).
  if (r.curl_code == CURLE_OK && r.status == 304 && !etag.empty()) co_return Conditional{false, std::move(etag), {}};
  if (r.too_large) co_return too_large_error(r, max_bytes);
  if (!r.ok()) co_return error_from(r);
  co_return Conditional{true, std::move(r.etag), std::move(r.body)};
}

Client::Op<ListPage> Client::list_objects(std::string_view bucket, ListOptions o) {
  QueryParams q{{"list-type", "2"}, {"max-keys", std::to_string(o.max_keys)}};
  if (!o.prefix.empty()) q.emplace_back("prefix", o.prefix);
  if (!o.start_after.empty()) q.emplace_back("start-after", o.start_after);
  if (!o.continuation_token.empty()) q.emplace_back("continuation-token", o.continuation_token);
  auto req = build("GET", bucket, {}, q, {});
  auto r = co_await send(std::move(req));
  if (r.too_large) co_return too_large_error(r, kMaxAnswerBytes);
  if (!r.ok()) co_return error_from(r);
  auto page = parse_list_result(r.body);
  if (!page) co_return protocol_error(r, "ListObjectsV2: " + page.error());
  co_return std::move(page).value();
}

Client::Op<std::vector<ObjectInfo>> Client::list_all(std::string_view bucket, std::string_view prefix,
                                                     std::string_view start_after, std::size_t limit) {
  std::vector<ObjectInfo> all;
  ListOptions o{std::string(prefix), std::string(start_after), {}, 1000};
  while (all.size() < limit) {
    o.max_keys = static_cast<int>(std::min<std::size_t>(1000, limit - all.size()));
    auto page = co_await list_objects(bucket, o);
    if (!page) co_return std::move(page).error();
    for (auto& obj : page->objects) all.push_back(std::move(obj));
    if (!page->truncated) break;
    o.continuation_token = std::move(page->next_continuation_token);
    o.start_after.clear(); // the token carries the position from here on
  }
  co_return all;
}

Client::Op<DeleteResult> Client::delete_objects(std::string_view bucket, std::vector<std::string> keys) {
  DeleteResult total;
  for (std::size_t i = 0; i < keys.size(); i += kMaxDeleteBatch) {
    std::span<const std::string> batch(keys.data() + i, std::min(kMaxDeleteBatch, keys.size() - i));
    std::string body = build_delete_request(batch);
    // S3 requires Content-MD5 (or a checksum header) on DeleteObjects.
    Headers extra{{"content-md5", crypto::base64(crypto::md5(crypto::bytes_of(body)))},
                  {"content-type", "application/xml"}};
    auto req = build("POST", bucket, {}, {{"delete", ""}}, std::move(body), extra);
    auto r = co_await send(std::move(req));
    if (r.too_large) co_return too_large_error(r, kMaxAnswerBytes);
    if (!r.ok()) co_return error_from(r);
    auto res = parse_delete_result(r.body);
    if (!res) co_return protocol_error(r, "DeleteObjects: " + res.error());
    // Quiet mode reports only failures: everything else in the batch is deleted.
    for (const auto& k : batch) {
      bool failed = std::any_of(res->failed.begin(), res->failed.end(), [&](const auto& f) { return f.key == k; });
      if (!failed) total.deleted.push_back(k);
    }
    for (auto& f : res->failed) total.failed.push_back(std::move(f));
  }
  co_return total;
}

Client::Op<Unit> Client::check_bucket(std::string_view bucket, std::string_view prefix) {
  ListOptions none;
  none.prefix = std::string(prefix);
  none.max_keys = 0;
  auto page = co_await list_objects(bucket, std::move(none));
  if (!page) co_return std::move(page).error();
  co_return Unit{};
}

Client::Op<Unit> Client::create_bucket(std::string_view bucket) {
  std::string body;
  if (config_.region != "us-east-1")
    body = "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>" +
           config_.region + "</LocationConstraint></CreateBucketConfiguration>";
  auto req = build("PUT", bucket, {}, {}, std::move(body));
  auto r = co_await send(std::move(req));
  if (r.too_large) co_return too_large_error(r, kMaxAnswerBytes);
  if (!r.ok()) co_return error_from(r);
  co_return Unit{};
}

} // namespace hoshino::s3

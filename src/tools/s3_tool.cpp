// hoshino-s3: the project's S3 client as a command line, for the demo's round trip and for measuring the
// client next to curl (scripts/bench-s3.sh). Credentials, region and endpoint as for hoshino itself.
#include "s3/client.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace hoshino;
using Clock = std::chrono::steady_clock;

constexpr const char* kUsage = R"(usage: hoshino-s3 [--endpoint URL] [--region R] COMMAND ...
commands:
  mb BUCKET                  create a bucket
  check BUCKET               check that the bucket exists and the credentials work
  put BUCKET KEY [FILE]      upload FILE (default: standard input)
  get BUCKET KEY             download to standard output
  watch BUCKET KEY [ETAG]    conditional GET (If-None-Match: ETAG): prints "modified ETAG" or
                             "not-modified ETAG" (the ETag quoted, as the server sends it)
  fill BUCKET [C] [FILE]     PUT FILE's bytes (default: an empty body) under every key read from standard
                             input (one per line), C at a time (default 64): floods for the hostile tests
  ls BUCKET [PREFIX]         list keys (all pages)
  rm BUCKET KEY...           delete keys (DeleteObjects)
  bench BUCKET [N] [SIZE] [C] N sequential PUT/LIST/GET of SIZE-byte objects (default 200, 100), then
                             N*4 PUTs C at a time (default 64; 0 skips); prints one JSON object
environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE,
  AWS_SHARED_CREDENTIALS_FILE, AWS_REGION, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL
)";

struct Fail {
  std::string message;
};

template <class T>
T value_or_fail(Result<T, s3::Error> r, std::string_view what) {
  if (!r) throw Fail{std::string(what) + ": " + r.error().describe()};
  return std::move(r).value();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

asio::awaitable<void> bench(s3::Client& c, const std::string& bucket, int n, std::size_t size, int concurrency) {
  std::string body(size, 'x');
  std::string prefix = fmt::format("bench-{}/", std::chrono::system_clock::now().time_since_epoch().count());
  std::vector<double> put, list, get;
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) {
    std::string key = fmt::format("{}{:06}", prefix, i);
    auto t = Clock::now();
    auto r = co_await c.put_object(bucket, key, body);
    value_or_fail(std::move(r), "PUT");
    put.push_back(ms_since(t));
    t = Clock::now();
    s3::ListOptions lo;
    lo.prefix = prefix;
    auto l = co_await c.list_objects(bucket, std::move(lo));
    value_or_fail(std::move(l), "LIST");
    list.push_back(ms_since(t));
    t = Clock::now();
    auto g = co_await c.get_object(bucket, key);
    value_or_fail(std::move(g), "GET");
    get.push_back(ms_since(t));
    keys.push_back(key);
  }

  // Throughput: `concurrency` PUTs in flight at a time on the one multi handle (0: skip).
  const int total = concurrency > 0 ? n * 4 : 0;
  int next = 0, failures = 0;
  auto worker = [&]() -> asio::awaitable<void> {
    while (next < total) {
      std::string key = fmt::format("{}c{:06}", prefix, next++);
      auto r = co_await c.put_object(bucket, key, body);
      if (!r) ++failures;
      keys.push_back(std::move(key));
    }
  };
  auto t = Clock::now();
  {
    using namespace asio::experimental::awaitable_operators;
    // Run kConcurrency workers in parallel and wait for all of them.
    auto all = [&](auto self, int k) -> asio::awaitable<void> {
      if (k == 1) co_return co_await worker();
      co_await (worker() && self(self, k - 1));
    };
    if (total > 0) co_await all(all, concurrency);
  }
  double seconds = ms_since(t) / 1000.0;
  auto d = co_await c.delete_objects(bucket, keys);
  value_or_fail(std::move(d), "DELETE");

  auto samples = [](const std::vector<double>& v) {
    std::string s;
    for (double x : v) s += fmt::format("{}{:.3f}", s.empty() ? "" : ",", x);
    return "[" + s + "]";
  };
  fmt::print("{{\"n\":{},\"size\":{},\"put_p50_ms\":{:.3f},\"put_p90_ms\":{:.3f},\"list_p50_ms\":{:.3f},"
             "\"list_p90_ms\":{:.3f},\"get_p50_ms\":{:.3f},\"get_p90_ms\":{:.3f},\"concurrent_puts\":{},"
             "\"concurrency\":{},\"puts_per_second\":{:.1f},\"failures\":{},\"connections_opened\":{},"
             "\"put_ms\":{},\"list_ms\":{},\"get_ms\":{}}}\n",
             n, size, percentile(put, .5), percentile(put, .9), percentile(list, .5), percentile(list, .9),
             percentile(get, .5), percentile(get, .9), total, concurrency, total > 0 ? total / seconds : 0.0, failures,
             c.http().stats().sockets_opened, samples(put), samples(list), samples(get));
}

// Many objects at once (the fleet test's floods): `concurrency` PUTs in flight; prints how many failed.
asio::awaitable<int> fill(s3::Client& c, std::string bucket, std::vector<std::string> keys, std::string body,
                          int concurrency) {
  std::size_t next = 0;
  int failures = 0;
  auto worker = [&]() -> asio::awaitable<void> {
    while (next < keys.size()) {
      const std::string key = keys[next++];
      auto r = co_await c.put_object(bucket, key, body);
      if (!r) ++failures;
    }
  };
  using namespace asio::experimental::awaitable_operators;
  auto all = [&](auto self, int k) -> asio::awaitable<void> {
    if (k <= 1) co_return co_await worker();
    co_await (worker() && self(self, k - 1));
  };
  co_await all(all, std::max(concurrency, 1));
  fmt::print("{} objects written, {} failed\n", keys.size() - static_cast<std::size_t>(failures), failures);
  co_return failures == 0 ? 0 : 1;
}

asio::awaitable<int> run(s3::Client& c, std::vector<std::string> args) {
  const std::string& cmd = args[0];
  auto need = [&](std::size_t n) {
    if (args.size() < n) throw Fail{"'" + cmd + "' needs more arguments\n" + kUsage};
  };
  need(2);
  const std::string& bucket = args[1];
  if (cmd == "mb") {
    auto r = co_await c.create_bucket(bucket);
    value_or_fail(std::move(r), "create bucket " + bucket);
  } else if (cmd == "check") {
    auto r = co_await c.check_bucket(bucket);
    value_or_fail(std::move(r), "bucket " + bucket);
    fmt::print("bucket {} is reachable\n", bucket);
  } else if (cmd == "put") {
    need(3);
    std::string body;
    if (args.size() > 3) {
      std::ifstream in(args[3], std::ios::binary);
      if (!in) throw Fail{"cannot read " + args[3]};
      body.assign(std::istreambuf_iterator<char>(in), {});
    } else {
      body.assign(std::istreambuf_iterator<char>(std::cin), {});
    }
    auto r = co_await c.put_object(bucket, args[2], std::move(body));
    value_or_fail(std::move(r), "PUT " + args[2]);
  } else if (cmd == "get") {
    need(3);
    auto r = co_await c.get_object(bucket, args[2]);
    auto body = value_or_fail(std::move(r), "GET " + args[2]);
    std::fwrite(body.data(), 1, body.size(), stdout);
  } else if (cmd == "watch") {
    need(3);
    std::string b = bucket, key = args[2], etag = args.size() > 3 ? args[3] : std::string();
    auto r = co_await c.get_object_if_none_match(std::move(b), std::move(key), std::move(etag));
    auto answer = value_or_fail(std::move(r), "GET " + args[2]);
    fmt::print("{} {}\n", answer.modified ? "modified" : "not-modified", answer.etag);
  } else if (cmd == "fill") {
    int concurrency = args.size() > 2 ? std::stoi(args[2]) : 64;
    std::string body;
    if (args.size() > 3) {
      std::ifstream in(args[3], std::ios::binary);
      if (!in) throw Fail{"cannot read " + args[3]};
      body.assign(std::istreambuf_iterator<char>(in), {});
    }
    std::vector<std::string> keys;
    for (std::string line; std::getline(std::cin, line);)
      if (!line.empty()) keys.push_back(line);
    auto rc = co_await fill(c, bucket, std::move(keys), std::move(body), concurrency);
    co_return rc;
  } else if (cmd == "ls") {
    std::string prefix = args.size() > 2 ? args[2] : std::string();
    auto r = co_await c.list_all(bucket, prefix);
    auto objs = value_or_fail(std::move(r), "LIST");
    for (const auto& o : objs) fmt::print("{}\t{}\n", o.size, o.key);
  } else if (cmd == "rm") {
    need(3);
    std::vector<std::string> keys(args.begin() + 2, args.end());
    auto r = co_await c.delete_objects(bucket, std::move(keys));
    auto res = value_or_fail(std::move(r), "DELETE");
    for (const auto& f : res.failed) fmt::print(stderr, "not deleted: {}: {} {}\n", f.key, f.code, f.message);
    if (!res.failed.empty()) co_return 1;
  } else if (cmd == "bench") {
    int n = args.size() > 2 ? std::stoi(args[2]) : 200;
    std::size_t size = args.size() > 3 ? std::stoul(args[3]) : 100;
    int concurrency = args.size() > 4 ? std::stoi(args[4]) : 64;
    co_await bench(c, bucket, n, size, concurrency);
  } else {
    throw Fail{"unknown command '" + cmd + "'\n" + kUsage};
  }
  co_return 0;
}

} // namespace

int main(int argc, char** argv) {
  std::string endpoint, region;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--endpoint" || a == "--region") && i + 1 < argc) {
      (a == "--endpoint" ? endpoint : region) = argv[++i];
    } else if (a == "-h" || a == "--help") {
      fmt::print("{}", kUsage);
      return 0;
    } else {
      args.push_back(std::move(a));
    }
  }
  if (args.empty()) {
    fmt::print(stderr, "{}", kUsage);
    return 2;
  }
  auto config = s3::resolve_client_config(endpoint, region, s3::process_env());
  if (!config) {
    fmt::print(stderr, "hoshino-s3: {}\n", config.error());
    return 2;
  }
  asio::io_context io;
  s3::Client client(io, std::move(config).value());
  int rc = 1;
  asio::co_spawn(io, run(client, std::move(args)), [&](std::exception_ptr e, int result) {
    if (!e) {
      rc = result;
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const Fail& f) {
      fmt::print(stderr, "hoshino-s3: {}\n", f.message);
    } catch (const std::exception& ex) {
      fmt::print(stderr, "hoshino-s3: {}\n", ex.what());
    }
  });
  io.run();
  return rc;
}

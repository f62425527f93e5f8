// hoshino: IPv6 over S3. For now the entry point checks the S3 side (bucket and credentials); the
// tunnel is added on top of the same client.
#include "hoshino_config.h"
#include "s3/client.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <fmt/core.h>

#include <string>

int main(int argc, char** argv) {
  std::string bucket, endpoint, region;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "hoshino: {} needs a value\n", a);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--version") {
      fmt::print("hoshino {}\n", HOSHINO_VERSION);
      return 0;
    } else if (a == "--bucket") {
      bucket = value();
    } else if (a == "--endpoint") {
      endpoint = value();
    } else if (a == "--region") {
      region = value();
    } else {
      fmt::print(stderr, "hoshino: unknown option '{}' (try --help)\n", a);
      return 2;
    }
  }
  if (bucket.empty()) {
    fmt::print(stderr, "hoshino: --bucket is required\n");
    return 2;
  }
  auto config = hoshino::s3::resolve_client_config(endpoint, region, hoshino::s3::process_env());
  if (!config) {
    fmt::print(stderr, "hoshino: {}\n", config.error());
    return 2;
  }
  asio::io_context io;
  hoshino::s3::Client client(io, std::move(config).value());
  int rc = 1;
  asio::co_spawn(io, client.check_bucket(bucket), [&](std::exception_ptr e, auto result) {
    if (e) std::rethrow_exception(e);
    if (!result) {
      fmt::print(stderr, "hoshino: bucket {}: {}\n", bucket, result.error().describe());
      return;
    }
    fmt::print("hoshino: bucket {} reachable\n", bucket);
    rc = 0;
  });
  io.run();
  return rc;
}

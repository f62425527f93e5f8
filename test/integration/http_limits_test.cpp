// CurlMulti's body cap (and the S3 client's get_object on top of it) against canned HTTP servers on
// loopback in the same process: a body announced too large is refused before it is read, one that grows
// past the cap without a length (chunked) is cut. Needs no S3 endpoint.
#define CATCH_CONFIG_MAIN
#include "net/curl_multi.hpp"
#include "s3/client.hpp"
#include "util/rethrow.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <catch2/catch.hpp>
#include <fmt/core.h>

#include <cstdint>
#include <exception>
#include <optional>
#include <string>

using namespace hoshino;
using asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// Answers each connection with 200 and `size` bytes of body: with Content-Length, or chunked (64 KiB
// chunks) when `chunked`. Counts the body bytes it managed to send.
struct CannedServer {
  CannedServer(asio::io_context& io, std::uint64_t size, bool chunked)
      : acceptor(io, {asio::ip::make_address("127.0.0.1"), 0}), size(size), chunked(chunked) {
    asio::co_spawn(io, serve(), rethrow);
  }
  std::string url() const { return fmt::format("http://127.0.0.1:{}/bucket/key", acceptor.local_endpoint().port()); }

  asio::awaitable<void> serve() {
    for (;;) {
      auto accept = acceptor.async_accept(use_tuple);
      auto [ec, socket] = co_await std::move(accept);
      if (ec) co_return;
      std::string request;
      auto read = asio::async_read_until(socket, asio::dynamic_buffer(request), "\r\n\r\n", use_tuple);
      auto [read_ec, n] = co_await std::move(read);
      if (read_ec) continue;
      std::string head = chunked ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 : fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", size);
      auto write_head = asio::async_write(socket, asio::buffer(head), use_tuple);
      auto [head_ec, head_n] = co_await std::move(write_head);
      if (head_ec) continue;
      const std::string chunk(64 * 1024, 'x');
      const std::string chunk_frame = fmt::format("{:x}\r\n{}\r\n", chunk.size(), chunk);
      std::uint64_t left = size;
      bool broken = false;
      while (left > 0 && !broken) {
        // Whole chunks only: sizes in these tests are multiples of 64 KiB.
        auto write = asio::async_write(socket, asio::buffer(chunked ? chunk_frame : chunk), use_tuple);
        auto [write_ec, written] = co_await std::move(write);
        broken = static_cast<bool>(write_ec); // the client hung up
        if (!broken) {
          left -= chunk.size();
          sent += chunk.size();
        }
      }
      if (chunked && !broken) {
        const std::string last_chunk = "0\r\n\r\n";
        auto last = asio::async_write(socket, asio::buffer(last_chunk), use_tuple);
        co_await std::move(last);
      }
    }
  }

  tcp::acceptor acceptor;
  std::uint64_t size;
  bool chunked;
  std::uint64_t sent = 0;
};

// Runs `op` to completion one handler at a time (the canned server's accept keeps io busy for good).
template <class T>
T finish(asio::io_context& io, asio::awaitable<T> op) {
  std::optional<T> out;
  std::exception_ptr error;
  bool done = false;
  asio::co_spawn(io, std::move(op), [&](std::exception_ptr e, T value) {
    error = e;
    if (!e) out.emplace(std::move(value));
    done = true;
  });
  io.restart();
  while (!done) io.run_one();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

net::HttpRequest get(const std::string& url, std::uint64_t max_body_bytes) {
  net::HttpRequest req;
  req.url = url;
  req.max_body_bytes = max_body_bytes;
  return req;
}

constexpr std::uint64_t kMiB = 1024 * 1024;

} // namespace

TEST_CASE("A body past the cap is not read: refused when announced, cut when it grows without a length", "[http]") {
  asio::io_context io;
  for (bool chunked : {false, true}) {
    INFO("chunked " << chunked);
    CannedServer server(io, 64 * kMiB, chunked);
    net::CurlMulti http(io, {});
    auto r = finish(io, http.perform(get(server.url(), kMiB)));
    CHECK(r.too_large);
    CHECK_FALSE(r.ok());
    CHECK(r.curl_code != CURLE_OK);
    CHECK(r.body.size() <= kMiB);
    if (!chunked) CHECK(r.body.empty()); // refused on the Content-Length, before the body
    CHECK(server.sent < 64 * kMiB);       // the client hung up instead of reading it all
    server.acceptor.close();
  }
}

TEST_CASE("Bodies up to the cap, and any body without a cap, arrive whole", "[http]") {
  asio::io_context io;
  for (bool chunked : {false, true}) {
    INFO("chunked " << chunked);
    CannedServer server(io, kMiB, chunked);
    net::CurlMulti http(io, {});
    auto capped = finish(io, http.perform(get(server.url(), kMiB)));
    CHECK(capped.ok());
    CHECK_FALSE(capped.too_large);
    CHECK(capped.body.size() == kMiB);
    auto uncapped = finish(io, http.perform(get(server.url(), 0)));
    CHECK(uncapped.ok());
    CHECK(uncapped.body.size() == kMiB);
    server.acceptor.close();
  }
}

TEST_CASE("get_object with max_bytes: ObjectTooLarge, not worth retrying", "[http][s3]") {
  asio::io_context io;
  for (bool chunked : {false, true}) {
    INFO("chunked " << chunked);
    CannedServer server(io, 4 * kMiB, chunked);
    s3::ClientConfig cfg;
    cfg.endpoint = s3::parse_endpoint(fmt::format("http://127.0.0.1:{}", server.acceptor.local_endpoint().port())).value();
    cfg.credentials = {"AKID", "secret", "", "test"};
    s3::Client c(io, cfg);
    auto r = finish(io, c.get_object("bucket", "key", kMiB));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "ObjectTooLarge");
    CHECK(r.error().http_status == 200);
    CHECK_FALSE(r.error().retryable());
    CHECK(r.error().describe().find("ObjectTooLarge") != std::string::npos);
    auto whole = finish(io, c.get_object("bucket", "key", 4 * kMiB));
    REQUIRE(whole);
    CHECK(whole->size() == 4 * kMiB);
    server.acceptor.close();
  }
}

TEST_CASE("LIST, PUT and DeleteObjects answers are read up to a cap too: a server that sends 64 MiB is refused", "[http][s3]") {
  asio::io_context io;
  for (bool chunked : {false, true}) {
    INFO("chunked " << chunked);
    CannedServer server(io, 64 * kMiB, chunked);
    s3::ClientConfig cfg;
    cfg.endpoint = s3::parse_endpoint(fmt::format("http://127.0.0.1:{}", server.acceptor.local_endpoint().port())).value();
    cfg.credentials = {"AKID", "secret", "", "test"};
    s3::Client c(io, cfg);
    auto list = finish(io, c.list_objects("bucket", {}));
    REQUIRE_FALSE(list);
    CHECK(list.error().code == "ObjectTooLarge");
    auto put = finish(io, c.put_object("bucket", "key", "body"));
    REQUIRE_FALSE(put);
    CHECK(put.error().code == "ObjectTooLarge");
    auto del = finish(io, c.delete_objects("bucket", {"a", "b"}));
    REQUIRE_FALSE(del);
    CHECK(del.error().code == "ObjectTooLarge");
    CHECK(server.sent < 3 * 64 * kMiB); // none of the three read it all
    server.acceptor.close();
  }
}

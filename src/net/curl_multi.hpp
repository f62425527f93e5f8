#pragma once
// libcurl's multi interface driven by one asio::io_context: curl tells us which sockets to watch
// (CURLMOPT_SOCKETFUNCTION) and when to wake it (CURLMOPT_TIMERFUNCTION); Asio watches them and calls
// curl_multi_socket_action. Each request is awaited by a coroutine; nothing blocks, nothing throws for
// network errors (the response carries curl's code instead).
#include "util/clock.hpp"
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace hoshino::net {

struct HttpRequest {
  std::string method = "GET"; // GET, PUT, POST, HEAD, DELETE
  std::string url;
  std::vector<std::string> headers; // "Name: value"
  std::string body;                 // sent with PUT/POST; Content-Length always set (S3 rejects chunked)
  Duration timeout = std::chrono::milliseconds(10000);
  bool no_proxy = false; // straight to the host, whatever http_proxy/ALL_PROXY say (link-local IMDS)
  std::uint64_t max_body_bytes = 0; // a larger 2xx body is not read (HttpResponse::too_large); 0: no cap
};

struct HttpResponse {
  long status = 0;   // 0 when no HTTP answer arrived
  std::string body;
  CURLcode curl_code = CURLE_OK;
  std::string curl_error;
  double seconds = 0; // total time as curl measured it
  std::string date;   // the Date header, as sent (empty if none)
  std::string etag;   // the ETag header, as sent, quotes and all (empty if none)
  std::uint64_t sent_ms = 0, received_ms = 0; // wall clock when the request started and the answer ended
  bool too_large = false; // the body passed max_body_bytes: the transfer was abandoned (CURLE_WRITE_ERROR)
  bool ok() const noexcept { return curl_code == CURLE_OK && status >= 200 && status < 300; }
};

class CurlMulti {
public:
  struct Options {
    // Connections kept to one host. Requests beyond this wait inside curl for a free connection.
    long max_host_connections = 16;
    Duration connect_timeout = std::chrono::milliseconds(3000);
    bool verbose = false; // curl's own trace on stderr (never on by default: it prints headers)
  };

  struct Stats {
    std::uint64_t sockets_opened = 0; // TCP connections made
    std::uint64_t sockets_closed = 0;
    std::uint64_t requests_started = 0;
    std::uint64_t requests_completed = 0;
    std::uint64_t requests_failed = 0; // no HTTP answer (curl error)
  };

  CurlMulti(asio::io_context& io, Options options);
  ~CurlMulti();
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  template <class CompletionToken>
  auto async_perform(HttpRequest request, CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(HttpResponse)>(
        [this](auto handler, HttpRequest req) {
          start(std::move(req), std::make_unique<CompletionFor<decltype(handler)>>(std::move(handler), io_));
        },
        token, std::move(request));
  }

  asio::awaitable<HttpResponse> perform(HttpRequest request) {
    co_return co_await async_perform(std::move(request), asio::use_awaitable);
  }

  const Stats& stats() const noexcept { return stats_; }
  std::size_t in_flight() const noexcept { return transfers_.size(); }
  asio::io_context& context() noexcept { return io_; }

private:
  // A move-only, type-erased completion handler (asio 1.22 has no any_completion_handler).
  struct Completion {
    virtual ~Completion() = default;
    virtual void complete(HttpResponse response) = 0;
  };
  template <class Handler>
  struct CompletionFor final : Completion {
    CompletionFor(Handler h, asio::io_context& io) : handler(std::move(h)), io(io) {}
    void complete(HttpResponse response) override {
      // Posted, never run inline: the awaiting coroutine may start a new request, and that must not
      // happen while we are still draining curl's message queue.
      auto ex = asio::get_associated_executor(handler, io.get_executor());
      asio::post(ex, [h = std::move(handler), r = std::move(response)]() mutable { h(std::move(r)); });
    }
    Handler handler;
    asio::io_context& io;
  };

  struct Transfer;

public:
  struct Socket; // internal; public only so the .cpp's helpers can name it

private:

  void start(HttpRequest request, std::unique_ptr<Completion> done);
  void finish(CURL* easy, CURLcode code);
  void drain_messages();
  CURL* acquire_easy();
  void release_easy(CURL* easy);
  void socket_action(curl_socket_t s, int events);
  void watch(const std::shared_ptr<Socket>& sock);

  static int on_socket(CURL* easy, curl_socket_t s, int what, void* self, void* socketp);
  static int on_timer(CURLM* multi, long timeout_ms, void* self);
  static curl_socket_t on_open_socket(void* self, curlsocktype purpose, struct curl_sockaddr* address);
  static int on_close_socket(void* self, curl_socket_t s);

  asio::io_context& io_;
  Options options_;
  CURLM* multi_ = nullptr;
  asio::steady_timer timer_;
  std::unordered_map<curl_socket_t, std::shared_ptr<Socket>> sockets_;
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> transfers_;
  std::vector<CURL*> idle_easy_; // reset handles ready for the next request
  Stats stats_;
  // Set while the object is being destroyed, so late socket callbacks do not touch Asio objects.
  bool closing_ = false;
};

} // namespace hoshino::net

#include "net/curl_multi.hpp"

#include "util/wall_clock.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <string_view>
#include <stdexcept>
#include <utility>

namespace hoshino::net {
struct CurlMulti::Transfer {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  HttpRequest request;
  std::size_t upload_offset = 0;
  HttpResponse response;
  std::unique_ptr<Completion> done;
  char error[CURL_ERROR_SIZE] = {};

  ~Transfer() {
    if (easy) curl_easy_cleanup(easy);
    if (headers) curl_slist_free_all(headers);
  }
};

// One socket curl asked us to watch. The descriptor is only borrowed: curl owns and closes the fd, so we
// release() it instead of closing it.
struct CurlMulti::Socket {
  Socket(asio::io_context& io, curl_socket_t fd) : fd(fd), descriptor(io) {}
  curl_socket_t fd;
  asio::posix::stream_descriptor descriptor;
  int wanted = 0; // CURL_POLL_IN / OUT / INOUT
  bool reading = false;
  bool writing = false;
  bool removed = false; // curl said CURL_POLL_REMOVE: pending waits must not call back into curl
};

using CurlMultiSocket = CurlMulti::Socket;

namespace {

// With HttpRequest::max_body_bytes set, the least room an error answer's body gets.
constexpr std::uint64_t kMinErrorBodyCap = 64 * 1024;

struct UploadSource {
  const std::string* body;
  std::size_t* offset;
};

// The value of a header line (trimmed) if the header's name, lowercase and with its colon, is `name`.
std::optional<std::string_view> header_value(std::string_view line, std::string_view name) {
  if (line.size() <= name.size() || line.size() >= 256 ||
      !std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) { return a == (b | 0x20); }))
    return std::nullopt;
  line.remove_prefix(name.size());
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n' || line.back() == ' ')) line.remove_suffix(1);
  return line;
}

// Stop watching a socket without closing it (curl owns the fd).
void forget(CurlMultiSocket& sock) {
  sock.removed = true;
  asio::error_code ignored;
  sock.descriptor.cancel(ignored);
  sock.descriptor.release();
}

void check(CURLMcode code, const char* what) {
  if (code != CURLM_OK) throw std::runtime_error(std::string(what) + ": " + curl_multi_strerror(code));
}

} // namespace

CurlMulti::CurlMulti(asio::io_context& io, Options options) : io_(io), options_(options), timer_(io) {
  static const CURLcode global = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (global != CURLE_OK) throw std::runtime_error("curl_global_init failed");
  multi_ = curl_multi_init();
  if (!multi_) throw std::runtime_error("curl_multi_init failed");
  check(curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlMulti::on_socket), "CURLMOPT_SOCKETFUNCTION");
  check(curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this), "CURLMOPT_SOCKETDATA");
  check(curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlMulti::on_timer), "CURLMOPT_TIMERFUNCTION");
  check(curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this), "CURLMOPT_TIMERDATA");
  check(curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, options_.max_host_connections),
        "CURLMOPT_MAX_HOST_CONNECTIONS");
  // The connection cache must hold at least every connection we allow, or curl closes idle ones after
  // each burst and opens new ones for the next (TIME_WAIT piles up). Its default shrinks with the number
  // of easy handles, hence set explicitly.
  check(curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, options_.max_host_connections * 2), "CURLMOPT_MAXCONNECTS");
}

CurlMulti::~CurlMulti() {
  closing_ = true;
  timer_.cancel();
  // Pending requests are abandoned: their coroutines are destroyed with the io_context.
  for (auto& [easy, t] : transfers_) curl_multi_remove_handle(multi_, easy);
  transfers_.clear();
  for (auto& [fd, sock] : sockets_) forget(*sock);
  sockets_.clear();
  for (CURL* e : idle_easy_) curl_easy_cleanup(e);
  curl_multi_cleanup(multi_);
}

void CurlMulti::start(HttpRequest request, std::unique_ptr<Completion> done) {
  auto t = std::make_unique<Transfer>();
  t->request = std::move(request);
  t->done = std::move(done);
  CURL* e = t->easy = acquire_easy();
  if (!e) {
    t->response.curl_code = CURLE_OUT_OF_MEMORY;
    t->response.curl_error = "curl_easy_init failed";
    t->done->complete(std::move(t->response));
    return;
  }
  const auto& req = t->request;
  curl_easy_setopt(e, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(req.timeout).count()));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(options_.connect_timeout).count()));
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, +[](char* data, std::size_t size, std::size_t n, void* user) -> std::size_t {
    auto* tr = static_cast<Transfer*>(user);
    std::string& body = tr->response.body;
    const std::size_t bytes = size * n;
    curl_off_t length = -1; // as announced (Content-Length), looked at before the first bytes are kept
    if (body.empty()) curl_easy_getinfo(tr->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    if (const std::uint64_t max = tr->request.max_body_bytes; max != 0) {
      long status = 0;
      curl_easy_getinfo(tr->easy, CURLINFO_RESPONSE_CODE, &status);
      const bool success = status >= 200 && status < 300;
      // The cap is for what was asked for: an error document (S3's XML) gets room enough to be read, so a
      // small cap does not turn NoSuchKey into "too large".
      const std::uint64_t cap = success ? max : std::max(max, kMinErrorBodyCap);
      if (body.size() + bytes > cap || (length > 0 && static_cast<std::uint64_t>(length) > cap)) {
        // Refused on its announced length before any of it is kept, or cut once it grows past the cap: a
        // short count makes curl abandon the transfer (CURLE_WRITE_ERROR).
        tr->response.too_large = success;
        return 0;
      }
    }
    // Room for the whole body at once when its length is known: a 1 MiB bundle would otherwise be
    // regrown and copied a dozen times (memmove showed in the profile).
    if (length > 0 && length <= (64 << 20)) body.reserve(static_cast<std::size_t>(length));
    body.append(data, bytes);
    return bytes;
  });
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
  // Only the Date header (the node measures its clock against the server's: core/clock_offset) and the
  // ETag (conditional GETs) are kept.
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, +[](char* data, std::size_t size, std::size_t n, void* user) -> std::size_t {
    const std::string_view line(data, size * n);
    HttpResponse& response = static_cast<Transfer*>(user)->response;
    if (auto date = header_value(line, "date:")) response.date.assign(*date);
    else if (auto etag = header_value(line, "etag:")) response.etag.assign(*etag);
    return size * n;
  });
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
  t->response.sent_ms = wall_ms();
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &CurlMulti::on_open_socket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, this);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, &CurlMulti::on_close_socket);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, this);
  if (options_.verbose) curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
  if (req.no_proxy) curl_easy_setopt(e, CURLOPT_NOPROXY, "*"); // curl_easy_reset clears it for the next request
  // No CURLOPT_FAILONERROR: it closes the connection on 4xx and discards S3's error XML.

  if (req.method == "PUT") {
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    curl_easy_setopt(e, CURLOPT_READFUNCTION, +[](char* buf, std::size_t size, std::size_t n, void* user) -> std::size_t {
      auto* tr = static_cast<Transfer*>(user);
      std::size_t left = tr->request.body.size() - tr->upload_offset;
      std::size_t chunk = std::min(left, size * n);
      std::copy_n(tr->request.body.data() + tr->upload_offset, chunk, buf);
      tr->upload_offset += chunk;
      return chunk;
    });
    curl_easy_setopt(e, CURLOPT_READDATA, t.get());
  } else if (req.method == "POST") {
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  } else if (req.method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (req.method != "GET") {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }

  for (const auto& h : req.headers) t->headers = curl_slist_append(t->headers, h.c_str());
  // An "Expect: 100-continue" round trip would add a full RTT to every upload.
  t->headers = curl_slist_append(t->headers, "Expect:");
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);

  ++stats_.requests_started;
  CURLMcode rc = curl_multi_add_handle(multi_, e);
  if (rc != CURLM_OK) {
    t->response.curl_code = CURLE_FAILED_INIT;
    t->response.curl_error = curl_multi_strerror(rc);
    ++stats_.requests_completed;
    ++stats_.requests_failed;
    t->done->complete(std::move(t->response));
    return;
  }
  transfers_.emplace(e, std::move(t));
}

void CurlMulti::finish(CURL* easy, CURLcode code) {
  auto it = transfers_.find(easy);
  if (it == transfers_.end()) return;
  auto t = std::move(it->second);
  transfers_.erase(it);
  curl_multi_remove_handle(multi_, easy);
  auto& r = t->response;
  r.curl_code = code;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.status);
  curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &r.seconds);
  r.received_ms = wall_ms();
  release_easy(std::exchange(t->easy, nullptr));
  if (code != CURLE_OK) {
    r.curl_error = t->error[0] ? t->error : curl_easy_strerror(code);
    ++stats_.requests_failed;
  }
  ++stats_.requests_completed;
  t->done->complete(std::move(r));
}

CURL* CurlMulti::acquire_easy() {
  if (idle_easy_.empty()) return curl_easy_init();
  CURL* e = idle_easy_.back();
  idle_easy_.pop_back();
  return e;
}

void CurlMulti::release_easy(CURL* e) {
  // Reusing handles saves an allocation and init per request; the pool is bounded by the busiest moment
  // seen so far, capped so a burst does not pin memory forever.
  constexpr std::size_t kMaxIdle = 64;
  if (idle_easy_.size() >= kMaxIdle) {
    curl_easy_cleanup(e);
    return;
  }
  curl_easy_reset(e);
  idle_easy_.push_back(e);
}

void CurlMulti::drain_messages() {
  int left = 0;
  while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
    if (m->msg == CURLMSG_DONE) finish(m->easy_handle, m->data.result);
  }
}

void CurlMulti::socket_action(curl_socket_t s, int events) {
  int running = 0;
  curl_multi_socket_action(multi_, s, events, &running);
  drain_messages();
}

void CurlMulti::watch(const std::shared_ptr<Socket>& sock) {
  // One outstanding wait per direction; each re-arms itself after curl has handled the event, if curl
  // still wants that direction (it may have changed its mind, or removed the socket, meanwhile).
  if ((sock->wanted & CURL_POLL_IN) && !sock->reading) {
    sock->reading = true;
    sock->descriptor.async_wait(asio::posix::descriptor_base::wait_read, [this, sock](const asio::error_code& ec) {
      sock->reading = false;
      if (ec || sock->removed || closing_) return;
      socket_action(sock->fd, CURL_CSELECT_IN);
      if (!sock->removed) watch(sock);
    });
  }
  if ((sock->wanted & CURL_POLL_OUT) && !sock->writing) {
    sock->writing = true;
    sock->descriptor.async_wait(asio::posix::descriptor_base::wait_write, [this, sock](const asio::error_code& ec) {
      sock->writing = false;
      if (ec || sock->removed || closing_) return;
      socket_action(sock->fd, CURL_CSELECT_OUT);
      if (!sock->removed) watch(sock);
    });
  }
}

int CurlMulti::on_socket(CURL*, curl_socket_t s, int what, void* self_ptr, void*) {
  auto* self = static_cast<CurlMulti*>(self_ptr);
  if (self->closing_) return 0;
  auto it = self->sockets_.find(s);
  if (what == CURL_POLL_REMOVE) {
    if (it != self->sockets_.end()) {
      forget(*it->second);
      self->sockets_.erase(it);
    }
    return 0;
  }
  std::shared_ptr<Socket> sock;
  if (it == self->sockets_.end()) {
    sock = std::make_shared<Socket>(self->io_, s);
    asio::error_code ec;
    sock->descriptor.assign(s, ec);
    if (ec) return -1; // curl fails this transfer: better than a transfer that never wakes up
    self->sockets_.emplace(s, sock);
  } else {
    sock = it->second;
  }
  sock->wanted = what;
  self->watch(sock);
  return 0;
}

int CurlMulti::on_timer(CURLM*, long timeout_ms, void* self_ptr) {
  auto* self = static_cast<CurlMulti*>(self_ptr);
  if (self->closing_) return 0;
  if (timeout_ms < 0) {
    self->timer_.cancel();
    return 0;
  }
  // Even a 0 ms timeout goes through the timer: curl must not be called from inside its own callback.
  self->timer_.expires_after(std::chrono::milliseconds(timeout_ms));
  self->timer_.async_wait([self](const asio::error_code& ec) {
    if (!ec && !self->closing_) self->socket_action(CURL_SOCKET_TIMEOUT, 0);
  });
  return 0;
}

curl_socket_t CurlMulti::on_open_socket(void* self_ptr, curlsocktype, struct curl_sockaddr* address) {
  auto* self = static_cast<CurlMulti*>(self_ptr);
  curl_socket_t s = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  if (s != CURL_SOCKET_BAD) ++self->stats_.sockets_opened;
  return s;
}

int CurlMulti::on_close_socket(void* self_ptr, curl_socket_t s) {
  auto* self = static_cast<CurlMulti*>(self_ptr);
  ++self->stats_.sockets_closed;
  // curl normally says CURL_POLL_REMOVE first; if it did not, forget the descriptor before the fd number
  // can be reused, or a new socket with the same number would inherit a dead reactor registration.
  if (auto it = self->sockets_.find(s); it != self->sockets_.end()) {
    forget(*it->second);
    self->sockets_.erase(it);
  }
  return ::close(s);
}

} // namespace hoshino::net

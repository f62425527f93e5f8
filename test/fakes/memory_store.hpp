#pragma once
// An in-memory ObjectStore shared by in-process nodes: a simulated S3 on the node's clock (virtual time in
// the node tests). Keys list in byte order, like S3. It can answer as a distant, busy S3 does:
//   - DistantStore: the bucket as one node reaches it, a round trip (and jitter) away;
//   - rate_limit: per-prefix request rates past which S3 answers 503 SlowDown;
//   - failures: requests that fail with 500 InternalError or time out (some after they took effect);
//   - a Ledger: requests, bytes, refusals, and their price.
// Tests also fail chosen operations (fault), delay chosen PUTs, refuse deletes, see every PUT.
#include "core/s3_prices.hpp"
#include "store/object_store.hpp"
#include "util/clock.hpp"

#include <asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>

namespace hoshino::store {

// An answer as S3 gives it: an HTTP status and S3's error code (for the fake's answers and fault hooks).
s3::Error http_error(long status, std::string_view code);
// No answer within the client's timeout, as s3::Client reports it.
s3::Error timeout_error();

// What requests cost and what became of them.
struct Ledger {
  std::uint64_t requests[4] = {}; // by OpKind, every request that reached the bucket
  std::uint64_t billed[4] = {};   // those S3 bills: all but its 5xx answers (ErrorCodeBilling)
  std::uint64_t throttled = 0;    // answered 503 SlowDown by rate_limit
  std::uint64_t failed = 0;       // answered 500 InternalError by failures
  std::uint64_t timed_out = 0;    // no answer (failures)
  std::uint64_t bytes_up = 0;     // PUT bodies
  std::uint64_t bytes_down = 0;   // GET bodies

  std::uint64_t of(OpKind op) const { return requests[static_cast<std::size_t>(op)]; }
  std::uint64_t total() const { return of(OpKind::put) + of(OpKind::list) + of(OpKind::get) + of(OpKind::remove); }
  double dollars(const core::S3Prices& prices = core::kS3Standard) const {
    auto b = [&](OpKind op) { return billed[static_cast<std::size_t>(op)]; };
    return prices.dollars(b(OpKind::put), b(OpKind::list), b(OpKind::get), b(OpKind::remove));
  }
};

// Requests per second one prefix takes before S3 answers 503 SlowDown (AWS: 3,500 PUT/COPY/POST/DELETE
// and 5,500 GET/HEAD per partitioned prefix). Zero: no limit. LISTs count as reads.
struct RateLimit {
  std::uint32_t writes_per_s = 0;
  std::uint32_t reads_per_s = 0;
};

// Requests that fail on their own, at these rates (0..1), drawn from a seeded generator: the same seed,
// the same failures. A timeout answers timeout_after after the request was sent (the S3 client's
// timeout); S3 had answered it (billed), and half of them took effect before the answer was lost.
struct Failures {
  double internal_error = 0;
  double timeout = 0;
  std::chrono::milliseconds timeout_after{10000};
  std::uint64_t seed = 1;
};

class MemoryStore final : public ObjectStore {
public:
  // `latency`: the time every request made through this object (not a DistantStore) takes.
  explicit MemoryStore(asio::io_context& io, std::chrono::microseconds latency = {});

  Op<Unit> put(std::string key, core::Bytes body, bool create_only) override;
  Op<core::ListPage> list(std::string prefix, std::size_t max_keys, std::string start_after) override;
  Op<core::Bytes> get(std::string key, std::uint64_t max_bytes) override;
  // ETags as S3's for a single-part PUT: the quoted hex MD5 of the body. Counted and faulted as a get.
  Op<Watch> watch(std::string key, std::string etag, std::uint64_t max_bytes) override;
  Op<std::vector<std::string>> remove(std::vector<std::string> keys) override;
  Op<Unit> check(std::string prefix) override;

  // Return an error to fail the operation on that key (list: the prefix; remove: the first key).
  std::function<std::optional<s3::Error>(OpKind, const std::string& key)> fault;
  // Extra time before a PUT of that key lands (so a later PUT can become visible first, as on S3).
  std::function<std::chrono::microseconds(const std::string& key)> put_delay;
  // True for keys DeleteObjects refuses one by one (a policy or Object Lock), as S3's per-key <Error>.
  std::function<bool(const std::string& key)> undeletable;
  // Sees every PUT that lands (a test's copy of what was sent, to replay it later).
  std::function<void(const std::string& key, const core::Bytes& body)> on_put;

  // Non-zero: no page of a listing holds more keys than this, whatever max_keys asked for, and a page
  // with more to follow says so (IsTruncated), as S3 may answer.
  std::size_t page_limit = 0;

  // False: answers as a server that ignores If-None-Match, the whole object every time (watch: changed
  // true with the current etag, even the one sent), for testing a caller's fallback.
  bool conditional_gets = true;

  RateLimit rate_limit;
  Failures failures;

  std::map<std::string, core::Bytes>& objects() noexcept { return objects_; }
  // Every request, whoever made it.
  const Ledger& ledger() const noexcept { return ledger_; }
  std::uint64_t requests(OpKind op) const { return ledger_.of(op); }
  // The most requests one prefix (a key up to its last '/'; a LIST's prefix) took within one second
  // of the clock, and which prefix that was.
  std::uint64_t peak_prefix_rate() const noexcept { return peak_rate_; }
  const std::string& peak_prefix() const noexcept { return peak_prefix_; }
  // From here on (a benchmark's next phase).
  void reset_peak() {
    peak_rate_ = 0;
    peak_prefix_.clear();
  }

  // The way a request travels: how long before it reaches the bucket and how long its answer takes
  // back, and whose ledger it is on besides the bucket's.
  struct Route {
    Clock::duration there{};
    Clock::duration back{};
    Ledger* ledger = nullptr;
  };
  Op<Unit> put(Route route, std::string key, core::Bytes body, bool create_only);
  Op<core::ListPage> list(Route route, std::string prefix, std::size_t max_keys, std::string start_after);
  Op<core::Bytes> get(Route route, std::string key, std::uint64_t max_bytes);
  Op<Watch> watch(Route route, std::string key, std::string etag, std::uint64_t max_bytes);
  Op<std::vector<std::string>> remove(Route route, std::vector<std::string> keys);
  Op<Unit> check(Route route, std::string prefix);

private:
  // The request reaches the bucket: counted, then rate limits, failures and the fault hook may answer it.
  // `applied` says whether the operation takes effect all the same (a timeout after the fact).
  struct Verdict {
    std::optional<s3::Error> error;
    bool applied = false;
    bool timed_out = false;
  };
  Clock::duration answer_time(const Verdict& v, const Route& route) const;
  asio::awaitable<Verdict> arrive(Route route, OpKind op, const std::string& key);
  asio::awaitable<void> travel(Clock::duration d);
  // The object a GET of key answers (404 NoSuchKey, or kObjectTooLarge past max_bytes).
  Result<const core::Bytes*, s3::Error> find(const std::string& key, std::uint64_t max_bytes) const;
  bool over_rate(OpKind op, const std::string& prefix);
  Route direct() const { return Route{latency_, {}, nullptr}; }

  asio::io_context& io_;
  Clock::duration latency_;
  std::map<std::string, core::Bytes> objects_;
  Ledger ledger_;
  std::mt19937_64 random_{1};
  bool seeded_ = false;
  // Per prefix and class (0 writes, 1 reads): the times of the requests of the last second.
  std::map<std::pair<std::string, int>, std::deque<Clock::time_point>> recent_;
  std::uint64_t peak_rate_ = 0;
  std::string peak_prefix_;
};

// The bucket as one node reaches it: every request takes half the round trip there and half back, each
// half plus up to jitter / 2 (uniform, from `seed`): a round trip of round_trip to round_trip + jitter.
// Its requests go on this node's ledger as well as the bucket's.
class DistantStore final : public ObjectStore {
public:
  DistantStore(MemoryStore& bucket, Clock::duration round_trip, Clock::duration jitter = {}, std::uint64_t seed = 1);

  Op<Unit> put(std::string key, core::Bytes body, bool create_only) override;
  Op<core::ListPage> list(std::string prefix, std::size_t max_keys, std::string start_after) override;
  Op<core::Bytes> get(std::string key, std::uint64_t max_bytes) override;
  Op<Watch> watch(std::string key, std::string etag, std::uint64_t max_bytes) override;
  Op<std::vector<std::string>> remove(std::vector<std::string> keys) override;
  Op<Unit> check(std::string prefix) override;

  const Ledger& ledger() const noexcept { return ledger_; }

private:
  MemoryStore::Route route();

  MemoryStore& bucket_;
  Clock::duration half_;
  Clock::duration jitter_;
  std::mt19937_64 random_;
  Ledger ledger_;
};

} // namespace hoshino::store

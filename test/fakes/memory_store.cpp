#include "fakes/memory_store.hpp"

#include "core/keys.hpp"
#include "util/crypto.hpp"
#include "util/timer.hpp"

#include <algorithm>
#include <asio/use_awaitable.hpp>

namespace hoshino::store {

s3::Error http_error(long status, std::string_view code) {
  s3::Error e;
  e.kind = s3::Error::Kind::http;
  e.http_status = status;
  e.code = code;
  return e;
}

s3::Error timeout_error() {
  s3::Error e;
  e.kind = s3::Error::Kind::transport;
  e.code = "Timeout"; // as s3::Client names CURLE_OPERATION_TIMEDOUT
  e.curl_code = 28;
  e.message = "simulated: no answer within the client's timeout";
  return e;
}

namespace {

std::size_t index_of(OpKind op) { return static_cast<std::size_t>(op); }

// What S3 partitions request rates by, as far as the tunnel's keys go: a key up to its last '/'.
std::string prefix_of(OpKind op, const std::string& key) {
  if (op == OpKind::list) return key;
  auto slash = key.rfind('/');
  return slash == std::string::npos ? std::string() : key.substr(0, slash + 1);
}

} // namespace

// (Every co_await here is a statement of its own: GCC 12 mishandles temporaries beside co_await.)
MemoryStore::MemoryStore(asio::io_context& io, std::chrono::microseconds latency) : io_(io), latency_(latency) {}

asio::awaitable<void> MemoryStore::travel(Clock::duration d) {
  Timer t(io_, d);
  co_await t.async_wait(asio::use_awaitable);
}

bool MemoryStore::over_rate(OpKind op, const std::string& prefix) {
  const int reads = (op == OpKind::get || op == OpKind::list) ? 1 : 0;
  auto& times = recent_[{prefix, reads}];
  const auto now = Clock::now();
  while (!times.empty() && now - times.front() >= std::chrono::seconds(1)) times.pop_front();
  const std::uint32_t limit = reads ? rate_limit.reads_per_s : rate_limit.writes_per_s;
  if (limit > 0 && times.size() >= limit) return true; // refused requests do not count towards the rate
  times.push_back(now);
  // Both classes of one prefix together, as the busiest-prefix figure reports them.
  const auto& other = recent_[{prefix, 1 - reads}];
  std::uint64_t in_last_second = times.size();
  for (auto it = other.rbegin(); it != other.rend() && now - *it < std::chrono::seconds(1); ++it) ++in_last_second;
  if (in_last_second > peak_rate_) {
    peak_rate_ = in_last_second;
    peak_prefix_ = prefix;
  }
  return false;
}

Clock::duration MemoryStore::answer_time(const Verdict& v, const Route& route) const {
  // A request that times out answers when the client gives up on it: timeout_after from sending.
  if (v.timed_out) return std::max(Clock::duration(failures.timeout_after) - route.there, Clock::duration::zero());
  return route.back;
}

asio::awaitable<MemoryStore::Verdict> MemoryStore::arrive(Route route, OpKind op, const std::string& key) {
  // Always suspend, like a real request: callers must not rely on completion before co_await returns.
  co_await travel(route.there);
  Verdict v;
  auto count = [&](bool billed) {
    for (auto* l : {&ledger_, route.ledger}) {
      if (!l) continue;
      ++l->requests[index_of(op)];
      if (billed) ++l->billed[index_of(op)];
    }
  };
  auto note = [&](std::uint64_t Ledger::*field) {
    for (auto* l : {&ledger_, route.ledger})
      if (l) ++(l->*field);
  };
  if (over_rate(op, prefix_of(op, key))) {
    count(false);
    note(&Ledger::throttled);
    v.error = http_error(503, "SlowDown");
    co_return v;
  }
  if (failures.internal_error > 0 || failures.timeout > 0) {
    if (!seeded_) {
      random_.seed(failures.seed);
      seeded_ = true;
    }
    std::uniform_real_distribution<double> uniform(0, 1);
    const double draw = uniform(random_);
    if (draw < failures.internal_error) {
      count(false);
      note(&Ledger::failed);
      v.error = http_error(500, "InternalError");
      co_return v;
    }
    if (draw < failures.internal_error + failures.timeout) {
      v.applied = uniform(random_) < 0.5;
      v.timed_out = true;
      count(true); // S3 answered (and billed); the answer was lost on the way
      note(&Ledger::timed_out);
      v.error = timeout_error();
      co_return v;
    }
  }
  if (fault) v.error = fault(op, key);
  count(!v.error || v.error->http_status < 500);
  co_return v;
}

Op<Unit> MemoryStore::put(Route route, std::string key, core::Bytes body, bool create_only) {
  auto v = co_await arrive(route, OpKind::put, key);
  const bool apply = !v.error || v.applied;
  if (apply && put_delay) {
    Timer t(io_, put_delay(key));
    co_await t.async_wait(asio::use_awaitable);
  }
  std::optional<s3::Error> answer = v.error;
  if (apply) {
    // As S3 does: a sender bug must show here, not only on AWS.
    if (key.size() > core::kMaxKeyBytes) answer = http_error(400, "KeyTooLongError");
    // As S3 and RGW answer If-None-Match: *.
    else if (create_only && objects_.contains(key)) answer = http_error(412, store::kPreconditionFailed);
    else {
      for (auto* l : {&ledger_, route.ledger})
        if (l) l->bytes_up += body.size();
      if (on_put) on_put(key, body);
      objects_[key] = std::move(body);
    }
    if (v.error) answer = v.error; // taken effect, but the answer was lost
  }
  const auto back = answer_time(v, route);
  if (back > Clock::duration::zero()) co_await travel(back);
  if (answer) co_return *answer;
  co_return Unit{};
}

Op<core::ListPage> MemoryStore::list(Route route, std::string prefix, std::size_t max_keys, std::string start_after) {
  auto v = co_await arrive(route, OpKind::list, prefix);
  core::ListPage page;
  if (!v.error) {
    if (page_limit > 0) max_keys = std::min(max_keys, page_limit);
    auto from = start_after > prefix ? objects_.upper_bound(start_after) : objects_.lower_bound(prefix);
    for (auto it = from; it != objects_.end() && it->first.starts_with(prefix); ++it) {
      if (page.objects.size() == max_keys) {
        page.truncated = true; // as S3: more keys follow under the prefix
        break;
      }
      page.objects.emplace_back(it->first, it->second.size());
    }
  }
  const auto back = answer_time(v, route);
  if (back > Clock::duration::zero()) co_await travel(back);
  if (v.error) co_return *v.error;
  co_return page;
}

Result<const core::Bytes*, s3::Error> MemoryStore::find(const std::string& key, std::uint64_t max_bytes) const {
  auto it = objects_.find(key);
  if (it == objects_.end()) return http_error(404, "NoSuchKey");
  // As s3::Client reports a body cut off at max_bytes (the answer itself was a 200).
  if (it->second.size() > max_bytes) return http_error(200, store::kObjectTooLarge);
  return &it->second;
}

Op<core::Bytes> MemoryStore::get(Route route, std::string key, std::uint64_t max_bytes) {
  auto v = co_await arrive(route, OpKind::get, key);
  std::optional<s3::Error> answer = v.error;
  core::Bytes body;
  if (!v.error) {
    auto found = find(key, max_bytes);
    if (!found) answer = std::move(found).error();
    else body = **found;
    for (auto* l : {&ledger_, route.ledger})
      if (l) l->bytes_down += body.size();
  }
  const auto back = answer_time(v, route);
  if (back > Clock::duration::zero()) co_await travel(back);
  if (answer) co_return *answer;
  co_return body;
}

Op<Watch> MemoryStore::watch(Route route, std::string key, std::string etag, std::uint64_t max_bytes) {
  auto v = co_await arrive(route, OpKind::get, key);
  std::optional<s3::Error> answer = v.error;
  Watch w;
  if (!v.error) {
    auto found = find(key, max_bytes);
    if (!found) {
      answer = std::move(found).error();
    } else {
      std::string current = "\"" + crypto::hex(crypto::md5(crypto::bytes_of(**found))) + "\"";
      // S3's 304 for If-None-Match naming the current ETag; a server that ignores the header sends it all.
      const bool not_modified = conditional_gets && !etag.empty() && etag == current;
      w = Watch{!not_modified, std::move(current), not_modified ? core::Bytes{} : **found};
    }
  }
  const auto back = answer_time(v, route);
  if (back > Clock::duration::zero()) co_await travel(back);
  if (answer) co_return *answer;
  co_return w;
}

Op<std::vector<std::string>> MemoryStore::remove(Route route, std::vector<std::string> keys) {
  std::string first = keys.empty() ? std::string() : keys.front();
  auto v = co_await arrive(route, OpKind::remove, first);
  std::vector<std::string> refused;
  if (!v.error || v.applied) {
    for (const auto& k : keys) {
      if (undeletable && undeletable(k)) refused.push_back(k);
      else objects_.erase(k);
    }
  }
  const auto back = answer_time(v, route);
  if (back > Clock::duration::zero()) co_await travel(back);
  if (v.error) co_return *v.error;
  co_return refused;
}

Op<Unit> MemoryStore::check(Route route, std::string prefix) {
  auto v = co_await arrive(route, OpKind::list, prefix);
  const auto back = answer_time(v, route);
  if (back > Clock::duration::zero()) co_await travel(back);
  if (v.error) co_return *v.error;
  co_return Unit{};
}

Op<Unit> MemoryStore::put(std::string key, core::Bytes body, bool create_only) {
  return put(direct(), std::move(key), std::move(body), create_only);
}
Op<core::ListPage> MemoryStore::list(std::string prefix, std::size_t max_keys, std::string start_after) {
  return list(direct(), std::move(prefix), max_keys, std::move(start_after));
}
Op<core::Bytes> MemoryStore::get(std::string key, std::uint64_t max_bytes) { return get(direct(), std::move(key), max_bytes); }
Op<Watch> MemoryStore::watch(std::string key, std::string etag, std::uint64_t max_bytes) {
  return watch(direct(), std::move(key), std::move(etag), max_bytes);
}
Op<std::vector<std::string>> MemoryStore::remove(std::vector<std::string> keys) { return remove(direct(), std::move(keys)); }
Op<Unit> MemoryStore::check(std::string prefix) { return check(direct(), std::move(prefix)); }

DistantStore::DistantStore(MemoryStore& bucket, Clock::duration round_trip, Clock::duration jitter, std::uint64_t seed)
    : bucket_(bucket), half_(round_trip / 2), jitter_(jitter), random_(seed) {}

MemoryStore::Route DistantStore::route() {
  auto leg = [&] {
    if (jitter_ <= Clock::duration::zero()) return half_;
    std::uniform_int_distribution<Clock::rep> extra(0, jitter_.count() / 2);
    return half_ + Clock::duration(extra(random_));
  };
  auto there = leg();
  auto back = leg();
  return MemoryStore::Route{there, back, &ledger_};
}

Op<Unit> DistantStore::put(std::string key, core::Bytes body, bool create_only) {
  return bucket_.put(route(), std::move(key), std::move(body), create_only);
}
Op<core::ListPage> DistantStore::list(std::string prefix, std::size_t max_keys, std::string start_after) {
  return bucket_.list(route(), std::move(prefix), max_keys, std::move(start_after));
}
Op<core::Bytes> DistantStore::get(std::string key, std::uint64_t max_bytes) {
  return bucket_.get(route(), std::move(key), max_bytes);
}
Op<Watch> DistantStore::watch(std::string key, std::string etag, std::uint64_t max_bytes) {
  return bucket_.watch(route(), std::move(key), std::move(etag), max_bytes);
}
Op<std::vector<std::string>> DistantStore::remove(std::vector<std::string> keys) {
  return bucket_.remove(route(), std::move(keys));
}
Op<Unit> DistantStore::check(std::string prefix) { return bucket_.check(route(), std::move(prefix)); }

} // namespace hoshino::store

// The node's lifetime: construction, run() and stop(), the heartbeat's beats, S3 failures. Egress,
// ingress, presence and `show` live in the files named after them (node.hpp).
#include "node/node.hpp"

#include "core/keys.hpp"
#include "util/crypto.hpp"
#include "util/log.hpp"
#include "util/wall_clock.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/use_awaitable.hpp>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace hoshino::node {
namespace {

// The inbox's tunables come from the config as they are; who this node is, from the rest of it.
core::InboxConfig inbox_config(const NodeConfig& c, std::uint64_t start_ms) {
  core::InboxConfig i = c.inbox;
  i.key_prefix = c.key_prefix;
  i.self = c.self;
  i.start_ms = start_ms;
  i.psk = c.psk;
  i.fingerprint_seed = crypto::random64();
  i.replay.forget_after_ms = i.max_age_ms + i.max_future_ms;
  return i;
}

} // namespace

Node::Node(asio::io_context& io, device::PacketDevice& device, store::ObjectStore& store, NodeConfig config,
           WallClock wall_ms)
    : io_(io),
      device_(device),
      store_(store),
      config_(std::move(config)),
      wall_ms_(wall_ms ? std::move(wall_ms) : WallClock(hoshino::wall_ms)),
      clock_(config_.clock),
      bundler_(config_.bundler),
      schedule_(config_.ingress, Clock::now()),
      inbox_(inbox_config(config_, now_ms())),
      // ULIDs restart from now when more than half of what receivers accept ahead (max_future_ms) ahead of
      // the clock: a step back stays far from `from_future`, and a small one (< 5 s) keeps their order.
      chain_(config_.chain_keys, crypto::random64, core::KeyChain::kMaxDestinations, config_.inbox.max_future_ms / 2),
      rings_(config_.ingress.pace.hold / 2),
      inbox_prefix_(core::inbox_prefix(config_.key_prefix, config_.self)),
      bell_key_(core::bell_key(config_.key_prefix, config_.self)),
      heartbeat_(io, schedule_, [this] { return inbox_view(); }, [this] { return next_timer(); }),
      drained_(io),
      random_(crypto::random64),
      directory_([&] {
        auto c = config_.peers;
        c.need_keys = config_.identity.has_value();
        return c;
      }()),
      presence_(core::PresenceTiming{config_.presence_refresh},
                core::presence_key(config_.key_prefix, config_.self,
                                   config_.identity ? config_.identity->public_key : core::PublicKey{}),
                Clock::now()),
      previous_keys_(config_.peers.key_overlap) {
  for (const auto& p : config_.pinned_peers) directory_.pin(p.address, p.key);
  if (config_.state_dir && config_.identity) // keys trusted on first use in earlier runs (like known_hosts)
    for (const auto& p : config_.state_dir->known_peers()) directory_.restore(p.address, p.key);
  if (config_.identity)
    inbox_.set_pair_key([this](const core::Address& sender, core::SealIds ids, std::uint64_t made_ms) {
      return open_key(sender, ids, made_ms);
    });
  start_ms_ = now_ms();
  metrics_.dropped["queue_full"] = 0; // exported from the start, updated only when drops happen
  if (config_.state_dir) {
    for (const auto& [sender, highest] : config_.state_dir->replay_records())
      inbox_.restore(sender, highest, now_ms());
  }
}

bool Node::log_due(Clock::time_point& last) {
  auto now = Clock::now();
  if (last.time_since_epoch().count() != 0 && now - last < kErrorLogInterval) return false;
  last = now;
  return true;
}

double Node::random01() { return static_cast<double>(random_() >> 11) * 0x1.0p-53; }

void Node::spawn(asio::awaitable<void> task) {
  ++tasks_;
  // Not detached: an exception in a task is a bug, and it must end the process loudly.
  asio::co_spawn(io_, std::move(task), [this](std::exception_ptr e) {
    if (--tasks_ == 0 && stopping_) drained_.cancel(); // run() waits for this on the way out
    if (e) std::rethrow_exception(e);
  });
}

void Node::s3_failed(store::OpKind op, const s3::Error& e) {
  metrics_.error(op, e.code);
  auto fault = core::classify_s3_error(e, false);
  if (fault == core::S3Fault::expired) {
    auto now = Clock::now();
    if (expired_since_ == Clock::time_point{}) expired_since_ = now;
    else if (now - expired_since_ >= config_.expired_credentials_limit && fatal_.empty()) {
      fatal_ = fmt::format("S3 has called the credentials expired for {} s: restart with fresh ones (temporary "
                           "credentials from the environment are not renewed)",
                           std::chrono::duration_cast<std::chrono::seconds>(now - expired_since_).count());
      log::error("{}", fatal_);
      stop();
    }
  }
  if (log_due(last_logged_[{static_cast<int>(op), std::string(core::code_label(e.code))}])) { // bounded keys
    // Permission and credential errors will not heal by retrying: say so loudly (the S3 error policy).
    if (core::policy_of(fault).loud)
      log::error("S3 {} denied: {}: check the credentials and the bucket policy (logged at most every {} s)",
                 store::to_string(op), e.describe(), kErrorLogInterval.count());
    else
      log::warn("S3 {} failed: {} (logged at most every {} s per error)", store::to_string(op), e.describe(),
                kErrorLogInterval.count());
  }
}

asio::awaitable<void> Node::run() {
  using namespace asio::experimental::awaitable_operators;
  log::info("node {} polling {} ", config_.self.str(), inbox_prefix());
  // The presence record first, if publish_presence() has not written it yet: peers that list before our
  // first packet must find it. A failure is retried on the beats (PresencePublisher).
  if (config_.presence && !presence_.published()) {
    auto published = co_await publish_presence();
    (void)published;
  }
  co_await (egress_loop() && beat_loop());

  // Flush: whatever is still queued goes out, then pending PUTs and deletes get a bounded time.
  for (auto& batch : bundler_.drain()) spawn(put_batch(std::move(batch)));
  act_on_inbox();
  if (config_.presence) spawn(remove_presence()); // peers answer unreachable for us from now on
  if (inbox_.pending_deletions() > 0) spawn(delete_consumed()); // at once, not at the schedule's pace
  if (tasks_ > 0) {
    drained_.expires_after(config_.flush_timeout); // cancelled by the last task to end (spawn)
    co_await drained_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
  if (tasks_ > 0) log::warn("stopping with {} S3 requests unfinished", tasks_);
}

void Node::stop() {
  if (stopping_) return;
  stopping_ = true;
  device_.close();
  heartbeat_.stop();
}

asio::awaitable<void> Node::beat_loop() {
  using core::IngressAction;
  while (!stopping_) {
    auto step = co_await heartbeat_.next();
    if (stopping_) break;
    on_timers();
    switch (step.action) {
      case IngressAction::list: spawn(list_once(step.second_list)); break;
      case IngressAction::poll: {
        auto keys = inbox_.start_polls(now_ms());
        spawn(poll_round(std::move(keys)));
        break;
      }
      case IngressAction::check_bell: spawn(check_bell()); break;
      case IngressAction::delete_consumed: spawn(delete_consumed()); break;
      case IngressAction::tick_inbox:
        inbox_.on_tick(now_ms());
        act_on_inbox();
        break;
      case IngressAction::trim_memory:
        // After a burst of traffic the allocator keeps the freed bundles (megabytes) mapped.
#ifdef __GLIBC__
        ::malloc_trim(0);
#endif
        break;
      case IngressAction::wait: break; // only the timers were due
    }
  }
}

void Node::on_timers() {
  auto now = Clock::now();
  if (auto at = bundler_.next_release(); at && now >= *at) flush_bundles(); // ACK holds that ended
  if (config_.presence) {
    if (auto action = presence_.next(now)) spawn(presence_step(std::move(*action)));
    // Packets wait for a key after a failed listing: the next one once its backoff ends.
    if (directory_.start_listing(now)) spawn(list_peers());
  }
}

std::optional<Clock::time_point> Node::next_timer() const {
  auto at = bundler_.next_release();
  if (config_.presence) {
    if (auto p = presence_.due(); p && (!at || *p < *at)) at = p;
    if (auto l = directory_.next_listing(); l && (!at || *l < *at)) at = l;
  }
  return at;
}

} // namespace hoshino::node

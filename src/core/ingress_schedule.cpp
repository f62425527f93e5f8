#include "core/ingress_schedule.hpp"

#include <algorithm>

namespace hoshino::core {

std::string_view to_string(IngressAction a) {
  switch (a) {
    case IngressAction::wait: return "wait";
    case IngressAction::list: return "list";
    case IngressAction::poll: return "poll";
    case IngressAction::check_bell: return "check_bell";
    case IngressAction::delete_consumed: return "delete_consumed";
    case IngressAction::tick_inbox: return "tick_inbox";
    case IngressAction::trim_memory: return "trim_memory";
  }
  return "unknown";
}

IngressSchedule::IngressSchedule(IngressConfig config, Clock::time_point now)
    : config_(config),
      pace_(config.pace, now),
      beat_ended_(now),
      last_list_(now - config.idle_list_interval), // the first beat LISTs
      shared_{static_cast<double>(config.bell_burst), now} {}

IngressStep IngressSchedule::start(IngressAction a, Clock::time_point now) {
  beat_busy_ = true;
  beat_ = a;
  beat_started_ = now;
  return {a};
}

IngressStep IngressSchedule::start_list(bool second_list, Clock::time_point now) {
  last_list_ = now;
  if (second_list) {
    second_list_busy_ = second_list_used_ = true;
    second_list_started_ = now;
    return {IngressAction::list, Clock::time_point::max(), true};
  }
  second_list_used_ = false;
  rang_ = false; // whatever rang is found by this LIST
  return start(IngressAction::list, now);
}

IngressSchedule::Tokens& IngressSchedule::tokens_of(const std::optional<Address>& ringer, Clock::time_point now) {
  Tokens* t = &shared_;
  if (ringer) {
    auto it = ringers_.find(*ringer);
    if (it == ringers_.end()) {
      if (ringers_.size() >= kMaxRingers) ringers_.erase(ringers_.begin()); // a forgotten ringer starts full again
      it = ringers_.emplace(*ringer, Tokens{static_cast<double>(config_.bell_burst), now}).first;
    }
    t = &it->second;
  }
  if (now > t->at) {
    double gained = std::chrono::duration<double>(now - t->at) / std::chrono::duration<double>(config_.bell_refill);
    t->left = std::min<double>(config_.bell_burst, t->left + gained);
    t->at = now;
  }
  return *t;
}

void IngressSchedule::give_back(const std::optional<Address>& ringer) {
  Tokens* t = &shared_;
  if (ringer) {
    auto it = ringers_.find(*ringer);
    if (it == ringers_.end()) return;
    t = &it->second;
  }
  t->left = std::min<double>(config_.bell_burst, t->left + 1);
}

IngressStep IngressSchedule::next(const InboxView& inbox, Clock::time_point now) {
  auto until = Clock::time_point::max();
  auto consider = [&](Clock::time_point t) { until = std::min(until, t); };

  if (inbox.wakeup) {
    // Once per instant: a wake-up the tick could not serve (every GET slot taken) must not spin.
    if (*inbox.wakeup <= now && (!last_tick_ || *last_tick_ + std::chrono::milliseconds(1) <= now)) {
      last_tick_ = now;
      return {IngressAction::tick_inbox};
    }
    consider(std::max(*inbox.wakeup, last_tick_ ? *last_tick_ + std::chrono::milliseconds(1) : now));
  }

  if (!deleting_ && inbox.pending_deletions > 0) {
    auto due = last_delete_ ? *last_delete_ + config_.delete_interval : now;
    if (due <= now) {
      deleting_ = true;
      last_delete_ = now;
      return {IngressAction::delete_consumed};
    }
    consider(due);
  }

  // After a burst the allocator keeps freed bundles (megabytes) mapped: hand them back once per idle spell.
  bool quiet = pace_.interval() >= config_.trim_after;
  if (!quiet) trimmed_ = false;
  else if (!trimmed_) {
    trimmed_ = true;
    return {IngressAction::trim_memory};
  }

  // The second LIST: in a conversation, a LIST half a LIST after the beat's, so that an object
  // appearing just after a LIST started waits half a LIST instead of a whole one. Polls of announced
  // keys take a GET's time and come back to back: a second LIST would only ask for the same keys.
  if (beat_busy_ && beat_ == IngressAction::list && !second_list_busy_ && !second_list_used_ &&
      pace_.conversation() && !inbox.chained) {
    auto due = beat_started_ + list_latency_ / 2;
    if (due <= now) return start_list(true, now);
    consider(due);
  }

  if (!beat_busy_) {
    if (idle(now)) {
      if (rang_ && now < list_retry_at_) {
        consider(list_retry_at_); // its LIST failed: again after the error backoff, not at once
      } else if (rang_) {
        auto& tokens = tokens_of(ringer_, now);
        if (tokens.left >= 1) {
          tokens.left -= 1;
          rang_ = false;
          ring_list_ = true;
          return start_list(false, now);
        }
        auto refill_wait = std::chrono::ceil<Duration>((1 - tokens.left) * config_.bell_refill);
        consider(tokens.at + std::max<Duration>(refill_wait, std::chrono::milliseconds(1)));
      }
      auto backstop = last_list_ + config_.idle_list_interval;
      if (backstop <= now) return start_list(false, now);
      consider(backstop);
      // Known to have rung: no need to ask again until its LIST, unless that ring waits for tokens (a
      // member's proven ring, with tokens of its own, must not wait behind junk).
      if (!rang_ || tokens_of(ringer_, now).left < 1) {
        auto bell_due = last_bell_ + config_.bell_interval;
        if (bell_due <= now) {
          last_bell_ = now;
          return start(IngressAction::check_bell, now);
        }
        consider(bell_due);
      }
    } else {
      auto due = beat_ended_ + pace_.interval();
      if (due > now) {
        consider(due);
      } else {
        // LIST finds what no announcement names: new senders, first objects, what a broken chain left.
        // An object held for its predecessor wants LISTs too: nothing may have announced that one's key.
        bool list_due = !inbox.chained || inbox.holding || now - last_list_ >= config_.chained_list_interval;
        if (!list_due) {
          if (inbox.polls_due) return start(IngressAction::poll, now);
          // Nothing to poll yet: a stream's next object is not due, or a LIST found the announced
          // object first and its GET is under way (its body names the next key). Another LIST now
          // would only find the same object: wait for the poll's time, progress, or the next LIST.
          if (inbox.next_poll || inbox.fetching > 0) {
            if (inbox.next_poll) consider(*inbox.next_poll);
            consider(last_list_ + config_.chained_list_interval);
            return {IngressAction::wait, until};
          }
        }
        return start_list(false, now);
      }
    }
  }
  return {IngressAction::wait, until};
}

void IngressSchedule::end_beat(Clock::time_point now) {
  beat_busy_ = false;
  beat_ = IngressAction::wait;
  beat_ended_ = now;
}

void IngressSchedule::on_listed(std::size_t fresh, bool second_list, Clock::time_point now) {
  auto started = second_list ? second_list_started_ : beat_started_;
  list_latency_ = (list_latency_ * 7 + (now - started)) / 8;
  if (second_list) second_list_busy_ = false;
  else {
    end_beat(now);
    if (ring_list_) {
      ring_list_ = false;
      if (fresh > 0) { // a real ring: its token back
        ++rings_found_;
        give_back(ringer_);
      } else {
        ++rings_empty_;
      }
    }
  }
  pace_.on_inbox_checked(fresh, now);
}

void IngressSchedule::on_list_failed(bool second_list, Clock::time_point now) {
  if (second_list) second_list_busy_ = false;
  else {
    end_beat(now);
    if (ring_list_) { // the ring is not forgotten: its LIST is tried again (and its token given back)
      ring_list_ = false;
      rang_ = true;
      give_back(ringer_);
    }
  }
  pace_.on_error(now);
  if (!second_list) list_retry_at_ = now + std::max(config_.pace.error_floor, pace_.interval());
}

void IngressSchedule::on_polled(std::size_t hits, bool failed, Clock::time_point now) {
  end_beat(now);
  if (failed && hits == 0) pace_.on_error(now);
  else pace_.on_inbox_checked(hits, now);
}

void IngressSchedule::on_bell(BellCheck result, Clock::time_point now, std::optional<Address> ringer) {
  end_beat(now);
  if (result != BellCheck::rang) return; // a failed check is tried again at the next bell interval
  ++rings_;
  // The latest ring is the one whose tokens pay (the bell shows only the last body written); a proven
  // ring pending is not given up for a later unproven one.
  if (!rang_ || ringer) ringer_ = ringer;
  rang_ = true;
  if (tokens_of(ringer_, now).left < 1) ++rings_limited_;
}

void IngressSchedule::on_deleted(Clock::time_point) { deleting_ = false; }

void IngressSchedule::on_sent(Clock::time_point now) {
  pace_.on_sent(now);
  last_sent_ = now;
}

void RingPolicy::touch(const Address& peer, Clock::time_point now) {
  auto it = last_.find(peer);
  if (it != last_.end()) {
    it->second = std::max(it->second, now);
    return;
  }
  if (last_.size() >= max_peers_) {
    auto oldest = std::min_element(last_.begin(), last_.end(),
                                   [](const auto& a, const auto& b) { return a.second < b.second; });
    last_.erase(oldest);
  }
  last_.emplace(peer, now);
}

bool RingPolicy::on_put(const Address& dst, Clock::time_point now) {
  auto it = last_.find(dst);
  bool ring = it == last_.end() || now - it->second >= quiet_;
  touch(dst, now);
  return ring;
}

BellWatch::Outcome BellWatch::on_answer(bool changed, const std::string& etag) {
  Outcome o;
  if (changed && !etag_.empty() && etag == etag_) { // 200 with the same ETag: If-None-Match was ignored
    o.conditional_ignored = conditional_;
    conditional_ = false;
  } else if (changed) {
    o.result = BellCheck::rang;
  }
  etag_ = etag;
  return o;
}

BellWatch::Outcome BellWatch::on_error(const s3::Error& e) {
  Outcome o;
  auto fault = classify_s3_error(e, true);
  if (fault == S3Fault::missing || fault == S3Fault::too_large) {
    // No bell yet (nobody rang since the bucket was made), or junk too large to read: that it is there
    // and unread changes nothing; a real ring replaces it (and a bell we knew that became junk rang).
    if (fault == S3Fault::too_large && !etag_.empty()) o.result = BellCheck::rang;
    etag_.clear();
    return o;
  }
  o.result = BellCheck::failed;
  o.report = true;
  return o;
}

void RingPolicy::on_heard(const Address& src, Clock::time_point now) { touch(src, now); }

} // namespace hoshino::core

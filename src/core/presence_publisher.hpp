#pragma once
// When this node writes and removes its presence record (core/presence.hpp), as a state machine: the
// first write at startup (a refusal there is a startup error), a rewrite every `refresh`, a retry
// `retry` after a failed write, and on a key rotation the new record first and then the old ones removed
// (a peer listing in between sees the node under one key or the other, never under none). One request
// at a time; the node's presence shell carries out what next() says on the heartbeat's beats.
#include "util/clock.hpp"

#include <optional>
#include <string>
#include <vector>

namespace hoshino::core {

struct PresenceTiming {
  std::chrono::nanoseconds refresh = std::chrono::hours(6);
  std::chrono::nanoseconds retry = std::chrono::minutes(1); // after a failure: not long, peers list us by it
};

struct PresenceAction {
  enum class Kind { write, remove };
  Kind kind = Kind::write;
  std::string key;               // write: the record to write
  std::vector<std::string> keys; // remove: the records of this node under keys it no longer holds
};

class PresencePublisher {
public:
  PresencePublisher(PresenceTiming timing, std::string key, Clock::time_point now)
      : timing_(timing), key_(std::move(key)), due_(now) {}

  // What to do now, if anything (marks it under way).
  std::optional<PresenceAction> next(Clock::time_point now);
  void on_written(const std::string& key, bool ok, Clock::time_point now);
  // ok: the removal was answered; the keys it sent are done with, but those S3 refused one by one
  // (`refused`: a policy, Object Lock). Not ok: the request failed. What is left is tried again after
  // `retry`: a record of an old key that stands keeps peers on that key (core/previous_keys.hpp).
  void on_removed(bool ok, const std::vector<std::string>& refused, Clock::time_point now);
  // A new identity key: its record is due at once; the old one goes once it is written.
  void rotate(std::string key, Clock::time_point now);
  // Records of this address under other keys, found at startup (a key replaced while the node was down,
  // a kill during a rotation): removed once the current one is written.
  void add_stale(std::vector<std::string> keys);

  // When next() will have something to do (nullopt: a request is under way).
  std::optional<Clock::time_point> due() const;
  bool published() const noexcept { return published_; }
  const std::string& key() const noexcept { return key_; }
  const std::vector<std::string>& stale() const noexcept { return stale_; }

private:
  PresenceTiming timing_;
  std::string key_;
  Clock::time_point due_;                // the next write of key_
  Clock::time_point remove_due_{};       // the next removal of stale_
  std::vector<std::string> stale_;       // our records under keys we no longer hold
  std::vector<std::string> removing_;    // the part of stale_ a removal under way was sent
  bool published_ = false;               // key_ is written (removing stale_ is safe)
  bool busy_ = false;
};

} // namespace hoshino::core

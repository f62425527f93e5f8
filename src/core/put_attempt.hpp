#pragma once
// One object's PUT, as a state machine (I/O-free; the node's egress shell carries out its actions):
// create-only while the server supports it, a fresh key when someone squatted ours, plain PUTs from the
// first NotImplemented on, and retries with backoff under the S3 error policy (core/s3_errors.hpp).
#include "core/backoff.hpp"
#include "s3/error.hpp"
#include "util/clock.hpp"

namespace hoshino::core {

struct PutAction {
  enum class Kind {
    put,    // PUT the object (create_only: If-None-Match: *)
    rekey,  // the same object under a fresh, never announced key; then on_rekeyed()
    wait,   // until `at`; then on_waited()
    sent,   // the object is in the bucket
    failed, // given up: its packets are dropped
  };
  Kind kind = Kind::put;
  bool create_only = false;
  Clock::time_point at{};
  bool report = false;         // the answer was an S3 failure: count and log it (the node's s3_failed)
  bool squatted = false;       // someone wrote at our key first (counted)
  bool plain_puts_now = false; // the server cannot do conditional PUTs: the node stops asking (said once)
};

class PutAttempt {
public:
  // conditional: the node still believes the server honours If-None-Match on PUT.
  PutAttempt(RetryConfig retry, bool conditional, Clock::time_point now) : retry_(retry, now), conditional_(conditional) {}

  PutAction start() const { return put(); }
  PutAction on_sent() const { return {PutAction::Kind::sent}; }
  PutAction on_error(const s3::Error& e, bool stopping, Clock::time_point now, double random01);
  PutAction on_rekeyed(bool ok); // false: no fresh key could be made
  PutAction on_waited() const { return put(); }

  int attempt() const noexcept { return retry_.attempt(); }
  Clock::time_point first_attempt() const noexcept { return retry_.first(); }

private:
  PutAction put() const { return {PutAction::Kind::put, conditional_}; }
  Retry retry_;
  bool conditional_;
  bool squatted_ = false; // moved to a fresh key once: a second squat is given up
};

} // namespace hoshino::core

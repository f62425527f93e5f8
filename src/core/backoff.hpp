#pragma once
// Retry delays: exponential, capped, with jitter so that nodes retrying after the same S3 hiccup do not
// come back in lockstep ("equal jitter": half the step is fixed, half random).
#include "core/s3_errors.hpp"
#include "util/clock.hpp"

#include <chrono>
#include <optional>

namespace hoshino::core {

struct BackoffConfig {
  std::chrono::nanoseconds initial = std::chrono::milliseconds(50);
  std::chrono::nanoseconds max = std::chrono::seconds(2);
};

// Delay before retry number `attempt` (1 = first retry); `random01` is uniform in [0, 1).
std::chrono::nanoseconds backoff_delay(const BackoffConfig& config, int attempt, double random01);

struct RetryConfig {
  BackoffConfig backoff;
  // No attempt starts later than this after the first (nullopt: no deadline; zero: no retry).
  std::optional<std::chrono::nanoseconds> deadline;
  int max_attempts = 0; // at most this many attempts (0: no bound but the deadline)
};

// The attempts of one S3 request: after each failure, when the next one starts, or that it gives up.
// (A PUT of an object: PutAttempt; a ring: the shell's loop over this.)
class Retry {
public:
  Retry(RetryConfig config, Clock::time_point first) : config_(config), first_(first) {}
  int attempt() const noexcept { return attempt_; } // 1 for the first
  // Attempt attempt() failed with `fault`: the instant the next one starts, or nullopt to give up (not
  // retryable under the S3 error policy, the node is stopping, past the attempts or the deadline).
  std::optional<Clock::time_point> on_failure(S3Fault fault, bool stopping, Clock::time_point now, double random01);
  Clock::time_point first() const noexcept { return first_; }

private:
  RetryConfig config_;
  Clock::time_point first_;
  int attempt_ = 1;
};

} // namespace hoshino::core

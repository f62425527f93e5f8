#pragma once
// Retry delays: exponential, capped, with jitter so that nodes retrying after the same S3 hiccup do not
// come back in lockstep ("equal jitter": half the step is fixed, half random).
#include <chrono>

namespace hoshino::core {

struct BackoffConfig {
  std::chrono::nanoseconds initial = std::chrono::milliseconds(50);
  std::chrono::nanoseconds max = std::chrono::seconds(2);
};

// Delay before retry number `attempt` (1 = first retry); `random01` is uniform in [0, 1).
std::chrono::nanoseconds backoff_delay(const BackoffConfig& config, int attempt, double random01);

} // namespace hoshino::core

#include "core/backoff.hpp"

#include <algorithm>

namespace hoshino::core {

std::chrono::nanoseconds backoff_delay(const BackoffConfig& config, int attempt, double random01) {
  auto step = config.initial;
  for (int i = 1; i < attempt && step < config.max; ++i) step *= 2;
  step = std::min(step, config.max);
  auto half = step / 2;
  return half + std::chrono::nanoseconds(static_cast<long long>(static_cast<double>(half.count()) *
                                                                std::clamp(random01, 0.0, 1.0)));
}

std::optional<Clock::time_point> Retry::on_failure(S3Fault fault, bool stopping, Clock::time_point now,
                                                  double random01) {
  if (!policy_of(fault).retry || stopping) return std::nullopt;
  if (config_.max_attempts > 0 && attempt_ >= config_.max_attempts) return std::nullopt;
  auto at = now + backoff_delay(config_.backoff, attempt_, random01);
  if (config_.deadline && at - first_ > *config_.deadline) return std::nullopt;
  ++attempt_;
  return at;
}

} // namespace hoshino::core

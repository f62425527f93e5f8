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

} // namespace hoshino::core

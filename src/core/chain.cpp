#include "core/chain.hpp"

#include <iterator>

namespace hoshino::core {

KeyChain::KeyChain(bool enabled, std::function<std::uint64_t()> random64, std::size_t max_destinations,
                   std::uint64_t max_ahead_ms)
    : enabled_(enabled), max_destinations_(max_destinations), ulids_(std::move(random64), max_ahead_ms) {}

KeyPick KeyChain::pick(const Address& dst, std::uint64_t now_ms) {
  if (!enabled_) return {ulids_.next(now_ms), std::nullopt, false};
  KeyPick out;
  auto it = links_.find(dst);
  if (it != links_.end() && now_ms >= it->second.made_ms && now_ms - it->second.made_ms < kChainTtlMs) {
    out.id = it->second.next;
    out.announced = true;
  } else {
    out.id = ulids_.next(now_ms);
  }
  Ulid next = ulids_.next(now_ms);
  out.next = next;
  if (it != links_.end()) {
    it->second = {next, now_ms};
    return out;
  }
  if (links_.size() >= max_destinations_) {
    // Bounded: forget expired links first; if all are live, forget them all (those peers fall back to
    // LIST for one object).
    for (auto i = links_.begin(); i != links_.end();)
      i = now_ms - i->second.made_ms >= kChainTtlMs ? links_.erase(i) : std::next(i);
    if (links_.size() >= max_destinations_) links_.clear();
  }
  links_.emplace(dst, Link{next, now_ms});
  return out;
}

} // namespace hoshino::core

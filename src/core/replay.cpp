#include "core/replay.hpp"

#include <algorithm>

namespace hoshino::core {

ReplayWindow::ReplayWindow(ReplayConfig config) : config_(config) {
  if (config_.window == 0) config_.window = 1;
}

bool ReplayWindow::seen(const Address& sender, const Ulid& id) const {
  auto it = senders_.find(sender);
  // After a sender was forgotten while young, its objects up to that time are refused whoever sent them
  // (it may come back under a fresh entry).
  if (id.time_ms() <= forgotten_until_ms_) return true;
  if (it == senders_.end()) return false;
  const Sender& s = it->second;
  if (id <= s.floor) return true;
  return std::binary_search(s.recent.begin(), s.recent.end(), id);
}

ReplayWindow::Sender& ReplayWindow::slot(const Address& sender, std::uint64_t now_ms) {
  if (auto it = senders_.find(sender); it != senders_.end()) return it->second;
  if (senders_.size() >= config_.max_senders) {
    // Forget the sender with the oldest highest ULID. If even that one could still be replayed within
    // the age limit, its time becomes a floor for every unknown sender: possibly a drop, never a
    // second delivery.
    auto oldest = std::min_element(senders_.begin(), senders_.end(), [](const auto& x, const auto& y) {
      return x.second.highest() < y.second.highest();
    });
    std::uint64_t t = oldest->second.highest().time_ms();
    if (t + config_.forget_after_ms >= now_ms) {
      // Never beyond now: forged future ULIDs must not stretch the refusal past the present.
      forgotten_until_ms_ = std::max(forgotten_until_ms_, std::min(t, now_ms));
      ++evicted_live_;
    }
    senders_.erase(oldest); // a change not yet taken is still reported (changed_ keeps its value)
  }
  return senders_[sender];
}

void ReplayWindow::accept(const Address& sender, const Ulid& id, std::uint64_t now_ms) {
  Sender& s = slot(sender, now_ms);
  if (id <= s.floor) return;
  auto pos = std::lower_bound(s.recent.begin(), s.recent.end(), id);
  if (pos != s.recent.end() && *pos == id) return;
  bool highest = pos == s.recent.end();
  s.recent.insert(pos, id);
  if (s.recent.size() > config_.window) {
    s.floor = s.recent.front();
    s.recent.erase(s.recent.begin());
  }
  if (highest) changed_[sender] = id;
}

void ReplayWindow::restore(const Address& sender, const Ulid& highest, std::uint64_t now_ms) {
  Sender& s = slot(sender, now_ms);
  if (s.floor < highest) s.floor = highest;
  std::erase_if(s.recent, [&](const Ulid& u) { return u <= s.floor; });
}

std::vector<ReplayWindow::Highest> ReplayWindow::take_changed() {
  std::vector<Highest> out;
  out.reserve(changed_.size());
  for (const auto& [sender, id] : changed_) out.push_back({sender, id});
  changed_.clear();
  return out;
}

} // namespace hoshino::core

#include "core/presence_publisher.hpp"

#include <algorithm>
#include <utility>

namespace hoshino::core {

std::optional<PresenceAction> PresencePublisher::next(Clock::time_point now) {
  if (busy_) return std::nullopt;
  if (now >= due_) {
    busy_ = true;
    return PresenceAction{PresenceAction::Kind::write, key_, {}};
  }
  // Only once the current record is there: until then the old one is how peers reach us.
  if (published_ && !stale_.empty() && now >= remove_due_) {
    busy_ = true;
    removing_ = stale_; // a rotation meanwhile may add to stale_: only these are answered for
    return PresenceAction{PresenceAction::Kind::remove, {}, stale_};
  }
  return std::nullopt;
}

void PresencePublisher::on_written(const std::string& key, bool ok, Clock::time_point now) {
  busy_ = false;
  if (key != key_) return; // a rotation meanwhile: the new key is due already, this one is stale
  published_ = published_ || ok;
  due_ = now + (ok ? timing_.refresh : timing_.retry);
  if (ok) remove_due_ = now; // what is stale goes now
}

void PresencePublisher::on_removed(bool ok, const std::vector<std::string>& refused, Clock::time_point now) {
  busy_ = false;
  auto contains = [](const std::vector<std::string>& v, const std::string& k) { return std::find(v.begin(), v.end(), k) != v.end(); };
  if (ok) std::erase_if(stale_, [&](const std::string& k) { return contains(removing_, k) && !contains(refused, k); });
  removing_.clear();
  remove_due_ = now + timing_.retry;
}

void PresencePublisher::rotate(std::string key, Clock::time_point now) {
  if (key == key_) return;
  std::string old = std::exchange(key_, std::move(key));
  std::erase(stale_, key_); // rotated back to a key whose record was to go
  add_stale({std::move(old)});
  published_ = false; // the new record is not there yet: keep the old ones until it is
  due_ = now;
}

void PresencePublisher::add_stale(std::vector<std::string> keys) {
  for (auto& k : keys)
    if (k != key_ && std::find(stale_.begin(), stale_.end(), k) == stale_.end()) stale_.push_back(std::move(k));
}

std::optional<Clock::time_point> PresencePublisher::due() const {
  if (busy_) return std::nullopt;
  if (published_ && !stale_.empty()) return std::min(due_, remove_due_);
  return due_;
}

} // namespace hoshino::core

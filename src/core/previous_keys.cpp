#include "core/previous_keys.hpp"

#include <algorithm>

namespace hoshino::core {

void PreviousKeys::add(const KeyPair& old, std::string record, Clock::time_point now) {
  forget_expired(now);
  std::erase_if(keys_, [&](const Previous& p) { return p.key.public_key == old.public_key; }); // rotated back
  if (keys_.size() >= max_keys_) {
    keys_.pop_front();
    ++dropped_;
  }
  keys_.push_back({old, std::move(record), true, now + overlap_});
}

void PreviousKeys::on_standing(const std::vector<std::string>& standing, Clock::time_point now) {
  for (auto& p : keys_) {
    const bool stands = std::find(standing.begin(), standing.end(), p.record) != standing.end();
    if (p.standing && !stands) p.until = now + overlap_; // peers that list now see the newer key alone
    p.standing = stands;
  }
  forget_expired(now);
}

const KeyPair* PreviousKeys::sealing() const {
  for (const auto& p : keys_)
    if (p.standing) return &p.key;
  return nullptr;
}

const KeyPair* PreviousKeys::receiving(KeyId id, Clock::time_point now) const {
  for (const auto& p : keys_)
    if (key_id(p.key.public_key) == id && (p.standing || now < p.until)) return &p.key;
  return nullptr;
}

void PreviousKeys::forget_expired(Clock::time_point now) {
  std::erase_if(keys_, [&](const Previous& p) { return !p.standing && now >= p.until; });
}

} // namespace hoshino::core

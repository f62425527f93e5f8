#include "core/peer_stats.hpp"

#include <algorithm>

namespace hoshino::core {

PeerStats& PeerTable::at(const Address& peer, Clock::time_point now) {
  if (auto it = peers_.find(peer); it != peers_.end()) return it->second;
  if (peers_.size() >= max_peers_ && !peers_.empty()) {
    auto last = [](const PeerStats& s) {
      return std::max(s.last_in.value_or(Clock::time_point{}), s.last_out.value_or(Clock::time_point{}));
    };
    auto quietest = std::min_element(peers_.begin(), peers_.end(),
                                     [&](const auto& a, const auto& b) { return last(a.second) < last(b.second); });
    peers_.erase(quietest);
    ++forgotten_;
  }
  (void)now;
  return peers_[peer];
}

void PeerTable::on_sent(const Address& peer, std::size_t bytes, Clock::time_point started, Clock::time_point now) {
  auto& s = at(peer, now);
  ++s.objects_out;
  s.bytes_out += bytes;
  s.last_out = now;
  if (!s.probe) s.probe = started; // the first object since the last answer starts the clock
}

void PeerTable::on_received(const Address& peer, std::size_t bytes, std::size_t objects, Clock::time_point now) {
  auto& s = at(peer, now);
  s.objects_in += objects;
  s.bytes_in += bytes;
  s.last_in = now;
  if (s.probe) {
    auto sample = now - *s.probe;
    s.rtt = s.rtt ? (*s.rtt * 7 + sample) / 8 : sample;
    s.probe.reset();
  }
}

void PeerTable::on_dropped(const Address& peer, std::size_t packets, Clock::time_point now) {
  at(peer, now).dropped += packets;
}

} // namespace hoshino::core

#include "core/ring.hpp"

#include "core/base64url.hpp"

namespace hoshino::core {

std::string ring_associated(std::string_view bell_key, const Address& ringer, const Ulid& id) {
  return std::string(bell_key) + "/" + ringer.hex() + "/" + id.str();
}

std::string ring_body(std::string_view bell_key, const Ring& ring, const Psk* pair, SealIds ids) {
  std::string body = ring.ringer.str() + " " + ring.id.str();
  if (pair) {
    auto sealed = seal(*pair, ring_associated(bell_key, ring.ringer, ring.id), "", random_nonce(), ids);
    body += " " + base64url_encode(sealed);
  }
  return body;
}

std::optional<Ring> parse_ring(std::string_view body) {
  if (body.size() > 1024) return std::nullopt;
  auto first = body.find(' ');
  if (first == std::string_view::npos) return std::nullopt;
  auto ringer = Address::parse(body.substr(0, first));
  body.remove_prefix(first + 1);
  auto second = body.find(' ');
  auto id = Ulid::parse(body.substr(0, second));
  if (!ringer || !id) return std::nullopt;
  Ring r{*ringer, *id, {}};
  if (second != std::string_view::npos) {
    auto sealed = base64url_decode(body.substr(second + 1));
    if (!sealed) return std::nullopt;
    r.sealed = std::move(*sealed);
  }
  return r;
}

bool RingGuard::take(const Address& ringer, const Ulid& id, std::uint64_t now_ms) {
  const std::uint64_t t = id.time_ms();
  if ((now_ms > t && now_ms - t > max_age_ms_) || t > now_ms + max_future_ms_) return false;
  auto it = latest_.find(ringer);
  if (it != latest_.end()) {
    if (!(it->second < id)) return false; // this ring, or an older one, again
    it->second = id;
    return true;
  }
  if (latest_.size() >= max_ringers_) latest_.erase(latest_.begin()); // bounded (a forgotten ringer's old rings are too old soon)
  latest_.emplace(ringer, id);
  return true;
}

} // namespace hoshino::core

// `hoshino show` (like `wg show`): this node, then each peer.
#include "node/node.hpp"

#include "core/keys.hpp"

#include <fmt/format.h>

namespace hoshino::node {

namespace {

std::string ago(std::optional<Clock::time_point> t, Clock::time_point now) {
  if (!t) return "never";
  auto s = std::chrono::duration_cast<std::chrono::seconds>(now - *t).count();
  if (s < 1) return "just now";
  if (s < 120) return fmt::format("{} s ago", s);
  if (s < 7200) return fmt::format("{} min ago", s / 60);
  return fmt::format("{} h ago", s / 3600);
}

std::string size(std::uint64_t bytes) {
  if (bytes < 10 * 1024) return fmt::format("{} B", bytes);
  if (bytes < 10 * 1024 * 1024) return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024);
  if (bytes < 10ULL * 1024 * 1024 * 1024) return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20));
  return fmt::format("{:.1f} GiB", static_cast<double>(bytes) / (1 << 30));
}

} // namespace

std::string Node::render_show() const {
  auto now = Clock::now();
  std::string out = fmt::format("node: {}\n", config_.self.str());
  if (config_.identity) out += fmt::format("  public key: {}\n", core::key_to_base64(config_.identity->public_key));
  else out += "  public key: (objects not sealed: --no-seal)\n";
  out += fmt::format("  inbox: {}\n  peers known: {}\n", inbox_prefix_, directory_.peers());
  // Peers in address order: those with traffic, then those only known from the directory.
  std::map<core::Address, const core::PeerStats*> rows;
  for (const auto& [a, st] : metrics_.peers.peers()) rows.emplace(a, &st);
  for (const auto& [a, k] : directory_.keys()) rows.try_emplace(a, nullptr);
  for (const auto& [a, st] : rows) {
    out += fmt::format("\npeer: {}", a.str());
    if (auto n = config_.peer_names.find(a); n != config_.peer_names.end() && !n->second.empty())
      out += fmt::format(" ({})", n->second);
    out += "\n";
    if (auto k = directory_.keys().find(a); k != directory_.keys().end() && k->second.current) {
      out += fmt::format("  key: {}… ({})\n", core::fingerprint(*k->second.current),
                         k->second.pinned     ? "pinned"
                         : k->second.restored ? "trusted on first use, in an earlier run"
                                              : "trusted on first use");
      if (k->second.refused && !k->second.pinned)
        out += fmt::format("  listed key {}… REFUSED: not the one trusted before (known_peers)\n",
                           core::fingerprint(*k->second.refused));
    }
    if (!st) continue;
    out += fmt::format("  latest received: {}\n  latest sent: {}\n", ago(st->last_in, now), ago(st->last_out, now));
    out += fmt::format("  transfer: {} received in {} objects, {} sent in {} objects\n", size(st->bytes_in),
                       st->objects_in, size(st->bytes_out), st->objects_out);
    if (st->dropped) out += fmt::format("  dropped: {} packets\n", st->dropped);
    if (st->rtt)
      out += fmt::format("  round trip: {:.1f} ms\n", std::chrono::duration<double, std::milli>(*st->rtt).count());
  }
  return out;
}

} // namespace hoshino::node

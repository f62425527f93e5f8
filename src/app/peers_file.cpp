#include "app/peers_file.hpp"

#include "util/text.hpp"

#include <fmt/core.h>

#include <optional>
#include <set>

namespace hoshino::app {
Result<std::vector<PinnedPeer>, std::string> parse_peers_file(std::string_view text, std::string_view path) {
  std::vector<PinnedPeer> out;
  struct Open {
    std::size_t line = 0;
    std::optional<core::Address> address;
    std::optional<core::PublicKey> key;
    std::string name;
  };
  std::optional<Open> peer;
  std::set<core::Address> seen;
  auto close = [&]() -> std::optional<std::string> {
    if (!peer) return std::nullopt;
    if (!peer->address || !peer->key)
      return fmt::format("{}:{}: [Peer] needs Address and PublicKey", path, peer->line);
    if (!seen.insert(*peer->address).second)
      return fmt::format("{}:{}: {} is pinned twice", path, peer->line, peer->address->str());
    out.push_back({*peer->address, *peer->key, peer->name});
    peer.reset();
    return std::nullopt;
  };
  std::size_t n = 0;
  while (!text.empty()) {
    auto end = text.find('\n');
    std::string_view line = trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    ++n;
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = trim(line.substr(0, hash));
    if (line.empty()) continue;
    if (line == "[Peer]") {
      if (auto e = close()) return *e;
      peer = Open{n};
      continue;
    }
    if (line.front() == '[') return fmt::format("{}:{}: unknown section {} (only [Peer])", path, n, line);
    auto eq = line.find('=');
    if (eq == std::string_view::npos) return fmt::format("{}:{}: expected 'Key = value'", path, n);
    if (!peer) return fmt::format("{}:{}: '{}' outside a [Peer] section", path, n, trim(line.substr(0, eq)));
    std::string_view key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (key == "Address") {
      auto a = core::Address::parse(value);
      if (!a) return fmt::format("{}:{}: Address '{}' is not an IPv6 address", path, n, value);
      peer->address = *a;
    } else if (key == "PublicKey") {
      auto k = core::parse_key(value);
      if (!k) return fmt::format("{}:{}: PublicKey: {}", path, n, k.error());
      peer->key = *k;
    } else if (key == "Name") {
      peer->name = std::string(value);
    } else {
      return fmt::format("{}:{}: unknown key '{}' (Address, PublicKey, Name)", path, n, key);
    }
  }
  if (auto e = close()) return *e;
  return out;
}

} // namespace hoshino::app

#pragma once
// The peers file (--peers-file): peers whose public keys are pinned, in WireGuard's style.
//
//   # comments and blank lines are ignored
//   [Peer]
//   Address = fd5e:59b8:f71d:9a3e:b2b2:b2b2:b2b2:b2b2
//   PublicKey = 2Yx7...=
//   Name = vm-b          (optional, for `hoshino show` and the logs)
//
// Pure parsing: every error names the line.
#include "core/identity.hpp"
#include "core/ipv6.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace hoshino::app {

struct PinnedPeer {
  core::Address address;
  core::PublicKey key{};
  std::string name;
};

// `path` only names the file in errors ("PATH:LINE: ...").
Result<std::vector<PinnedPeer>, std::string> parse_peers_file(std::string_view text, std::string_view path);

} // namespace hoshino::app

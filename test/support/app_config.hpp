#pragma once
// A node configured as the app runs one: the product's defaults (NodeConfig's own), in the /64 fd5e::/64,
// with its identity key and presence record. For the node tests and benchmarks on the simulated S3.
#include "core/identity.hpp"
#include "node/node_config.hpp"

namespace hoshino::test {

inline node::NodeConfig app_config(const core::Address& self, const core::KeyPair& identity) {
  node::NodeConfig c;
  c.prefix = *core::parse_ula_prefix("fd5e::/64");
  c.self = self;
  c.identity = identity;
  c.hostname = "host-" + self.str();
  c.version = "test";
  return c;
}

} // namespace hoshino::test

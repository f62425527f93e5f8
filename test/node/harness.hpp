#pragma once
// What the in-process node tests share (test/node/*_test.cpp): nodes over the in-memory packet devices
// and bucket (test/fakes/), on virtual time (support/virtual_time.hpp), with the configurations they
// start from. Like wireguard-go's device tests: the whole tunnel without root, kernel or network.
#include "core/base64url.hpp"
#include "core/bundle.hpp"
#include "core/keys.hpp"
#include "core/object.hpp"
#include "core/seal.hpp"
#include "fakes/memory_device.hpp"
#include "fakes/memory_store.hpp"
#include "node/node.hpp"
#include "support/packets.hpp"
#include "support/virtual_time.hpp"
#include "util/crypto.hpp"
#include "util/wall_clock.hpp"

#include <asio/co_spawn.hpp>
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hoshino::node_test {

using namespace std::chrono_literals;
using test::addr;
using test::ipv6_packet;
using test::payload_of;
using hoshino::wall_ms;

const core::UlaPrefix kPrefix = *core::parse_ula_prefix("fd5e::/64");
const core::Address kA = addr("fd5e::a");
const core::Address kB = addr("fd5e::b");

inline node::NodeConfig config(const core::Address& self, std::chrono::milliseconds put_deadline = 10s) {
  node::NodeConfig c;
  c.put_deadline = put_deadline;
  c.prefix = kPrefix;
  c.self = self;
  c.key_prefix = "hoshino";
  c.ingress.pace.min = 1ms;
  c.ingress.pace.max = 200ms;
  c.ingress.pace.hold = 100ms;
  c.ingress.pace.error_floor = 20ms;
  // No doorbell: these tests count PUTs and fail chosen ones; the bell has tests of its own (idle_config).
  c.ingress.bell = false;
  c.ring = false;
  // No presence records either (they would be objects in the bucket): tested on their own (presence_config).
  c.presence = false;
  c.flush_timeout = 500ms;
  return c;
}

// Runs the event loop until pred() holds or the (generous, hang-catching) deadline of virtual time
// passes. Every test here runs on virtual time (support/virtual_time.hpp): none waits for the machine.
inline bool run_until(asio::io_context& io, const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
  return test::VirtualTime::current().run_until(io, pred, limit);
}

// One node's run() on the io_context; stop() stops the node and waits until run() has returned.
struct Running {
  Running(asio::io_context& io, node::Node& node) : io(io), node(node) {
    asio::co_spawn(io, node.run(), [this](std::exception_ptr e) {
      done = true;
      if (e) std::rethrow_exception(e);
    });
  }
  void stop() {
    node.stop();
    node_test::run_until(io, [this] { return done; });
  }
  asio::io_context& io;
  node::Node& node;
  bool done = false;
};

// Two nodes sharing one bucket, each with its own device.
struct Pair {
  explicit Pair(std::chrono::milliseconds put_deadline = 10s) : Pair(config(kA, put_deadline), config(kB, put_deadline)) {}
  Pair(node::NodeConfig ca, node::NodeConfig cb) : a(io, dev_a, bucket, std::move(ca)), b(io, dev_b, bucket, std::move(cb)) {}
  asio::io_context io;
  store::MemoryStore bucket{io, 300us};
  device::MemoryDevice dev_a{io}, dev_b{io};
  node::Node a;
  node::Node b;
  int running = 0;

  void start() {
    for (auto* n : {&a, &b}) {
      ++running;
      asio::co_spawn(io, n->run(), [this](std::exception_ptr e) {
        --running;
        if (e) std::rethrow_exception(e);
      });
    }
  }
  bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
    return node_test::run_until(io, pred, limit);
  }
  void stop() {
    a.stop();
    b.stop();
    run_until([this] { return running == 0; });
  }
};

// A backlog in B's inbox: n objects from A, made now, each one packet whose payload is its number.
inline void fill_inbox(store::MemoryStore& bucket, core::UlidGenerator& gen, int n) {
  const auto now = wall_ms();
  for (int i = 0; i < n; ++i)
    bucket.objects()[core::format_key("hoshino", {kB, kA, gen.next(now)})] =
        core::encode_bundle({ipv6_packet(kA, kB, std::to_string(i))});
}

// The bucket's objects but the doorbells (which stay: a ring is rewritten, never deleted).
inline std::map<std::string, core::Bytes> messages(store::MemoryStore& bucket) {
  std::map<std::string, core::Bytes> out;
  for (const auto& [key, body] : bucket.objects())
    if (!key.starts_with("hoshino/bell/")) out.emplace(key, body);
  return out;
}

inline std::vector<std::string> payloads(const std::vector<core::Bytes>& ps) {
  std::vector<std::string> out;
  for (const auto& p : ps) out.push_back(payload_of(p));
  return out;
}

// A fault hook: while `down`, every request fails with `code` (HTTP `status`).
inline std::function<std::optional<s3::Error>(store::OpKind, const std::string&)> outage(const bool& down, long status,
                                                                                   std::string code) {
  return [&down, status, code](store::OpKind, const std::string&) -> std::optional<s3::Error> {
    if (!down) return std::nullopt;
    return store::http_error(status, code);
  };
}

// Captures what the process writes to stderr (the logger's destination) while alive.
struct StderrCapture {
  StderrCapture() : file(std::tmpfile()), saved(::dup(2)) {
    std::fflush(stderr);
    ::dup2(::fileno(file), 2);
  }
  std::string text() {
    std::fflush(stderr);
    std::string out;
    std::rewind(file);
    for (int c; (c = std::fgetc(file)) != EOF;) out.push_back(static_cast<char>(c));
    return out;
  }
  ~StderrCapture() {
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    std::fclose(file);
  }
  std::FILE* file;
  int saved;
};

inline std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

inline node::NodeConfig with_psk(const core::Address& self, std::optional<char> fill) {
  auto c = config(self);
  if (fill) {
    core::Psk k;
    k.fill(static_cast<std::uint8_t>(*fill));
    c.psk = k;
  }
  return c;
}

inline std::string temp_state_dir() {
  char tmpl[] = "/tmp/hoshino-node-state.XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  return tmpl;
}

// Nodes with the default pace and doorbell (they go idle as on a real machine), over the fake bucket.
inline node::NodeConfig idle_config(const core::Address& self) {
  auto c = config(self);
  c.ingress.pace = core::PaceConfig{};
  c.ingress.bell = true;
  c.ring = true;
  return c;
}

inline std::uint64_t requests(const node::Node& n, store::OpKind op) {
  return n.metrics().s3_requests[static_cast<std::size_t>(op)];
}

// A key pair per address, the same for the whole test run (as a node's private.key).
inline const core::KeyPair& identity_of(const core::Address& a) {
  static std::map<core::Address, core::KeyPair> keys;
  auto it = keys.find(a);
  if (it == keys.end()) it = keys.emplace(a, core::generate_key_pair()).first;
  return it->second;
}

inline std::string presence_of(const core::Address& a) { return core::presence_key("hoshino", a, identity_of(a).public_key); }

// As the app runs a node: presence records, and objects sealed per pair of nodes.
inline node::NodeConfig presence_config(const core::Address& self) {
  auto c = config(self);
  c.presence = true;
  c.identity = identity_of(self);
  c.hostname = "host-" + self.str();
  c.version = "test";
  return c;
}

const core::Address kNobody = addr("fd5e::dead");

inline bool is_unreachable_for(const core::Bytes& packet, const core::Address& to) {
  auto h = core::parse_ipv6(packet);
  return h && h->next_header == 58 && h->dst == to && packet.size() > 48 && static_cast<std::uint8_t>(packet[40]) == 1 &&
         static_cast<std::uint8_t>(packet[41]) == 3;
}

inline std::size_t inbox_objects(store::MemoryStore& bucket, const core::Address& dst) {
  std::size_t n = 0;
  auto prefix = core::inbox_prefix("hoshino", dst);
  for (const auto& [key, body] : bucket.objects()) n += key.starts_with(prefix);
  return n;
}

} // namespace hoshino::node_test

// The pace's answer to activity, measured: dropping the beat interval straight to the minimum (the
// default) against halving it, for pings after quiet gaps, with S3 20 and 80 ms away, in virtual time on
// the simulated S3 (test/fakes/memory_store.hpp). Prints a table: ping p50/p90 and requests per ping.
// docs/design.md quotes it where it says why the pace drops.
//
//   pace_ab [--pings N]
#include "core/keys.hpp"
#include "fakes/memory_device.hpp"
#include "fakes/memory_store.hpp"
#include "node/node.hpp"
#include "support/app_config.hpp"
#include "support/packets.hpp"
#include "support/virtual_time.hpp"

#include <asio/co_spawn.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace hoshino;
using namespace std::chrono_literals;

namespace {

struct Result {
  double p50_ms = 0, p90_ms = 0, requests_per_ping = 0;
  int lost = 0;
};

node::NodeConfig config_of(const core::Address& self, bool drop) {
  auto c = test::app_config(self, core::generate_key_pair());
  c.ingress.pace.drop_on_activity = drop;
  return c;
}

Result measure(Clock::duration rtt, Clock::duration gap, bool drop, int pings) {
  test::VirtualTime vt;
  asio::io_context io;
  store::MemoryStore bucket(io);
  const auto a = test::addr("fd5e::a"), b = test::addr("fd5e::b");
  store::DistantStore link_a(bucket, rtt, rtt / 4, 1), link_b(bucket, rtt, rtt / 4, 2);
  device::MemoryDevice dev_a(io, 1024), dev_b(io, 1024);
  node::Node na(io, dev_a, link_a, config_of(a, drop)), nb(io, dev_b, link_b, config_of(b, drop));
  int running = 2;
  for (auto* n : {&na, &nb})
    asio::co_spawn(io, n->run(), [&](std::exception_ptr e) {
      --running;
      if (e) std::rethrow_exception(e);
    });
  dev_b.on_write = [&](const core::Bytes& p) { // B's kernel answers
    dev_b.inject(test::ipv6_packet(b, a, "pong" + test::payload_of(p).substr(4)));
  };
  vt.run_until(io, [] { return false; }, 10s); // presence, then idle
  // One ping to warm the pair up (keys, chains), then quiet, then the measured ones.
  dev_a.inject(test::ipv6_packet(a, b, "ping-warm"));
  vt.run_until(io, [&] { return dev_a.written().size() == 1; }, 30s);
  const auto before = bucket.ledger().total();
  std::vector<double> ms;
  Result r;
  for (int i = 0; i < pings; ++i) {
    vt.run_until(io, [] { return false; }, gap);
    const auto sent = vt.now();
    const auto want = dev_a.written().size() + 1;
    dev_a.inject(test::ipv6_packet(a, b, "ping" + std::to_string(i)));
    if (vt.run_until(io, [&] { return dev_a.written().size() >= want; }, 30s))
      ms.push_back(std::chrono::duration<double, std::milli>(vt.now() - sent).count());
    else
      ++r.lost;
  }
  r.requests_per_ping = static_cast<double>(bucket.ledger().total() - before) / pings;
  std::sort(ms.begin(), ms.end());
  if (!ms.empty()) {
    r.p50_ms = ms[ms.size() / 2];
    r.p90_ms = ms[std::min(ms.size() - 1, ms.size() * 9 / 10)];
  }
  na.stop();
  nb.stop();
  vt.run_until(io, [&] { return running == 0; }, 60s);
  return r;
}

} // namespace

int main(int argc, char** argv) {
  int pings = 40;
  if (argc == 3 && std::string_view(argv[1]) == "--pings") {
    std::string_view v = argv[2];
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), pings);
    if (ec != std::errc() || end != v.data() + v.size() || pings < 1) argc = 0;
  }
  if (argc != 1 && argc != 3) {
    std::fprintf(stderr, "usage: pace_ab [--pings N]\n");
    return 2;
  }
  fmt::print("pace_ab: {} pings per row, each after a quiet gap; S3 round trips of rtt to 1.25 x rtt\n\n", pings);
  fmt::print("| S3 rtt | gap | on activity | ping p50 (ms) | ping p90 (ms) | lost | requests per ping |\n");
  fmt::print("|---:|---:|---|---:|---:|---:|---:|\n");
  for (auto rtt : {20ms, 80ms})
    for (auto gap : {500ms, 1000ms, 3000ms})
      for (bool drop : {true, false}) {
        auto r = measure(rtt, gap, drop, pings);
        fmt::print("| {} ms | {} ms | {} | {:.0f} | {:.0f} | {} | {:.1f} |\n", rtt.count(), gap.count(),
                   drop ? "drop to min (default)" : "halve", r.p50_ms, r.p90_ms, r.lost, r.requests_per_ping);
      }
  return 0;
}

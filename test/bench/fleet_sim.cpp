// What a fleet costs idle, and how hard it leans on one prefix, from the simulated S3 in virtual time
// (test/fakes/memory_store.hpp): N nodes as the app runs them (the product's defaults, presence records,
// identity keys), started within --spread of each other, each --rtt from the bucket, left idle. Prints a
// table: requests by kind, dollars per idle node-day (after the start-up), and the busiest prefix's peak
// requests per second. docs/benchmarks.md has the figures and the command.
//
//   fleet_sim [--nodes N] [--rtt MS] [--minutes M] [--spread S] [--seed K]
#include "core/keys.hpp"
#include "fakes/memory_device.hpp"
#include "fakes/memory_store.hpp"
#include "node/node.hpp"
#include "support/app_config.hpp"
#include "support/virtual_time.hpp"

#include <asio/co_spawn.hpp>
#include <fmt/core.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace hoshino;
using namespace std::chrono_literals;

namespace {

struct Args {
  std::uint64_t nodes = 1000;
  std::uint64_t rtt_ms = 80;
  std::uint64_t minutes = 60;
  std::uint64_t spread_s = 60;
  std::uint64_t seed = 1;
};

bool parse(int argc, char** argv, Args& a) {
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    std::uint64_t* into = flag == "--nodes" ? &a.nodes : flag == "--rtt" ? &a.rtt_ms : flag == "--minutes" ? &a.minutes
                          : flag == "--spread" ? &a.spread_s : flag == "--seed" ? &a.seed : nullptr;
    if (!into || i + 1 >= argc) return false;
    std::string_view v = argv[++i];
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), *into);
    if (ec != std::errc() || end != v.data() + v.size()) return false;
  }
  // The first 10 minutes are the start-up: every node starts within them.
  return a.nodes >= 1 && a.nodes <= 65536 && a.minutes >= 11 && a.spread_s <= 300;
}

core::Address address_of(std::uint64_t i) {
  return *core::Address::parse(fmt::format("fd5e::{:x}:{:x}", (i + 1) >> 16, (i + 1) & 0xffff));
}

} // namespace

int main(int argc, char** argv) {
  Args args;
  if (!parse(argc, argv, args)) {
    std::fprintf(stderr, "usage: fleet_sim [--nodes N (1..65536)] [--rtt MS] [--minutes M (>= 11)] [--spread S (<= 300)] [--seed K]\n");
    return 2;
  }
  test::VirtualTime vt;
  asio::io_context io;
  store::MemoryStore bucket(io);
  bucket.rate_limit = store::RateLimit{3500, 5500}; // S3's per-prefix rates: past them, SlowDown
  struct Member {
    std::unique_ptr<store::DistantStore> link;
    std::unique_ptr<device::MemoryDevice> device;
    std::unique_ptr<node::Node> node;
  };
  std::vector<Member> fleet;
  std::mt19937_64 random(args.seed);
  const auto rtt = std::chrono::milliseconds(args.rtt_ms);
  for (std::uint64_t i = 0; i < args.nodes; ++i) {
    auto c = test::app_config(address_of(i), core::generate_key_pair());
    Member m;
    m.link = std::make_unique<store::DistantStore>(bucket, rtt, rtt / 4, args.seed * 65537 + i);
    m.device = std::make_unique<device::MemoryDevice>(io, 64);
    m.node = std::make_unique<node::Node>(io, *m.device, *m.link, std::move(c));
    fleet.push_back(std::move(m));
  }
  // Started as a scripted launch starts them: within --spread of each other, in no particular order.
  std::uniform_int_distribution<std::uint64_t> when(0, args.spread_s * 1000);
  std::vector<std::uint64_t> start_ms;
  for (std::uint64_t i = 0; i < args.nodes; ++i) start_ms.push_back(when(random));
  std::vector<std::unique_ptr<Timer>> starters;
  int failed = 0;
  for (std::uint64_t i = 0; i < args.nodes; ++i) {
    auto t = std::make_unique<Timer>(io, std::chrono::milliseconds(start_ms[i]));
    t->async_wait([&, i](const std::error_code&) {
      asio::co_spawn(io, fleet[i].node->run(), [&](std::exception_ptr e) { failed += e ? 1 : 0; });
    });
    starters.push_back(std::move(t));
  }
  const auto startup = 10min;
  vt.run_until(io, [] { return false; }, startup);
  const store::Ledger at_start = bucket.ledger();
  const auto start_peak = bucket.peak_prefix_rate();
  const auto start_peak_prefix = bucket.peak_prefix();
  bucket.reset_peak();
  const auto idle = std::chrono::minutes(args.minutes) - startup;
  vt.run_until(io, [] { return false; }, idle);
  const store::Ledger& end = bucket.ledger();

  auto delta = [&](store::OpKind op) { return end.of(op) - at_start.of(op); };
  store::Ledger idle_ledger;
  for (std::size_t k = 0; k < 4; ++k) {
    idle_ledger.requests[k] = end.requests[k] - at_start.requests[k];
    idle_ledger.billed[k] = end.billed[k] - at_start.billed[k];
  }
  const double days = std::chrono::duration<double>(idle).count() / 86400.0;
  const double per_node_day = idle_ledger.dollars() / days / static_cast<double>(args.nodes);
  const double idle_seconds = std::chrono::duration<double>(idle).count();

  fmt::print("fleet_sim: {} nodes, round trips to S3 of {}-{} ms, started within {} s, {} simulated minutes (seed {})\n\n",
             args.nodes, args.rtt_ms, args.rtt_ms + args.rtt_ms / 4, args.spread_s, args.minutes, args.seed);
  fmt::print("| phase | PUT | LIST | GET | DELETE | SlowDown | $ | $ per node-day | busiest prefix, peak req/s |\n");
  fmt::print("|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
  fmt::print("| start-up (first 10 min) | {} | {} | {} | {} | {} | {:.4f} | | `{}` {} |\n", at_start.of(store::OpKind::put),
             at_start.of(store::OpKind::list), at_start.of(store::OpKind::get), at_start.of(store::OpKind::remove),
             at_start.throttled, at_start.dollars(), start_peak_prefix, start_peak);
  fmt::print("| idle ({:.0f} min) | {} | {} | {} | {} | {} | {:.4f} | {:.4f} | `{}` {} |\n", idle_seconds / 60,
             delta(store::OpKind::put), delta(store::OpKind::list), delta(store::OpKind::get), delta(store::OpKind::remove),
             end.throttled - at_start.throttled, idle_ledger.dollars(), per_node_day, bucket.peak_prefix(),
             bucket.peak_prefix_rate());
  fmt::print("\nidle: {:.1f} requests/s for the fleet, {:.3f} per node; S3 takes 5,500 GET and 3,500 PUT a second per "
             "prefix\n", static_cast<double>(idle_ledger.total()) / idle_seconds,
             static_cast<double>(idle_ledger.total()) / idle_seconds / static_cast<double>(args.nodes));
  for (auto& m : fleet) m.node->stop();
  vt.run_until(io, [] { return false; }, 30s);
  if (failed) {
    std::fprintf(stderr, "fleet_sim: %d nodes ended with an error\n", failed);
    return 1;
  }
  return 0;
}

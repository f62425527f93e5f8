#include "app/options.hpp"

#include "core/s3_prices.hpp"
#include "net/metrics_server.hpp"
#include "util/text.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <utility>


namespace hoshino::app {

Result<std::chrono::nanoseconds, std::string> parse_duration(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  std::string number(text.substr(0, i));
  std::string_view unit = text.substr(i);
  double value = 0;
  auto [p, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (number.empty() || ec != std::errc{} || p != number.data() + number.size())
    return "bad duration '" + std::string(text) + "' (e.g. 500ms, 5s)";
  double scale;
  if (unit == "ns") scale = 1;
  else if (unit == "us") scale = 1e3;
  else if (unit == "ms") scale = 1e6;
  else if (unit == "s") scale = 1e9;
  else if (unit == "m") scale = 60e9;
  else return "bad duration '" + std::string(text) + "': unit must be ns, us, ms, s or m";
  double ns = value * scale;
  if (!std::isfinite(ns) || ns > 86400e9) return "duration '" + std::string(text) + "' is too long";
  return std::chrono::nanoseconds(static_cast<long long>(ns));
}

std::string format_duration(std::chrono::nanoseconds d) {
  const auto n = d.count();
  if (n != 0 && n % 1'000'000'000 == 0) return fmt::format("{}s", n / 1'000'000'000);
  if (n % 1'000'000 == 0) return fmt::format("{}ms", n / 1'000'000);
  if (n % 1'000 == 0) return fmt::format("{}us", n / 1'000);
  return fmt::format("{}ns", n);
}

namespace {

using Error = std::optional<std::string>;
using Setter = std::function<Error(Options&, std::string_view value, const std::string& name)>;
using Getter = std::function<std::string(const Options&)>;

// Which commands a flag applies to (the node and `check` share every flag).
enum : unsigned { kNode = 1, kPeers = 2, kShow = 4 };

struct Flag {
  std::string_view name;  // the long flag without "--", and the config file's key
  std::string_view arg;   // what its value is, for --help; empty: a switch
  std::string_view group; // network, s3, security, node, tuning, experiment
  bool common;            // in plain --help (at most 15 flags there)
  unsigned commands;
  std::string help;
  Setter set;
  Getter get;             // the value as the config file spells it ("" unset)
  std::string_view unset = {}; // what an unset value means, for --help ("$AWS_REGION, ... else us-east-1")
  bool in_file = true;    // --help, --version and --config are command-line only
};

// --- flag builders over a field accessor: [](auto& o) -> auto& { return o.x; }

template <class F>
Setter text(F field) {
  return [field](Options& o, std::string_view v, const std::string&) -> Error {
    field(o) = std::string(v);
    return std::nullopt;
  };
}
template <class F>
Getter text_of(F field) {
  return [field](const Options& o) { return std::string(field(o)); };
}

Error parse_number(std::string_view v, std::size_t lo, std::size_t hi, const std::string& name, std::size_t& into) {
  unsigned long long n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc{} || p != v.data() + v.size() || n < lo || n > hi)
    return fmt::format("{} '{}' must be a number from {} to {}", name, v, lo, hi);
  into = static_cast<std::size_t>(n);
  return std::nullopt;
}

template <class F>
Setter number(F field, std::size_t lo, std::size_t hi) {
  return [field, lo, hi](Options& o, std::string_view v, const std::string& name) -> Error {
    std::size_t n = 0;
    if (auto e = parse_number(v, lo, hi, name, n)) return e;
    field(o) = static_cast<std::remove_reference_t<decltype(field(o))>>(n);
    return std::nullopt;
  };
}
template <class F>
Getter number_of(F field) {
  return [field](const Options& o) { return std::to_string(field(o)); };
}

template <class F>
Setter duration(F field, std::chrono::nanoseconds at_most = std::chrono::nanoseconds::max()) {
  return [field, at_most](Options& o, std::string_view v, const std::string& name) -> Error {
    auto d = parse_duration(v);
    if (!d) return name + ": " + d.error();
    if (*d > at_most) return fmt::format("{} '{}' must be at most {}", name, v, format_duration(at_most));
    field(o) = *d;
    return std::nullopt;
  };
}
template <class F>
Getter duration_of(F field) {
  return [field](const Options& o) { return format_duration(field(o)); };
}

// A switch sets field to `on` (a config file says `key = true` or `key = false`).
template <class F>
Setter toggle(F field, bool on) {
  return [field, on](Options& o, std::string_view v, const std::string&) -> Error {
    field(o) = v == "true" ? on : !on;
    return std::nullopt;
  };
}
template <class F>
Getter toggle_of(F field, bool on) {
  return [field, on](const Options& o) { return std::string(field(o) == on ? "true" : "false"); };
}

// What -v and -vv hand the verbose flag's setter (no user spells a value with a NUL in it).
constexpr std::string_view kVerboseMarker[] = {std::string_view("\0+1", 3), std::string_view("\0+2", 3)};

// --- experiment switches (--experiment a,b): A/B runs of scripts/experiment.sh, docs/benchmarks.md

struct Experiment {
  std::string_view name;
  std::string_view help;
  std::function<Error(Options&, std::string_view value)> apply; // value: after "name=" (bundle-packets)
  std::function<std::optional<std::string>(const Options&)> on; // spelled as given, if it is in effect
  std::function<void(Options&)> reset = {}; // back to the default (a command line's list replaces a file's)
};

const std::vector<Experiment>& experiments() {
  static const std::vector<Experiment> table = [] {
    auto flag = [](std::string_view name, std::string_view help, auto field, auto off) {
      return Experiment{name, help,
                        [field, off](Options& o, std::string_view) -> Error {
                          field(o) = off;
                          return std::nullopt;
                        },
                        [field, off, name](const Options& o) -> std::optional<std::string> {
                          if (field(o) == off) return std::string(name);
                          return std::nullopt;
                        },
                        [field](Options& o) {
                          const Options defaults;
                          field(o) = field(defaults);
                        }};
    };
    std::vector<Experiment> t;
    t.push_back({"original-design",
                 "the 2023 original's behaviour, for comparisons: bundle-packets=1, no-inline, no-anticipation, "
                 "no-second-list, no-chain, no-ring, --max-in-flight 256, --beat-min/--beat-max/--beat-busy 500ms, "
                 "--delete-interval 0ms, --ack-hold 0ms, --bell-interval off, --tcp-congestion system (later flags refine it)",
                 [](Options& o, std::string_view) -> Error {
                   // One packet per object, each PUT at once, a fixed 500 ms poll, no reaction to outgoing
                   // traffic, every body fetched with a GET.
                   auto& n = o.node;
                   n.bundler.max_bundle_packets = 1;
                   n.bundler.max_in_flight = 256;
                   n.bundler.ack_hold = std::chrono::milliseconds(0);
                   n.ingress.pace.min = n.ingress.pace.max = n.ingress.pace.busy = std::chrono::milliseconds(500);
                   n.ingress.pace.anticipation = false;
                   n.inline_small = false;
                   n.ingress.pace.second_list = false;
                   n.chain_keys = false;
                   n.ingress.delete_interval = std::chrono::milliseconds(0);
                   n.ingress.bell = false;
                   n.ring = false;
                   o.tcp_congestion = Options::kHostTcpCongestion;
                   return std::nullopt;
                 },
                 [](const Options&) -> std::optional<std::string> { return std::nullopt; }}); // shown expanded
    t.push_back(flag("no-inline", "always write a body, even when the packets fit in the key",
                     [](auto& o) -> auto& { return o.node.inline_small; }, false));
    t.push_back(flag("no-anticipation", "do not poll faster after sending (by default a reply is expected)",
                     [](auto& o) -> auto& { return o.node.ingress.pace.anticipation; }, false));
    t.push_back(flag("no-second-list", "one LIST at a time, also during conversations",
                     [](auto& o) -> auto& { return o.node.ingress.pace.second_list; }, false));
    t.push_back(flag("no-chain",
                     "objects do not announce their successor's key, and the inbox is only ever LISTed (by "
                     "default, awaited objects are polled with GET: 1/12 of the price)",
                     [](auto& o) -> auto& { return o.node.chain_keys; }, false));
    t.push_back(flag("no-ring", "never ring a destination's doorbell (the original design rings nothing)",
                     [](auto& o) -> auto& { return o.node.ring; }, false));
    t.push_back({"bundle-packets=N", "at most N packets per object, 1-65535 (1: no bundling)",
                 [](Options& o, std::string_view v) -> Error {
                   return parse_number(v, 1, 65535, "--experiment bundle-packets", o.node.bundler.max_bundle_packets);
                 },
                 [](const Options& o) -> std::optional<std::string> {
                   if (o.node.bundler.max_bundle_packets == core::BundlerConfig{}.max_bundle_packets) return std::nullopt;
                   return fmt::format("bundle-packets={}", o.node.bundler.max_bundle_packets);
                 },
                 [](Options& o) { o.node.bundler.max_bundle_packets = core::BundlerConfig{}.max_bundle_packets; }});
    return t;
  }();
  return table;
}

// Switches whose A/B runs lost, removed with the reason the numbers gave (docs/benchmarks.md, "Retired
// experiments"): naming one is an error that says so, not "unknown".
struct Retired {
  std::string_view name;
  std::string_view why;
};
constexpr Retired kRetired[] = {
    {"unpaced-stream-polls", "polling a stream's next key back to back made 64% more misses and ~5% more $/GB"},
    {"unpaced-conversation-polls", "polling a conversation's next key back to back made 34-76% more GETs and "
                                   "slower pings"},
    {"paced-conversations", "backing a reply's polls off to 10 ms made pings 57% slower (15.2 against 9.7 ms)"},
};

std::string experiment_names() {
  std::string out;
  for (const auto& e : experiments()) out += (out.empty() ? "" : ", ") + std::string(e.name);
  return out;
}

Error set_experiments(Options& o, std::string_view list, const std::string& name) {
  for (std::size_t at = 0; at <= list.size();) {
    auto comma = list.find(',', at);
    std::string_view item = trim(list.substr(at, comma == std::string_view::npos ? std::string_view::npos : comma - at));
    auto eq = item.find('=');
    std::string_view key = item.substr(0, eq);
    const Experiment* found = nullptr;
    for (const auto& e : experiments()) {
      auto e_key = e.name.substr(0, e.name.find('='));
      bool takes_value = e_key.size() != e.name.size();
      if (e_key == key && takes_value == (eq != std::string_view::npos)) found = &e;
    }
    for (const auto& r : kRetired)
      if (!found && r.name == key)
        return fmt::format("{} '{}': retired ({}; docs/benchmarks.md, \"Retired experiments\")", name, item, r.why);
    if (!found) return fmt::format("{} '{}': unknown (one of: {})", name, item, experiment_names());
    if (auto e = found->apply(o, eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1))) return e;
    if (comma == std::string_view::npos) break;
    at = comma + 1;
  }
  return std::nullopt;
}

std::string experiments_of(const Options& o) {
  std::string out;
  for (const auto& e : experiments())
    if (auto on = e.on(o)) out += (out.empty() ? "" : ",") + *on;
  return out;
}

// --- the table: the order of --help and of `hoshino check`

const std::vector<Flag>& flags() {
  static const std::vector<Flag> table = [] {
    std::vector<Flag> t;
    // Network
    t.push_back({"ula", "PREFIX/64", "network", true, kNode,
                 "unique local /64 (fc00::/7) shared by the nodes (required); this node's address is the prefix "
                 "with the first 16 hex digits of the machine-id",
                 text([](auto& o) -> auto& { return o.ula; }), text_of([](auto& o) -> auto& { return o.ula; })});
    t.push_back({"tun", "NAME", "network", true, kNode, "interface name",
                 text([](auto& o) -> auto& { return o.tun; }), text_of([](auto& o) -> auto& { return o.tun; })});
    // A number flag's bounds: one pair, for the setter and for --help.
    auto range = [](std::size_t lo, std::size_t hi) { return fmt::format("{}-{}", lo, hi); };
    constexpr std::size_t kMtu[] = {1280, 65535};
    t.push_back({"mtu", "N", "network", true, kNode, "interface MTU, " + range(kMtu[0], kMtu[1]),
                 number([](auto& o) -> auto& { return o.mtu; }, kMtu[0], kMtu[1]),
                 number_of([](auto& o) -> auto& { return o.mtu; })});
    t.push_back({"tcp-congestion", "NAME", "network", false, kNode,
                 "TCP congestion control for connections through the tunnel (set on its route, as `ip route "
                 "... congctl NAME`): an algorithm of this kernel (loaded ones are listed in /proc/sys/net/ipv4/"
                 "tcp_available_congestion_control; others load on demand), or system for the host's default",
                 [](Options& o, std::string_view v, const std::string& name) -> Error {
                   // The kernel's names as its modules spell them: lower-case letters, digits and '_', at
                   // most 15 (TCP_CA_NAME_MAX 16).
                   bool ok = !v.empty() && v.size() <= 15 &&
                             std::all_of(v.begin(), v.end(), [](char c) {
                               return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                             });
                   if (!ok) return fmt::format("{} '{}' must be a congestion control's name (cubic, bbr, reno, ...) "
                                               "or system", name, v);
                   o.tcp_congestion = std::string(v);
                   return std::nullopt;
                 },
                 text_of([](auto& o) -> auto& { return o.tcp_congestion; })});
    t.push_back({"netns", "NAME", "network", false, kNode,
                 "create the interface under a temporary name, move it into /run/netns/NAME, name it --tun and "
                 "configure it there (nodes started at once, each in its namespace, may share a --tun name); "
                 "hoshino and its S3 connections stay where they started",
                 text([](auto& o) -> auto& { return o.netns; }), text_of([](auto& o) -> auto& { return o.netns; }),
                 "the current namespace"});
    t.push_back({"machine-id", "PATH", "network", false, kNode, "file with 32 hex digits",
                 text([](auto& o) -> auto& { return o.machine_id; }),
                 text_of([](auto& o) -> auto& { return o.machine_id; })});
    // S3
    t.push_back({"bucket", "NAME", "s3", true, kNode | kPeers, "S3 bucket shared by the nodes (required)",
                 text([](auto& o) -> auto& { return o.bucket; }), text_of([](auto& o) -> auto& { return o.bucket; })});
    t.push_back({"endpoint", "URL", "s3", true, kNode | kPeers, "S3 endpoint",
                 text([](auto& o) -> auto& { return o.endpoint; }),
                 text_of([](auto& o) -> auto& { return o.endpoint; }), "$AWS_ENDPOINT_URL, else AWS"});
    t.push_back({"region", "R", "s3", true, kNode | kPeers, "S3 region",
                 text([](auto& o) -> auto& { return o.region; }), text_of([](auto& o) -> auto& { return o.region; }),
                 "$AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1"});
    t.push_back({"key-prefix", "P", "s3", false, kNode | kPeers, "object key prefix in the bucket",
                 text([](auto& o) -> auto& { return o.node.key_prefix; }),
                 text_of([](auto& o) -> auto& { return o.node.key_prefix; })});
    // Security
    t.push_back({"private-key-file", "PATH", "security", true, kNode,
                 "this node's X25519 private key (mode 0600): objects are sealed with a key per pair of nodes; "
                 "peers' public keys come from their presence records (trust on first use) or are pinned",
                 text([](auto& o) -> auto& { return o.private_key_file; }),
                 text_of([](auto& o) -> auto& { return o.private_key_file; }),
                 "<state-dir>/private.key, made on first start"});
    t.push_back({"peers-file", "PATH", "security", true, kNode,
                 "pin peers' public keys: [Peer] sections with Address, PublicKey, Name (or in the config file)",
                 text([](auto& o) -> auto& { return o.peers_file; }),
                 text_of([](auto& o) -> auto& { return o.peers_file; }), "trust on first use"});
    t.push_back({"accept-key-changes", "", "security", false, kNode,
                 "follow a peer whose presence record shows another key than the one this node trusted in an "
                 "earlier run (<state-dir>/known_peers); by default such a key is refused and reported",
                 toggle([](auto& o) -> auto& { return o.node.peers.accept_key_changes; }, true),
                 toggle_of([](auto& o) -> auto& { return o.node.peers.accept_key_changes; }, true)});
    t.push_back({"psk-file", "PATH", "security", true, kNode,
                 "also mix this 32-byte key shared by the nodes into every pair key (as WireGuard's preshared "
                 "key); make with: openssl rand -hex 32 > PATH",
                 text([](auto& o) -> auto& { return o.psk_file; }), text_of([](auto& o) -> auto& { return o.psk_file; }),
                 "none"});
    t.push_back({"no-seal", "", "security", false, kNode,
                 "objects travel unsealed (anyone who can read the bucket reads them; logged at startup)",
                 toggle([](auto& o) -> auto& { return o.seal; }, false),
                 toggle_of([](auto& o) -> auto& { return o.seal; }, false)});
    // Node
    t.push_back({"config", "PATH", "node", true, kNode | kPeers | kShow,
                 "read settings from PATH first: `key = value` lines named after the long flags, `#` comments, "
                 "then [Peer] sections; flags on the command line override it",
                 text([](auto& o) -> auto& { return o.config; }), text_of([](auto& o) -> auto& { return o.config; }),
                 "", false});
    t.push_back({"state-dir", "DIR", "node", true, kNode | kPeers | kShow,
                 "what a restart must remember (the replay window, the key, peers' keys trusted on first use), "
                 "one per node; `hoshino show` finds the node's socket there, `hoshino peers` its known peers",
                 text([](auto& o) -> auto& { return o.state_dir; }),
                 text_of([](auto& o) -> auto& { return o.state_dir; })});
    t.push_back({"metrics", "ADDR:PORT", "node", true, kNode,
                 "Prometheus /metrics endpoint, or \"off\"; if the default port is taken the node runs without "
                 "it (warned), if a given one is taken it does not start",
                 [](Options& o, std::string_view v, const std::string&) -> Error {
                   o.metrics = std::string(v);
                   o.metrics_given = true;
                   return std::nullopt;
                 },
                 text_of([](auto& o) -> auto& { return o.metrics; })});
    t.push_back({"metrics-peers", "", "node", false, kNode,
                 "also per-peer series on /metrics (hoshino_peer_*{peer}: who this node talks to, readable by "
                 "every local user who can reach the port; `hoshino show` has them for root)",
                 toggle([](auto& o) -> auto& { return o.metrics_peers; }, true),
                 toggle_of([](auto& o) -> auto& { return o.metrics_peers; }, true)});
    t.push_back({"verbose", "", "node", true, kNode, "-v: more logging; -vv: debug (config file: verbose = 0-2)",
                 [](Options& o, std::string_view v, const std::string& name) -> Error {
                   if (v == kVerboseMarker[0] || v == kVerboseMarker[1]) { // the command line: -v, -vv
                     o.verbosity = std::min(2, o.verbosity + (v == kVerboseMarker[1] ? 2 : 1));
                     return std::nullopt;
                   }
                   std::size_t n = 0;
                   if (auto e = parse_number(v, 0, 2, name, n)) return e;
                   o.verbosity = static_cast<int>(n);
                   return std::nullopt;
                 },
                 [](const Options& o) { return std::to_string(o.verbosity); }});
    t.push_back({"help", "", "node", true, kNode | kPeers | kShow,
                 "this text; --help TOPIC: network, s3, security, node, tuning, experiment or all",
                 [](Options& o, std::string_view, const std::string&) -> Error {
                   o.help = true;
                   return std::nullopt;
                 },
                 nullptr, "", false});
    t.push_back({"version", "", "node", true, kNode,  "print the version",
                 [](Options& o, std::string_view, const std::string&) -> Error {
                   o.version = true;
                   return std::nullopt;
                 },
                 nullptr, "", false});
    // Tuning: the defaults are what docs/benchmarks.md measures.
    constexpr std::size_t kQueue[] = {65536, std::size_t{1} << 32}, kInFlight[] = {1, 256};
    constexpr std::size_t kTotalQueue[] = {1 << 20, std::size_t{1} << 34}, kTotalInFlight[] = {1, 4096};
    constexpr std::size_t kBundle[] = {1280, 8 << 20};
    t.push_back({"queue-bytes", "N", "tuning", false, kNode,
                 "packets waiting per destination while its PUTs are in flight, " + range(kQueue[0], kQueue[1]) +
                     "; beyond, the oldest are dropped and counted",
                 number([](auto& o) -> auto& { return o.node.bundler.max_queue_bytes; }, kQueue[0], kQueue[1]),
                 number_of([](auto& o) -> auto& { return o.node.bundler.max_queue_bytes; })});
    t.push_back({"max-in-flight", "N", "tuning", false, kNode, "PUTs in flight per destination, " + range(kInFlight[0], kInFlight[1]),
                 number([](auto& o) -> auto& { return o.node.bundler.max_in_flight; }, kInFlight[0], kInFlight[1]),
                 number_of([](auto& o) -> auto& { return o.node.bundler.max_in_flight; })});
    t.push_back({"total-queue-bytes", "N", "tuning", false, kNode,
                 "packets waiting for all destinations together, " + range(kTotalQueue[0], kTotalQueue[1]) +
                     "; beyond, the oldest of the largest queue are dropped",
                 number([](auto& o) -> auto& { return o.node.bundler.max_total_queue_bytes; }, kTotalQueue[0],
                        kTotalQueue[1]),
                 number_of([](auto& o) -> auto& { return o.node.bundler.max_total_queue_bytes; })});
    t.push_back({"total-in-flight", "N", "tuning", false, kNode,
                 "PUTs in flight for all destinations together, " + range(kTotalInFlight[0], kTotalInFlight[1]) +
                     "; destinations then take turns",
                 number([](auto& o) -> auto& { return o.node.bundler.max_total_in_flight; }, kTotalInFlight[0],
                        kTotalInFlight[1]),
                 number_of([](auto& o) -> auto& { return o.node.bundler.max_total_in_flight; })});
    t.push_back({"bundle-bytes", "N", "tuning", false, kNode, "packet bytes per object at most, " + range(kBundle[0], kBundle[1]),
                 number([](auto& o) -> auto& { return o.node.bundler.max_bundle_bytes; }, kBundle[0], kBundle[1]),
                 number_of([](auto& o) -> auto& { return o.node.bundler.max_bundle_bytes; })});
    t.push_back({"beat-min", "D", "tuning", false, kNode, "fastest beat (a look at the inbox: a LIST, or GETs of announced keys); 0ms: back to back while active",
                 duration([](auto& o) -> auto& { return o.node.ingress.pace.min; }),
                 duration_of([](auto& o) -> auto& { return o.node.ingress.pace.min; })});
    t.push_back({"beat-max", "D", "tuning", false, kNode,
                 "slowest beat; idle nodes watch their doorbell instead, unless --bell-interval off",
                 duration([](auto& o) -> auto& { return o.node.ingress.pace.max; }),
                 duration_of([](auto& o) -> auto& { return o.node.ingress.pace.max; })});
    t.push_back({"beat-busy", "D", "tuning", false, kNode, "beat interval while objects arrive continuously",
                 duration([](auto& o) -> auto& { return o.node.ingress.pace.busy; }),
                 duration_of([](auto& o) -> auto& { return o.node.ingress.pace.busy; })});
    t.push_back({"bell-interval", "D", "tuning", false, kNode,
                 [] {
                   // The idle cost of the default, from the default, at S3 Standard's price of a GET.
                   const auto d = core::IngressConfig{}.bell_interval;
                   const auto gets = static_cast<std::uint64_t>(86400.0 / std::chrono::duration<double>(d).count());
                   const double per_day = core::kS3Standard.dollars(0, 0, gets);
                   return fmt::format("an idle node checks its doorbell (one GET) every D: a packet to it waits D/2 "
                                      "on average, and it costs 86400 s/D GETs a day ({}: ${:.4f} a day at S3 "
                                      "Standard prices); off: idle nodes LIST every --beat-max instead (they still "
                                      "ring others' bells)", format_duration(d), per_day);
                 }(),
                 [](Options& o, std::string_view v, const std::string& name) -> Error {
                   if (v == "off") {
                     o.node.ingress.bell = false;
                     return std::nullopt;
                   }
                   auto d = parse_duration(v);
                   if (!d) return name + ": " + d.error();
                   o.node.ingress.bell = true;
                   o.node.ingress.bell_interval = *d;
                   return std::nullopt;
                 },
                 [](const Options& o) {
                   return o.node.ingress.bell ? format_duration(o.node.ingress.bell_interval) : std::string("off");
                 }});
    // Longer holds only delay TCP's clock (its own delayed ACK is 40 ms): bounded.
    constexpr auto kMaxAckHold = std::chrono::milliseconds(100);
    t.push_back({"ack-hold", "D", "tuning", false, kNode,
                 "an object of nothing but TCP ACKs waits D (at most " + format_duration(kMaxAckHold) +
                     ") for more (the ACKs a receiving application's reads send): one PUT and one GET instead "
                     "of two; 0ms: at once",
                 duration([](auto& o) -> auto& { return o.node.bundler.ack_hold; }, kMaxAckHold),
                 duration_of([](auto& o) -> auto& { return o.node.bundler.ack_hold; })});
    t.push_back({"chained-list", "D", "tuning", false, kNode,
                 "while announced keys are polled, LIST only every D, for new senders and broken chains",
                 duration([](auto& o) -> auto& { return o.node.ingress.chained_list_interval; }),
                 duration_of([](auto& o) -> auto& { return o.node.ingress.chained_list_interval; })});
    t.push_back({"delete-interval", "D", "tuning", false, kNode,
                 "at most one DeleteObjects of consumed objects per D (0ms: one as soon as an object is consumed)",
                 duration([](auto& o) -> auto& { return o.node.ingress.delete_interval; }),
                 duration_of([](auto& o) -> auto& { return o.node.ingress.delete_interval; })});
    // Experiment
    t.push_back({"experiment", "NAMES", "experiment", false, kNode,
                 "switches for A/B runs of scripts/experiment.sh, comma-separated (--help experiment lists them)",
                 [](Options& o, std::string_view v, const std::string& name) { return set_experiments(o, v, name); },
                 [](const Options& o) { return experiments_of(o); }, "none"});
    return t;
  }();
  return table;
}

const Flag* find_flag(std::string_view name) {
  for (const auto& f : flags())
    if (f.name == name) return &f;
  return nullptr;
}

// Names that changed (docs/design.md's glossary: a "poll" is the GET of an announced key; the interval
// between looks at the inbox is the beat's). The old ones still work for one release, with a warning.
struct OldName {
  std::string_view old_name, name;
};
constexpr OldName kOldNames[] = {
    {"poll-min", "beat-min"},
    {"poll-max", "beat-max"},
    {"poll-busy", "beat-busy"},
};

// The flag `name` names, under its old name too (then said in o.deprecations, from `where`, with the
// dashes of a command-line flag or none for a config key).
const Flag* find_flag(std::string_view name, Options& o, std::string_view where, std::string_view dashes) {
  if (const Flag* f = find_flag(name)) return f;
  for (const auto& n : kOldNames)
    if (n.old_name == name) {
      o.deprecations.push_back(fmt::format("{}{}{} is deprecated: it is now {}{} (the old name goes in the next "
                                           "release)", where, dashes, n.old_name, dashes, n.name));
      return find_flag(n.name);
    }
  return nullptr;
}

unsigned command_bit(std::string_view command) {
  if (command.empty() || command == "check") return kNode;
  if (command == "peers") return kPeers;
  if (command == "show") return kShow;
  return 0; // genkey, pubkey
}

bool is_command(std::string_view a) {
  return a == "genkey" || a == "pubkey" || a == "peers" || a == "show" || a == "check";
}

constexpr std::string_view kGroups[] = {"network", "s3", "security", "node", "tuning", "experiment"};

bool is_topic(std::string_view a) {
  if (a == "all") return true;
  for (auto g : kGroups)
    if (g == a) return true;
  return false;
}

std::string flags_of_command(unsigned bit) {
  std::string out;
  for (const auto& f : flags())
    if ((f.commands & bit) && f.name != "help") out += (out.empty() ? "--" : ", --") + std::string(f.name);
  return out;
}

// The config file: `key = value` lines, `#` comments, then [Peer] sections (app/peers_file.hpp).
// Where each key of the file was set ("PATH:LINE"), for errors found once everything is read.
using Origins = std::map<std::string, std::string, std::less<>>;

// A comment starts with '#' at the start of a line or after a space or tab, so a value may hold a '#'.
std::string_view strip_comment(std::string_view line) {
  for (std::size_t i = 0; i < line.size(); ++i)
    if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) return line.substr(0, i);
  return line;
}

Error apply_file(Options& o, std::string_view text, const std::string& path, Origins& origins) {
  std::map<std::string, std::size_t, std::less<>> seen;
  std::size_t n = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    auto end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    std::string_view after = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    ++n;
    line = trim(strip_comment(line));
    if (line.empty()) {
      rest = after;
      continue;
    }
    if (line.front() == '[') {
      if (line != "[Peer]") return fmt::format("{}:{}: unknown section '{}' (only [Peer], after the settings)", path, n, line);
      // The peers parser numbers lines from the file's start: the lines before this one, kept blank.
      std::string peers_text(n - 1, '\n');
      peers_text.append(rest);
      auto peers = parse_peers_file(peers_text, path);
      if (!peers) return std::move(peers).error();
      o.peers = std::move(peers).value();
      return std::nullopt;
    }
    auto eq = line.find('=');
    if (eq == std::string_view::npos) return fmt::format("{}:{}: expected `key = value`", path, n);
    std::string key(trim(line.substr(0, eq)));
    std::string_view value = trim(line.substr(eq + 1));
    const Flag* f = find_flag(key, o, fmt::format("{}:{}: ", path, n), "");
    if (!f || !f->in_file) return fmt::format("{}:{}: unknown key '{}'", path, n, key);
    key = f->name; // an old name: the key it is now
    if (auto [it, fresh] = seen.emplace(key, n); !fresh)
      return fmt::format("{}:{}: {} is set twice (first on line {})", path, n, key, it->second);
    if (value.empty()) return fmt::format("{}:{}: {} needs a value", path, n, key);
    if (f->arg.empty() && f->name != "verbose" && value != "true" && value != "false")
      return fmt::format("{}:{}: {} must be true or false", path, n, key);
    if (auto e = f->set(o, value, key)) return fmt::format("{}:{}: {}", path, n, *e);
    origins[key] = fmt::format("{}:{}", path, n);
    rest = after;
  }
  return std::nullopt;
}

// A setting that is wrong, and the key it is about (so that the file's line can be named).
struct Problem {
  std::vector<std::string> keys; // the first of them that the file set names the line
  std::string message;
};

// Settings that must agree with each other, whether from the file or the command line.
std::optional<Problem> check_node(const Options& o) {
  const auto& in = o.node.ingress;
  if (o.ula.empty()) return Problem{{"ula"}, "--ula is required (e.g. --ula fd5e:59b8:f71d:9a3e::/64)"};
  if (in.pace.max < in.pace.min) return Problem{{"beat-max", "beat-min"}, "--beat-max must not be below --beat-min"};
  if (in.bell && in.bell_interval < std::chrono::milliseconds(100))
    return Problem{{"bell-interval"}, "--bell-interval must be at least 100ms (each check is a paid GET)"};
  // A node goes idle when its pace slows to the bell interval: a fast pace at or above it would watch
  // the bell in the middle of a conversation, where nobody rings.
  if (in.bell && (in.pace.min >= in.bell_interval || in.pace.busy >= in.bell_interval))
    return Problem{{"beat-min", "beat-busy", "bell-interval"},
                   "--beat-min and --beat-busy must be below --bell-interval (or --bell-interval off)"};
  if (!o.seal && !o.psk_file.empty())
    return Problem{{"no-seal", "psk-file"}, "--no-seal and --psk-file contradict each other (the PSK is mixed into sealing keys)"};
  if (!o.seal && (!o.peers_file.empty() || !o.peers.empty()))
    return Problem{{"no-seal", "peers-file"}, "--no-seal and pinned peers contradict each other (pinned keys are for sealing)"};
  return std::nullopt;
}

// Values a node judges at startup (exit 1 from the command line, as before): from the file, judged here,
// so that the error names its line.
std::optional<Problem> check_file_values(const Options& o, const Origins& origins) {
  if (origins.count("ula"))
    if (auto prefix = core::parse_ula_prefix(o.ula); !prefix) return Problem{{"ula"}, prefix.error()};
  if (origins.count("metrics") && o.metrics != "off" && !net::parse_metrics_address(o.metrics))
    return Problem{{"metrics"}, "metrics '" + o.metrics + "' must be ADDR:PORT (an IP address) or off"};
  return std::nullopt;
}

// Flags that became something else: said so, instead of a bare "unknown option".
std::string_view renamed(std::string_view flag) {
  if (flag == "--no-bell") return "--bell-interval off";
  if (flag == "--original-design") return "--experiment original-design";
  if (flag == "--no-inline") return "--experiment no-inline";
  if (flag == "--no-anticipation") return "--experiment no-anticipation";
  if (flag == "--no-second-list") return "--experiment no-second-list";
  if (flag == "--no-chain") return "--experiment no-chain";
  if (flag == "--bundle-packets") return "--experiment bundle-packets=N";
  return {};
}

std::string wrap(std::string_view text, std::size_t indent, std::size_t width) {
  std::string out, line;
  std::size_t at = 0;
  while (at < text.size()) {
    auto space = text.find(' ', at);
    std::string_view word = text.substr(at, space == std::string_view::npos ? std::string_view::npos : space - at);
    if (!line.empty() && indent + line.size() + 1 + word.size() > width) {
      out += line + "\n" + std::string(indent, ' ');
      line.clear();
    }
    line += (line.empty() ? "" : " ") + std::string(word);
    if (space == std::string_view::npos) break;
    at = space + 1;
  }
  return out + line;
}

std::string fallback_of(const Flag& f) {
  if (!f.get) return "";
  const Options defaults;
  std::string v = f.get(defaults);
  if (!f.unset.empty() && v.empty()) return std::string(f.unset);
  if (!f.arg.empty()) return v;
  return ""; // switches: off unless given
}

std::string flag_line(const Flag& f) {
  std::string head = "  --" + std::string(f.name) + (f.arg.empty() ? "" : " " + std::string(f.arg));
  if (f.name == "verbose") head = "  -v, --verbose";
  if (f.name == "help") head = "  --help [TOPIC]";
  std::string text(f.help);
  if (auto d = fallback_of(f); !d.empty()) text += " (default: " + d + ")";
  constexpr std::size_t kColumn = 25;
  std::string out = head.size() + 1 < kColumn ? head + std::string(kColumn - head.size(), ' ') : head + "\n" + std::string(kColumn, ' ');
  return out + wrap(text, kColumn, 104) + "\n";
}

std::string group_title(std::string_view g) {
  if (g == "network") return "Network";
  if (g == "s3") return "S3";
  if (g == "security") return "Security";
  if (g == "node") return "Node";
  if (g == "tuning") return "Tuning (the defaults are what docs/benchmarks.md measures)";
  return "Experiment switches (for A/B runs; docs/benchmarks.md)";
}

std::string group_help(std::string_view g, unsigned bit, bool common_only) {
  std::string out;
  for (const auto& f : flags())
    if (f.group == g && (f.commands & bit) && (!common_only || f.common)) out += flag_line(f);
  if (g == "experiment" && !common_only && (bit & kNode)) {
    for (const auto& e : experiments()) {
      std::string head = "    " + std::string(e.name);
      out += head + std::string(head.size() + 1 < 25 ? 25 - head.size() : 1, ' ') + wrap(e.help, 25, 104) + "\n";
    }
  }
  return out.empty() ? out : group_title(g) + ":\n" + out;
}

constexpr std::string_view kEnvironment = R"(Durations take a unit: ns, us, ms, s, m (e.g. 250ms, 5s).

Environment:
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN   credentials (else the shared file, else
                         the EC2 instance profile through IMDSv2)
  AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials), AWS_PROFILE (default "default")
  AWS_REGION, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL
)";

} // namespace

std::string usage(std::string_view command, std::string_view topic) {
  if (command == "genkey") return "usage: hoshino genkey > private.key\n\nPrints a new X25519 private key (base64, as `wg genkey`).\n";
  if (command == "pubkey") return "usage: hoshino pubkey < private.key\n\nReads a private key on stdin, prints its public key (as `wg pubkey`).\n";
  std::string out;
  const unsigned bit = command_bit(command);
  if (command == "peers")
    out = "usage: hoshino peers --bucket NAME [options]\n\nLists the nodes' presence records in the bucket: address, "
          "public key, hostname, version, start time.\n\n";
  else if (command == "show")
    out = "usage: hoshino show [--state-dir DIR | --config PATH]\n\nThe running node and its peers, as `wg show` "
          "(root: it asks the node's\ncontrol socket in its state directory).\n\n";
  else if (command == "check")
    out = "usage: hoshino check [--config PATH] [options]\n\nChecks a node's settings as the node would, and prints "
          "the effective ones in\nconfig file syntax (exit 0), or the first error (exit 2). Takes every flag of the "
          "node.\n\n";
  else if (!topic.empty())
    out = "usage: hoshino [--config PATH] --bucket NAME --ula PREFIX/64 [options]\n\n";
  else
    out = R"(usage: hoshino [--config PATH] --bucket NAME --ula PREFIX/64 [options]    run a node
       hoshino genkey | pubkey | peers | show | check [options]   (hoshino COMMAND --help)

IPv6 over S3: creates a TUN interface with address <ULA /64>:<first 16 hex digits of the machine-id>,
PUTs the packets routed into it into the destination node's inbox in the bucket, and watches its own
inbox to deliver packets sent to it.

)";
  const bool common_only = (command.empty() && topic.empty());
  for (auto g : kGroups) {
    if (!topic.empty() && topic != "all" && topic != g) continue;
    auto part = group_help(g, bit, common_only);
    if (!part.empty()) out += part + "\n";
  }
  if (common_only)
    out += "More flags: hoshino --help network | s3 | security | node | tuning | experiment | all\n\n";
  if (bit & kNode) out += kEnvironment;
  else if (bit & kPeers) // no instance metadata here: peers reads with static credentials
    out += "Environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (else the shared file:\n"
           "  AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE), AWS_REGION, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL\n";
  return out;
}

std::vector<FlagDoc> flag_docs() {
  std::vector<FlagDoc> out;
  for (const auto& f : flags())
    out.push_back({"--" + std::string(f.name), std::string(f.arg), std::string(f.group), fallback_of(f), f.help});
  return out;
}

std::string effective_settings(const Options& o) {
  std::string out = "# hoshino's effective settings (`hoshino check`): every key, defaults included\n";
  std::string_view group;
  for (const auto& f : flags()) {
    if (!f.in_file || !(f.commands & kNode)) continue;
    if (f.group != group) {
      group = f.group;
      out += "\n# " + group_title(group) + "\n";
    }
    std::string v = f.get(o);
    if (v.empty()) out += fmt::format("# {} = ({})\n", f.name, f.unset.empty() ? "unset" : f.unset);
    else out += fmt::format("{} = {}\n", f.name, v);
  }
  for (const auto& p : o.peers) {
    out += fmt::format("\n[Peer]\nAddress = {}\nPublicKey = {}\n", p.address.str(), core::key_to_base64(p.key));
    if (!p.name.empty()) out += "Name = " + p.name + "\n";
  }
  return out;
}

Result<Options, std::string> parse_options(std::span<const std::string_view> args, const ReadFile& read) {
  Options o;
  std::size_t i = 0;
  if (!args.empty() && is_command(args[0])) {
    o.command = std::string(args[0]);
    i = 1;
  }
  const unsigned bit = command_bit(o.command);
  // The command line first, into (flag, value) pairs: --config's file is applied before them.
  struct Given {
    const Flag* flag;
    std::string value;
    std::string spelled;
  };
  std::vector<Given> given;
  for (; i < args.size(); ++i) {
    std::string_view a = args[i];
    std::string_view name, value;
    bool has_value = false;
    if (a == "-v" || a == "-vv") {
      name = "verbose";
      value = kVerboseMarker[a == "-v" ? 0 : 1];
    } else if (a == "-h") {
      name = "help";
    } else if (a.starts_with("--")) {
      name = a.substr(2);
      if (auto eq = name.find('='); eq != std::string_view::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
    }
    const Flag* f = name.empty() ? nullptr : find_flag(name, o, "", "--");
    if (!f || (bit == 0 && f->name != "help")) {
      if (bit == 0) return o.command + " takes no options (" + o.command + " < in > out, as wg does)";
      if (auto now = renamed(a); !now.empty()) return fmt::format("unknown option '{}' (it is now {})", a, now);
      return "unknown option '" + std::string(a) + "'";
    }
    const std::string spelled = "--" + std::string(f->name);
    if (bit != 0 && !(f->commands & bit))
      return fmt::format("{}: {} does not apply (it takes {})", o.command.empty() ? "hoshino" : o.command, spelled,
                         flags_of_command(bit));
    if (f->name == "help") {
      if (has_value) o.help_topic = std::string(value);
      else if (i + 1 < args.size() && is_topic(args[i + 1])) o.help_topic = std::string(args[++i]);
      if (!o.help_topic.empty() && !is_topic(o.help_topic))
        return fmt::format("--help '{}': no such topic (network, s3, security, node, tuning, experiment, all)",
                           o.help_topic);
    } else if (f->name == "verbose") {
      if (!has_value && value.empty()) value = kVerboseMarker[0];
    } else if (!f->arg.empty()) {
      if (!has_value) {
        if (i + 1 >= args.size()) return spelled + " needs a value";
        value = args[++i];
      }
      if (f->name == "config" && value.empty()) return spelled + " needs a value";
    } else if (has_value) {
      if (value != "true" && value != "false") return spelled + " takes true or false (or nothing: true)";
    } else {
      value = "true";
    }
    given.push_back({f, std::string(value), spelled});
  }
  for (const auto& g : given)
    if (g.flag->name == "help" || g.flag->name == "version") (void)g.flag->set(o, g.value, g.spelled);
  if (o.help || o.version) return o;
  for (const auto& g : given)
    if (g.flag->name == "config") o.config = g.value;
  Origins origins;
  if (!o.config.empty()) {
    auto text = read ? read(o.config) : std::nullopt;
    if (!text) return "cannot read " + o.config + " (--config)";
    if (auto e = apply_file(o, *text, o.config, origins)) return *e;
  }
  // The command line overrides the file: a value replaces the file's, and so do -v and --experiment
  // (which would otherwise add to it).
  bool verbose_given = false, experiment_given = false;
  for (const auto& g : given) {
    if (g.flag->name == "verbose" && !std::exchange(verbose_given, true)) o.verbosity = 0;
    if (g.flag->name == "experiment" && !std::exchange(experiment_given, true))
      for (const auto& e : experiments())
        if (e.reset) e.reset(o);
    if (auto e = g.flag->set(o, g.value, g.spelled)) return *e;
    origins.erase(std::string(g.flag->name));
  }
  // An error about a value from the file names its line.
  auto located = [&](const Problem& p) {
    for (const auto& key : p.keys)
      if (auto at = origins.find(key); at != origins.end()) return at->second + ": " + p.message;
    return p.message;
  };

  if (bit == 0 || o.command == "show") return o; // show: only --state-dir matters (where the socket is)
  if (o.bucket.empty()) return std::string("--bucket is required");
  const auto& prefix = o.node.key_prefix;
  if (prefix.empty() || prefix.front() == '/' || prefix.back() == '/')
    return located({{"key-prefix"}, "--key-prefix '" + prefix + "' must be non-empty without leading or trailing '/'"});
  if (o.command == "peers") return o;
  if (auto p = check_node(o)) return located(*p);
  if (auto p = check_file_values(o, origins)) return located(*p);
  return o;
}

} // namespace hoshino::app

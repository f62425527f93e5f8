#pragma once
// hoshino's command line and its config file. One table of flags (options.cpp) parses both, prints
// --help with the defaults of a default-constructed Options (whose node part is node::NodeConfig, the one
// source of every tuning default), and prints the effective settings (`hoshino check`).
// Pure: the config file's text comes through `read`, so every flag, key and error is unit-tested.
#include "app/peers_file.hpp"
#include "node/node_config.hpp"
#include "util/result.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hoshino::app {

struct Options {
  std::string command; // empty: run a node; else genkey, pubkey, peers, show, check
  std::string config;  // --config PATH: read first; the command line overrides it
  // Network
  std::string ula;
  std::string tun = "hoshino0";
  std::size_t mtu = 53049;
  // TCP congestion control of the tunnel's route (`ip route ... congctl`); "system": the host's default.
  // Cubic by default: BBR paces a stream at its bandwidth estimate, so each object holds what trickled
  // in during one PUT; a window-based sender fills it (docs/benchmarks.md, "The tunnel's congestion control").
  std::string tcp_congestion = "cubic";
  static constexpr std::string_view kHostTcpCongestion = "system"; // the value that sets none on the route
  std::string netns;   // empty: stay in the current namespace
  std::string machine_id = "/etc/machine-id";
  // S3
  std::string bucket;
  std::string endpoint; // empty: AWS_ENDPOINT_URL, else AWS
  std::string region;   // empty: AWS_REGION, AWS_DEFAULT_REGION, us-east-1
  // Security
  std::string private_key_file; // empty: <state-dir>/private.key, created on first start
  std::string peers_file;       // empty: peers' keys are trusted on first use (their presence records)
  std::vector<PinnedPeer> peers; // [Peer] sections of the config file (pinned, as the peers file's)
  std::string psk_file;         // empty: none mixed into the pair keys
  bool seal = true;             // --no-seal: objects travel in the clear (logged at startup)
  // Node
  std::string state_dir = "/var/lib/hoshino"; // what outlives a restart (systemd's StateDirectory=)
  std::string metrics = "127.0.0.1:8081";     // or "off"
  bool metrics_given = false; // --metrics said so (command line or file): a taken port is then an error
  bool metrics_peers = false; // per-peer series on /metrics (who this node talks to: any local user can read it)
  int verbosity = 0;
  // The key prefix, tuning and experiment switches, with the core's defaults. app::run fills in the rest.
  node::NodeConfig node;
  bool help = false;
  std::string help_topic; // --help TOPIC: a group of flags, or "all"
  bool version = false;
  // Old names that were given (flags or config keys, still accepted for one release): the program
  // logs these at startup.
  std::vector<std::string> deprecations;
};

// Reads a file whole; nullopt if it cannot be read.
using ReadFile = std::function<std::optional<std::string>(const std::string& path)>;

// "250us", "10ms", "1.5s", "2m"; a bare number is an error (units are required).
Result<std::chrono::nanoseconds, std::string> parse_duration(std::string_view text);
// As parse_duration prints it back: "0ms", "250ms", "1750ms", "5s".
std::string format_duration(std::chrono::nanoseconds d);
// argv without the program name. `read` is asked for --config's file.
Result<Options, std::string> parse_options(std::span<const std::string_view> args, const ReadFile& read = {});
// --help for a command ("" for the node) and a topic ("" for the common flags, a group, or "all").
std::string usage(std::string_view command = "", std::string_view topic = "");
// The settings `o` runs with, as a config file (`hoshino check`): parsing it gives `o` back.
std::string effective_settings(const Options& o);

// What --help says of each flag, for the test that holds docs/operating.md's flag table to it.
struct FlagDoc {
  std::string flag;     // "--beat-max"
  std::string arg;      // "D", or empty for a switch
  std::string group;    // network, s3, security, node, tuning, experiment
  std::string fallback; // the default as --help prints it ("5s"), or empty
  std::string help;     // what it does, as --help says it (without the default)
};
std::vector<FlagDoc> flag_docs();

} // namespace hoshino::app

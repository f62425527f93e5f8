#pragma once
// hoshino's command line. Parsing is pure (no I/O) so every flag and error is unit-tested.
#include "util/result.hpp"

#include <chrono>
#include <span>
#include <string>
#include <string_view>

namespace hoshino::app {

struct Options {
  std::string bucket;
  std::string ula;
  std::string endpoint;  // empty: AWS_ENDPOINT_URL, else AWS
  std::string region;    // empty: AWS_REGION, AWS_DEFAULT_REGION, us-east-1
  std::string tun = "hoshino0";
  std::size_t mtu = 53049;
  std::size_t queue_bytes = 8 << 20; // packets waiting per destination; beyond, the oldest are dropped
  std::size_t max_in_flight = 4;     // PUTs per destination
  std::size_t total_queue_bytes = 64 << 20; // packets waiting, all destinations together
  std::size_t total_in_flight = 64;  // PUTs, all destinations together
  std::size_t bundle_bytes = 2 << 20;
  std::size_t bundle_packets = 65535;
  bool inline_small = true;          // packets that fit in the key travel there
  bool anticipate = true;            // poll fast after sending: a reply is likely
  bool second_list = true;           // a second staggered LIST during conversations
  bool chain_keys = true;            // announce successors' keys; poll announced keys with GET
  bool bell = true;                  // idle nodes watch a doorbell object instead of LISTing
  bool ring = true;                  // ring an idle destination's doorbell (off: the original design)
  bool paced_stream_polls = true;    // off: --experiment unpaced-stream-polls (a stream's polls back to back)
  bool paced_conversations = false;  // on: --experiment paced-conversations (a reply's polls back off)
  std::string netns;     // empty: stay in the current namespace
  std::string machine_id = "/etc/machine-id";
  std::string metrics = "127.0.0.1:8081"; // or "off"
  std::string key_prefix = "hoshino";
  std::string psk_file;  // empty: none mixed into the pair keys
  std::string private_key_file; // empty: <state-dir>/private.key, created on first start
  std::string peers_file; // empty: peers' keys are trusted on first use (their presence records)
  bool seal = true;       // --no-seal: objects travel in the clear (logged at startup)
  std::string state_dir = "/var/lib/hoshino"; // what outlives a restart (systemd's StateDirectory=)
  std::chrono::nanoseconds poll_min = std::chrono::milliseconds(0);
  std::chrono::nanoseconds poll_max = std::chrono::seconds(5);
  std::chrono::nanoseconds poll_busy = std::chrono::milliseconds(0);
  std::chrono::nanoseconds delete_interval = std::chrono::milliseconds(250); // between DeleteObjects
  std::chrono::nanoseconds chained_list = std::chrono::seconds(1); // LIST interval while keys are polled
  std::chrono::nanoseconds bell_interval = std::chrono::milliseconds(1750); // idle: between doorbell checks
  int verbosity = 0;
  bool help = false;
  bool version = false;
  // The subcommand (genkey, pubkey, peers) or empty: run a node.
  std::string command;
};

// "250us", "10ms", "1.5s", "2m"; a bare number is an error (units are required).
Result<std::chrono::nanoseconds, std::string> parse_duration(std::string_view text);
// argv without the program name.
Result<Options, std::string> parse_options(std::span<const std::string_view> args);
std::string usage();

} // namespace hoshino::app

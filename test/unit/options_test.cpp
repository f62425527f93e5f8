#include "app/app.hpp"
#include "app/options.hpp"

#include <catch2/catch.hpp>

#include <fmt/core.h>

#include <fstream>
#include <map>
#include <vector>

using namespace hoshino::app;
using namespace std::chrono_literals;

namespace {
hoshino::Result<Options, std::string> parse(std::vector<std::string_view> args) { return parse_options(args); }
} // namespace

TEST_CASE("Defaults match the documented command line", "[options]") {
  auto o = parse({"--bucket", "b", "--ula", "fd5e::/64"});
  REQUIRE(o);
  CHECK(o->bucket == "b");
  CHECK(o->ula == "fd5e::/64");
  CHECK(o->tun == "hoshino0");
  CHECK(o->mtu == 53049);
  CHECK(o->tcp_congestion == "cubic");
  CHECK(o->netns.empty());
  CHECK(o->machine_id == "/etc/machine-id");
  CHECK(o->metrics == "127.0.0.1:8081");
  CHECK(o->node.key_prefix == "hoshino");
  CHECK(o->node.ingress.pace.min == 0ms);
  CHECK(o->node.ingress.pace.max == 5s);
  CHECK(o->verbosity == 0);
  CHECK(o->node.bundler.max_queue_bytes == 8u << 20);
  CHECK(o->node.bundler.max_in_flight == 4);
  CHECK(o->node.bundler.max_bundle_bytes == 2u << 20);
  CHECK(o->node.bundler.max_bundle_packets == 65535);
  CHECK(o->node.inline_small);
  CHECK(o->node.ingress.pace.anticipation);
}

TEST_CASE("The doorbell: on by default, its interval a duration of at least 100 ms, or off", "[options]") {
  auto defaults = parse({"--bucket", "b", "--ula", "fd5e::/64"});
  REQUIRE(defaults);
  CHECK(defaults->node.ingress.bell);
  CHECK(defaults->node.ingress.bell_interval == 1750ms);
  auto o = parse({"--bucket", "b", "--ula", "fd5e::/64", "--bell-interval", "3s"});
  REQUIRE(o);
  CHECK(o->node.ingress.bell_interval == 3s);
  CHECK(o->node.ingress.bell);
  CHECK_FALSE(parse({"--bucket", "b", "--ula", "fd5e::/64", "--bell-interval", "off"})->node.ingress.bell);
  CHECK(parse({"--bucket", "b", "--ula", "x", "--bell-interval", "50ms"}).error() ==
        "--bell-interval must be at least 100ms (each check is a paid GET)");
  CHECK(parse({"--bucket", "b", "--ula", "x", "--bell-interval", "2"}).error().starts_with("--bell-interval: "));
  CHECK(parse({"--bucket", "b", "--ula", "x", "--beat-min", "2s"}).error() ==
        "--beat-min and --beat-busy must be below --bell-interval (or --bell-interval off)");
  CHECK(parse({"--bucket", "b", "--ula", "x", "--beat-min", "2s", "--bell-interval", "off"}));
}

TEST_CASE("Tuning flags, and the original design's preset for comparisons", "[options]") {
  auto o = parse({"--bucket", "b", "--ula", "fd5e::/64", "--max-in-flight", "2", "--bundle-bytes=65536",
                  "--experiment", "bundle-packets=10,no-inline,no-anticipation,no-second-list",
                  "--delete-interval", "1s", "--experiment=no-chain", "--chained-list", "2s"});
  REQUIRE(o);
  CHECK(o->node.bundler.max_in_flight == 2);
  CHECK(o->node.bundler.max_bundle_bytes == 65536);
  CHECK(o->node.bundler.max_bundle_packets == 10);
  CHECK_FALSE(o->node.inline_small);
  CHECK_FALSE(o->node.ingress.pace.anticipation);
  CHECK_FALSE(o->node.ingress.pace.second_list);
  CHECK(o->node.ingress.delete_interval == 1s);
  CHECK_FALSE(o->node.chain_keys);
  CHECK(o->node.ingress.chained_list_interval == 2s);
  auto defaults = parse({"--bucket", "b", "--ula", "fd5e::/64"});
  CHECK(defaults->node.ingress.delete_interval == 250ms);
  CHECK(defaults->node.chain_keys);
  CHECK(defaults->node.ingress.chained_list_interval == 1s);
  CHECK(defaults->node.bundler.ack_hold == 1ms);
  CHECK(parse({"--bucket", "b", "--ula", "fd5e::/64", "--ack-hold", "0ms"})->node.bundler.ack_hold == 0ms);
  CHECK(parse({"--bucket", "b", "--ula", "fd5e::/64", "--ack-hold", "100ms"})->node.bundler.ack_hold == 100ms);
  CHECK(parse({"--bucket", "b", "--ula", "x", "--ack-hold", "101ms"}).error() ==
        "--ack-hold '101ms' must be at most 100ms");
  CHECK(parse({"--bucket", "b", "--ula", "x", "--chained-list"}).error() == "--chained-list needs a value");
  CHECK(parse({"--bucket", "b", "--ula", "x", "--delete-interval", "5"}).error().starts_with("--delete-interval: "));
  auto orig = parse({"--bucket", "b", "--ula", "fd5e::/64", "--experiment", "original-design"});
  REQUIRE(orig);
  CHECK(orig->node.bundler.max_bundle_packets == 1);
  CHECK(orig->node.ingress.pace.min == 500ms);
  CHECK(orig->node.ingress.pace.max == 500ms);
  CHECK_FALSE(orig->node.ingress.pace.anticipation);
  CHECK_FALSE(orig->node.inline_small);
  CHECK(orig->node.ingress.delete_interval == 0ms);
  CHECK(orig->node.bundler.ack_hold == 0ms);
  CHECK_FALSE(orig->node.chain_keys);
  CHECK_FALSE(orig->node.ingress.bell);
  CHECK_FALSE(orig->node.ring);
  CHECK(orig->tcp_congestion == "system");
  // Later flags refine the preset.
  CHECK(parse({"--bucket", "b", "--ula", "fd5e::/64", "--experiment", "original-design", "--beat-min", "100ms"})->node.ingress.pace.min == 100ms);
  CHECK(parse({"--bucket", "b", "--ula", "x", "--max-in-flight", "0"}).error() ==
        "--max-in-flight '0' must be a number from 1 to 256");
  CHECK_FALSE(parse({"--bucket", "b", "--ula", "x", "--bundle-bytes", "9000000"}));
  CHECK_FALSE(parse({"--bucket", "b", "--ula", "x", "--experiment", "bundle-packets=65536"}));
  CHECK_FALSE(parse({"--bucket", "b", "--ula", "x", "--experiment", "bundle-packets"})); // needs =N
  CHECK_FALSE(parse({"--bucket", "b", "--ula", "x", "--experiment", "no-inline=1"}));
}

TEST_CASE("Every flag, in both spellings", "[options]") {
  auto o = parse({"--bucket=b", "--ula", "fd5e::/64", "--endpoint", "http://127.0.0.1:1", "--region=eu-west-1",
                  "--tun", "t0", "--mtu", "9000", "--netns", "ns1", "--machine-id", "/tmp/m", "--metrics", "off",
                  "--key-prefix", "a/b", "--beat-min", "250us", "--beat-max=1.5s", "-v", "--verbose",
                  "--queue-bytes", "1048576", "--psk-file", "/etc/k"});
  REQUIRE(o);
  CHECK(o->endpoint == "http://127.0.0.1:1");
  CHECK(o->region == "eu-west-1");
  CHECK(o->tun == "t0");
  CHECK(o->mtu == 9000);
  CHECK(o->netns == "ns1");
  CHECK(o->machine_id == "/tmp/m");
  CHECK(o->metrics == "off");
  CHECK(o->node.key_prefix == "a/b");
  CHECK(o->node.ingress.pace.min == 250us);
  CHECK(o->node.ingress.pace.max == 1500ms);
  CHECK(o->verbosity == 2);
  CHECK(o->node.bundler.max_queue_bytes == 1u << 20);
  CHECK(o->psk_file == "/etc/k");
}

TEST_CASE("Help and version need nothing else", "[options]") {
  CHECK(parse({"--help"})->help);
  CHECK(parse({"--version"})->version);
  auto u = usage("", "all");
  for (const char* flag : {"--bucket", "--ula", "--endpoint", "--region", "--tun", "--mtu", "--netns", "--machine-id",
                           "--metrics", "--key-prefix", "--beat-min", "--beat-max", "--verbose", "--version", "--help",
                           "--queue-bytes", "--psk-file", "openssl rand -hex 32", "--max-in-flight",
                           "--bundle-bytes", "bundle-packets=N", "no-inline", "no-anticipation", "--experiment",
                           "original-design", "no-second-list", "--delete-interval", "no-chain", "--chained-list",
                           "--state-dir", "/var/lib/hoshino",
                           "AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_ENDPOINT_URL", "53049", "127.0.0.1:8081"})
    CHECK(u.find(flag) != std::string::npos);
}

TEST_CASE("Bad command lines are clear errors", "[options]") {
  CHECK(parse({"--ula", "fd5e::/64"}).error() == "--bucket is required");
  CHECK(parse({"--bucket", "b"}).error().starts_with("--ula is required"));
  CHECK(parse({"--bucket", "b", "--ula", "fd5e::/64", "--nope"}).error() == "unknown option '--nope'");
  CHECK(parse({"--bucket", "b", "--ula"}).error() == "--ula needs a value");
  CHECK_FALSE(parse({"--bucket", "b", "--ula", "x", "--mtu", "abc"}));
  CHECK(parse({"--bucket", "b", "--ula", "x", "--mtu", "70000"}).error() == "--mtu '70000' must be a number from 1280 to 65535");
  CHECK_FALSE(parse({"--bucket", "b", "--ula", "x", "--beat-min", "1s", "--beat-max", "10ms"}));
  CHECK_FALSE(parse({"--bucket", "b", "--ula", "x", "--key-prefix", "/lead"}));
  CHECK_FALSE(parse({"--bucket", "b", "--ula", "x", "--queue-bytes", "100"}));
  CHECK_FALSE(parse({"--bucket", "b", "--ula", "x", "--queue-bytes", "8M"}));
}

TEST_CASE("--tcp-congestion: a kernel algorithm's name, or system", "[options]") {
  for (const char* name : {"bbr", "reno", "system", "h_tcp1", "abcdefghijklmno"}) {
    auto o = parse({"--bucket", "b", "--ula", "x", "--tcp-congestion", name});
    REQUIRE(o);
    CHECK(o->tcp_congestion == name);
  }
  // Not a name the kernel could have: refused before anything is configured (at most 15 characters, the
  // kernel's limit; no path, space or upper case that a typo or an injection would bring).
  CHECK(parse({"--bucket", "b", "--ula", "x", "--tcp-congestion", "abcdefghijklmnop"}).error() ==
        "--tcp-congestion 'abcdefghijklmnop' must be a congestion control's name (cubic, bbr, reno, ...) or system");
  for (const char* bad : {"", "BBR", "../cubic", "cubic lock", "bbr\n"})
    CHECK_FALSE(parse({"--bucket", "b", "--ula", "x", "--tcp-congestion", bad}));
}

TEST_CASE("Durations", "[options]") {
  CHECK(*parse_duration("0ms") == 0ns);
  CHECK(*parse_duration("10ns") == 10ns);
  CHECK(*parse_duration("1ms") == 1ms);
  CHECK(*parse_duration("5s") == 5s);
  CHECK(*parse_duration("2m") == 120s);
  CHECK(*parse_duration("0.5s") == 500ms);
  CHECK_FALSE(parse_duration("5"));
  CHECK_FALSE(parse_duration("ms"));
  CHECK_FALSE(parse_duration("5h"));
  CHECK_FALSE(parse_duration("-5s"));
  CHECK_FALSE(parse_duration("1e9m"));
}

TEST_CASE("Identity and sealing flags; subcommands", "[options]") {
  auto o = parse({"--bucket", "b", "--ula", "fd5e::/64"});
  REQUIRE(o);
  CHECK(o->seal); // secure by default
  CHECK(o->private_key_file.empty()); // <state-dir>/private.key
  CHECK(o->peers_file.empty());
  CHECK(o->command.empty());
  o = parse({"--bucket", "b", "--ula", "fd5e::/64", "--private-key-file", "/k", "--peers-file=/p", "--psk-file", "/s"});
  REQUIRE(o);
  CHECK(o->private_key_file == "/k");
  CHECK(o->peers_file == "/p");
  CHECK(o->psk_file == "/s");
  o = parse({"--bucket", "b", "--ula", "fd5e::/64", "--no-seal"});
  REQUIRE(o);
  CHECK_FALSE(o->seal);
  CHECK(parse({"--bucket", "b", "--ula", "fd5e::/64", "--no-seal", "--psk-file", "/s"}).error().find("contradict") !=
        std::string::npos);
  CHECK(parse({"--bucket", "b", "--ula", "fd5e::/64", "--no-seal", "--peers-file", "/p"}).error().find("contradict") !=
        std::string::npos);
  CHECK(parse({"genkey"})->command == "genkey");
  CHECK(parse({"pubkey"})->command == "pubkey");
  CHECK(parse({"genkey", "--bucket", "b"}).error().find("takes no options") != std::string::npos);
  auto peers = parse({"peers", "--bucket", "b"});
  REQUIRE(peers);
  CHECK(peers->command == "peers");
  CHECK(parse({"peers"}).error() == "--bucket is required");
  auto show = parse({"show", "--state-dir", "/s"});
  REQUIRE(show);
  CHECK(show->command == "show");
  CHECK(show->state_dir == "/s");
  CHECK(parse({"show"})->state_dir == "/var/lib/hoshino");
  // A subcommand is the first word only.
  CHECK(parse({"--bucket", "b", "--ula", "fd5e::/64", "genkey"}).error() == "unknown option 'genkey'");
}

TEST_CASE("Node-wide bounds: defaults and limits", "[options]") {
  auto o = parse({"--bucket", "b", "--ula", "fd5e::/64"});
  REQUIRE(o);
  CHECK(o->node.bundler.max_total_queue_bytes == 64u << 20);
  CHECK(o->node.bundler.max_total_in_flight == 64);
  o = parse({"--bucket", "b", "--ula", "fd5e::/64", "--total-queue-bytes", "16777216", "--total-in-flight=8"});
  REQUIRE(o);
  CHECK(o->node.bundler.max_total_queue_bytes == 16u << 20);
  CHECK(o->node.bundler.max_total_in_flight == 8);
  CHECK(parse({"--bucket", "b", "--ula", "fd5e::/64", "--total-in-flight", "0"}).error().find("from 1 to 4096") !=
        std::string::npos);
  CHECK(parse({"--bucket", "b", "--ula", "fd5e::/64", "--total-queue-bytes", "1000"}).error().find("must be a number") !=
        std::string::npos);
}

TEST_CASE("Experiment switches; retired ones are refused with the reason", "[options]") {
  auto o = parse({"--bucket", "b", "--ula", "fd5e::/64"});
  REQUIRE(o);
  CHECK(o->node.inbox.stream_gap_ms == 100);
  CHECK(o->node.inbox.conversation_poll_wait_ms == 1);
  o = parse({"--bucket", "b", "--ula", "fd5e::/64", "--experiment", "no-chain,bundle-packets=4"});
  REQUIRE(o);
  CHECK_FALSE(o->node.chain_keys);
  CHECK(o->node.bundler.max_bundle_packets == 4);
  for (const char* retired : {"unpaced-stream-polls", "unpaced-conversation-polls", "paced-conversations"}) {
    auto r = parse({"--bucket", "b", "--ula", "fd5e::/64", "--experiment", retired});
    REQUIRE_FALSE(r);
    CHECK(r.error().starts_with(std::string("--experiment '") + retired + "': retired ("));
    CHECK(r.error().find("docs/benchmarks.md") != std::string::npos);
  }
  CHECK(parse({"--bucket", "b", "--ula", "fd5e::/64", "--experiment", "no-ring,nope"}).error() ==
        "--experiment 'nope': unknown (one of: original-design, no-inline, no-anticipation, no-second-list, "
        "no-chain, no-ring, bundle-packets=N)");
}

namespace {
// A config file's text by path, as main()'s reader would give it.
ReadFile files(std::map<std::string, std::string> contents) {
  return [contents = std::move(contents)](const std::string& path) -> std::optional<std::string> {
    auto it = contents.find(path);
    if (it == contents.end()) return std::nullopt;
    return it->second;
  };
}
hoshino::Result<Options, std::string> parse_with(std::vector<std::string_view> args, const std::string& text) {
  return parse_options(args, files({{"/etc/hoshino/hoshino.conf", text}}));
}
} // namespace

TEST_CASE("A config file: keys named after the long flags, # comments, [Peer] sections", "[options][config]") {
  auto o = parse_with({"--config", "/etc/hoshino/hoshino.conf"}, R"(# hoshino.conf
bucket = my-bucket
ula = fd5e:59b8:f71d:9a3e::/64   # trailing comments too
  psk-file=/etc/hoshino/psk
no-seal = false
beat-max = 2s
bell-interval = off
experiment = no-inline,bundle-packets=4
verbose = 1

[Peer]
Address = fd5e:59b8:f71d:9a3e:b2b2:b2b2:b2b2:b2b2
PublicKey = AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=
Name = vm-b
)");
  REQUIRE(o);
  CHECK(o->bucket == "my-bucket");
  CHECK(o->ula == "fd5e:59b8:f71d:9a3e::/64");
  CHECK(o->psk_file == "/etc/hoshino/psk");
  CHECK(o->seal);
  CHECK(o->node.ingress.pace.max == 2s);
  CHECK_FALSE(o->node.ingress.bell);
  CHECK_FALSE(o->node.inline_small);
  CHECK(o->node.bundler.max_bundle_packets == 4);
  CHECK(o->verbosity == 1);
  REQUIRE(o->peers.size() == 1);
  CHECK(o->peers[0].name == "vm-b");
  CHECK(o->peers[0].address.str() == "fd5e:59b8:f71d:9a3e:b2b2:b2b2:b2b2:b2b2");
}

TEST_CASE("The command line overrides the config file, whatever the order", "[options][config]") {
  const std::string text = "bucket = from-file\nula = fd5e::/64\nbeat-max = 2s\nno-seal = true\n";
  auto o = parse_with({"--beat-max", "3s", "--config", "/etc/hoshino/hoshino.conf", "--bucket=from-flag"}, text);
  REQUIRE(o);
  CHECK(o->bucket == "from-flag");
  CHECK(o->node.ingress.pace.max == 3s);
  CHECK_FALSE(o->seal);
  CHECK(o->ula == "fd5e::/64");
  // A required key may come from either.
  CHECK(parse_with({"--config", "/etc/hoshino/hoshino.conf", "--ula", "fd5e::/64"}, "bucket = b\n"));
  CHECK(parse_with({"--config", "/etc/hoshino/hoshino.conf"}, "ula = fd5e::/64\n").error() == "--bucket is required");
  // Cross-checks judge the result: the file's 2s beat-min, the command line's bell interval.
  CHECK(parse_with({"--config", "/etc/hoshino/hoshino.conf", "--bell-interval", "1s"},
                   "bucket = b\nula = fd5e::/64\nbeat-min = 2s\n").error() ==
        "/etc/hoshino/hoshino.conf:3: --beat-min and --beat-busy must be below --bell-interval (or --bell-interval off)");
}

TEST_CASE("Config file errors name the file and the line", "[options][config]") {
  auto error = [](const std::string& text) {
    auto o = parse_with({"--config", "/etc/hoshino/hoshino.conf"}, text);
    REQUIRE_FALSE(o);
    return o.error();
  };
  const std::string base = "bucket = b\nula = fd5e::/64\n";
  CHECK(error(base + "bukcet = c\n") == "/etc/hoshino/hoshino.conf:3: unknown key 'bukcet'");
  CHECK(error(base + "mtu = 70000\n") == "/etc/hoshino/hoshino.conf:3: mtu '70000' must be a number from 1280 to 65535");
  CHECK(error(base + "beat-max = 5\n").starts_with("/etc/hoshino/hoshino.conf:3: beat-max: bad duration"));
  CHECK(error(base + "just words\n") == "/etc/hoshino/hoshino.conf:3: expected `key = value`");
  CHECK(error(base + "tun =\n") == "/etc/hoshino/hoshino.conf:3: tun needs a value");
  CHECK(error(base + "no-seal = maybe\n") == "/etc/hoshino/hoshino.conf:3: no-seal must be true or false");
  CHECK(error(base + "bucket = again\n") == "/etc/hoshino/hoshino.conf:3: bucket is set twice (first on line 1)");
  CHECK(error(base + "experiment = nope\n").starts_with("/etc/hoshino/hoshino.conf:3: experiment 'nope': unknown"));
  CHECK(error(base + "verbose = 7\n") == "/etc/hoshino/hoshino.conf:3: verbose '7' must be a number from 0 to 2");
  CHECK(error(base + "[Interface]\n") ==
        "/etc/hoshino/hoshino.conf:3: unknown section '[Interface]' (only [Peer], after the settings)");
  CHECK(error(base + "\n[Peer]\nAddress = fd5e::1\n") == "/etc/hoshino/hoshino.conf:4: [Peer] needs Address and PublicKey");
  CHECK(error(base + "[Peer]\nbucket = x\n").starts_with("/etc/hoshino/hoshino.conf:4: "));
  // Command-line-only flags are not keys.
  CHECK(error(base + "config = /other\n") == "/etc/hoshino/hoshino.conf:3: unknown key 'config'");
  CHECK(error(base + "help = true\n") == "/etc/hoshino/hoshino.conf:3: unknown key 'help'");
  CHECK(parse_options(std::vector<std::string_view>{"--config", "/nope"}, files({})).error() ==
        "cannot read /nope (--config)");
  CHECK(parse_options(std::vector<std::string_view>{"--config"}, files({})).error() == "--config needs a value");
}

TEST_CASE("hoshino check: the effective settings read back as the same settings", "[options][config]") {
  auto o = parse_with({"check", "--config", "/etc/hoshino/hoshino.conf", "--experiment", "original-design"},
                      "bucket = b\nula = fd5e::/64\nendpoint = http://127.0.0.1:7480\n[Peer]\n"
                      "Address = fd5e::b2\nPublicKey = AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\n");
  REQUIRE(o);
  CHECK(o->command == "check");
  const auto text = effective_settings(*o);
  CHECK(text.find("\nendpoint = http://127.0.0.1:7480\n") != std::string::npos);
  CHECK(text.find("\nbell-interval = off\n") != std::string::npos);
  CHECK(text.find("\nexperiment = no-inline,no-anticipation,no-second-list,no-chain,no-ring,bundle-packets=1\n") !=
        std::string::npos);
  CHECK(text.find("# region = ($AWS_REGION") != std::string::npos); // unset: what that means
  auto again = parse_with({"--config", "/etc/hoshino/hoshino.conf"}, text);
  REQUIRE(again);
  CHECK(effective_settings(*again) == text);
  CHECK(again->node.ingress.pace.min == 500ms);
  CHECK_FALSE(again->node.ring);
  CHECK(again->peers.size() == 1);
  auto defaults = parse({"check", "--bucket", "b", "--ula", "fd5e::/64"});
  REQUIRE(defaults);
  CHECK(effective_settings(*defaults).find("# experiment = (none)") != std::string::npos);
}

TEST_CASE("--help: at most 15 flags, in groups; the rest by topic", "[options][help]") {
  auto count_flags = [](const std::string& text) {
    std::size_t n = 0, at = 0;
    while ((at = text.find("\n  -", at)) != std::string::npos) ++n, ++at;
    return n;
  };
  auto main_help = usage();
  CHECK(count_flags(main_help) <= 15);
  for (const char* group : {"Network:", "S3:", "Security:", "Node:", "--help network | s3 | security"})
    CHECK(main_help.find(group) != std::string::npos);
  CHECK(main_help.find("--beat-max") == std::string::npos);
  CHECK(usage("", "tuning").find("--beat-max D") != std::string::npos);
  CHECK(usage("", "tuning").find("\n  --bucket") == std::string::npos);
  CHECK(count_flags(usage("", "all")) == flag_docs().size());
  auto o = parse({"--help", "tuning"});
  REQUIRE(o);
  CHECK(o->help_topic == "tuning");
  // Defaults come from the structs that own them, not from a copy in the text.
  CHECK(usage("", "tuning").find(fmt::format("(default: {})", hoshino::core::BundlerConfig{}.max_queue_bytes)) !=
        std::string::npos);
}

TEST_CASE("Subcommands share the parser: each takes its own flags", "[options]") {
  CHECK(parse({"peers", "--help"})->help);
  CHECK(parse({"genkey", "--help"})->help);
  CHECK(usage("peers").find("--key-prefix") != std::string::npos);
  CHECK(usage("peers").find("--tun") == std::string::npos);
  CHECK(usage("show").find("--state-dir") != std::string::npos);
  CHECK(parse({"show", "--bucket", "b"}).error() == "show: --bucket does not apply (it takes --config, --state-dir)");
  CHECK(parse({"peers", "--bucket", "b", "--tun", "t"}).error().starts_with("peers: --tun does not apply"));
  // A config file's node keys are fine for a subcommand: they share the file.
  auto peers = parse_with({"peers", "--config", "/etc/hoshino/hoshino.conf"}, "bucket = b\nula = fd5e::/64\ntun = t\n");
  REQUIRE(peers);
  CHECK(peers->bucket == "b");
  CHECK(parse({"--no-seal=yes", "--bucket", "b", "--ula", "fd5e::/64"}).error() ==
        "--no-seal takes true or false (or nothing: true)");
}

TEST_CASE("docs/operating.md's flag table is --help's", "[options][readme]") {
  std::ifstream in(HOSHINO_SOURCE_ROOT "/docs/operating.md");
  REQUIRE(in);
  // Rows: | `--flag ARG` | `default` or — | group | what |
  std::string readme;
  bool in_table = false; // the table under the header "| flag | default | group | what |"
  for (std::string line; std::getline(in, line);) {
    if (line == "| flag | default | group | what |") in_table = true;
    if (!line.starts_with("|")) in_table = false;
    if (!in_table || !line.starts_with("| `--")) continue;
    auto cells = std::vector<std::string>{};
    for (std::size_t at = 1; at < line.size();) {
      auto bar = line.find(" |", at);
      if (bar == std::string::npos) break;
      std::string cell = line.substr(at, bar - at);
      while (!cell.empty() && cell.front() == ' ') cell.erase(0, 1);
      cells.push_back(cell);
      at = bar + 2;
    }
    REQUIRE(cells.size() >= 4);
    auto strip = [](std::string c) { return c.size() >= 2 && c.front() == '`' ? c.substr(1, c.size() - 2) : c; };
    auto fallback = strip(cells[1]);
    readme += strip(cells[0]) + " | " + (fallback == "—" ? "" : fallback) + " | " + cells[2] + " | " + cells[3] + "\n";
  }
  std::string help; // in --help's order, which the table keeps
  for (const auto& f : flag_docs())
    help += f.flag + (f.arg.empty() ? "" : " " + f.arg) + " | " + f.fallback + " | " + f.group + " | " + f.help + "\n";
  CHECK(readme == help);
}

TEST_CASE("Values judged once everything is read name the file's line", "[options][config]") {
  auto error = [](const std::string& text, std::vector<std::string_view> more = {}) {
    std::vector<std::string_view> args{"--config", "/etc/hoshino/hoshino.conf"};
    args.insert(args.end(), more.begin(), more.end());
    auto o = parse_with(args, text);
    REQUIRE_FALSE(o);
    return o.error();
  };
  CHECK(error("bucket = b\nula = fd5e::/64\nbell-interval = 50ms\n") ==
        "/etc/hoshino/hoshino.conf:3: --bell-interval must be at least 100ms (each check is a paid GET)");
  CHECK(error("bucket = b\nula = fd5e::/64\nbeat-min = 10s\n") == "/etc/hoshino/hoshino.conf:3: --beat-max must not be below --beat-min");
  CHECK(error("bucket = b\nkey-prefix = /x\nula = fd5e::/64\n").starts_with("/etc/hoshino/hoshino.conf:2: --key-prefix"));
  CHECK(error("bucket = b\nula = garbage\n").starts_with("/etc/hoshino/hoshino.conf:2: "));
  CHECK(error("bucket = b\nula = fd5e::/64\nmetrics = nonsense\n") ==
        "/etc/hoshino/hoshino.conf:3: metrics 'nonsense' must be ADDR:PORT (an IP address) or off");
  CHECK(error("bucket = b\nula = fd5e::/64\nmetrics = 127.0.0.1:99999\n").starts_with("/etc/hoshino/hoshino.conf:3: "));
  CHECK(error("bucket = b\nula = fd5e::/64\nverbose = +1\n").starts_with("/etc/hoshino/hoshino.conf:3: verbose"));
  // From the command line the same value is the flag's error, as before (the node judges ULA and metrics).
  CHECK(error("bucket = b\nula = fd5e::/64\n", {"--bell-interval", "50ms"}) ==
        "--bell-interval must be at least 100ms (each check is a paid GET)");
  CHECK(parse_with({"--config", "/etc/hoshino/hoshino.conf", "--metrics", "[::1]:9100"}, "bucket = b\nula = fd5e::/64\n"));
  CHECK(parse_with({"--config", "/etc/hoshino/hoshino.conf"}, "bucket = b\nula = fd5e::/64\nmetrics = [::1]:9100\n"));
}

TEST_CASE("The command line overrides switches, -v and --experiment of the file too", "[options][config]") {
  const std::string text = "bucket = b\nula = fd5e::/64\nno-seal = true\nverbose = 2\nexperiment = no-inline\n";
  auto o = parse_with({"--config", "/etc/hoshino/hoshino.conf", "--no-seal=false", "-v", "--experiment", "no-chain"}, text);
  REQUIRE(o);
  CHECK(o->seal);
  CHECK(o->verbosity == 1);
  CHECK(o->node.inline_small); // the file's list is replaced, not added to
  CHECK_FALSE(o->node.chain_keys);
  auto file_only = parse_with({"--config", "/etc/hoshino/hoshino.conf"}, text);
  REQUIRE(file_only);
  CHECK_FALSE(file_only->seal);
  CHECK(file_only->verbosity == 2);
  CHECK_FALSE(file_only->node.inline_small);
  CHECK(parse({"-v", "-v", "-vv", "check", "--bucket", "b", "--ula", "fd5e::/64"}).error() == "unknown option 'check'");
  auto loud = parse({"check", "-v", "-v", "-vv", "--bucket", "b", "--ula", "fd5e::/64"});
  REQUIRE(loud);
  CHECK(loud->verbosity == 2); // at most debug: `verbose = 2` reads back
  CHECK(parse_with({"--config", "/etc/hoshino/hoshino.conf"}, effective_settings(*loud))->verbosity == 2);
}

TEST_CASE("Config file comments, values with '#', and flags that were renamed", "[options][config]") {
  auto o = parse_with({"--config", "/etc/hoshino/hoshino.conf"},
                      "bucket = b # the bucket\r\nula = fd5e::/64\t# tab first\nkey-prefix = a#b\n#whole line\n");
  REQUIRE(o);
  CHECK(o->bucket == "b");
  CHECK(o->ula == "fd5e::/64");
  CHECK(o->node.key_prefix == "a#b");
  CHECK(parse_with({"--config", "/etc/hoshino/hoshino.conf"}, effective_settings(*o))->node.key_prefix == "a#b");
  CHECK(parse({"--config=", "--bucket", "b"}).error() == "--config needs a value");
  CHECK(parse({"--bucket", "b", "--ula", "fd5e::/64", "--no-bell"}).error() ==
        "unknown option '--no-bell' (it is now --bell-interval off)");
  CHECK(parse({"--bucket", "b", "--ula", "fd5e::/64", "--original-design"}).error() ==
        "unknown option '--original-design' (it is now --experiment original-design)");
  CHECK(parse({"--help=tuning"})->help_topic == "tuning");
  CHECK(parse({"--help=nope"}).error().starts_with("--help 'nope': no such topic"));
  // A directory is not a config file (it would read as an empty one).
  CHECK_FALSE(hoshino::app::read_file("/"));
}

TEST_CASE("Renamed flags and config keys still work for one release, each with a deprecation warning", "[options]") {
  auto o = parse({"--bucket", "b", "--ula", "fd5e::/64", "--poll-min", "5ms", "--poll-max=3s", "--beat-busy", "10ms"});
  REQUIRE(o);
  CHECK(o->node.ingress.pace.min == 5ms);
  CHECK(o->node.ingress.pace.max == 3s);
  CHECK(o->node.ingress.pace.busy == 10ms);
  CHECK(o->deprecations == std::vector<std::string>{
                               "--poll-min is deprecated: it is now --beat-min (the old name goes in the next release)",
                               "--poll-max is deprecated: it is now --beat-max (the old name goes in the next release)"});
  CHECK(parse({"--bucket", "b", "--ula", "fd5e::/64", "--beat-min", "5ms"})->deprecations.empty());
  // In a config file: the line is named, and an old and a new name of one setting are one key set twice.
  auto f = parse_with({"--config", "/etc/hoshino/hoshino.conf"}, "bucket = b\nula = fd5e::/64\npoll-busy = 20ms\n");
  REQUIRE(f);
  CHECK(f->node.ingress.pace.busy == 20ms);
  CHECK(f->deprecations == std::vector<std::string>{"/etc/hoshino/hoshino.conf:3: poll-busy is deprecated: it is now "
                                                    "beat-busy (the old name goes in the next release)"});
  CHECK(parse_with({"--config", "/etc/hoshino/hoshino.conf"}, "bucket = b\nula = fd5e::/64\npoll-max = 2s\nbeat-max = 3s\n")
            .error() == "/etc/hoshino/hoshino.conf:4: beat-max is set twice (first on line 3)");
  // What `hoshino check` writes back uses the new names.
  CHECK(effective_settings(*f).find("beat-busy = 20ms") != std::string::npos);
  CHECK(effective_settings(*f).find("poll-") == std::string::npos);
}

#include "app/options.hpp"

#include <catch2/catch.hpp>

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
  CHECK(o->netns.empty());
  CHECK(o->machine_id == "/etc/machine-id");
  CHECK(o->metrics == "127.0.0.1:8081");
  CHECK(o->key_prefix == "hoshino");
  CHECK(o->poll_min == 0ms);
  CHECK(o->poll_max == 5s);
  CHECK(o->verbosity == 0);
  CHECK(o->queue_bytes == 8u << 20);
  CHECK(o->max_in_flight == 4);
  CHECK(o->bundle_bytes == 2u << 20);
  CHECK(o->bundle_packets == 65535);
  CHECK(o->inline_small);
  CHECK(o->anticipate);
}

TEST_CASE("The doorbell: on by default, its interval a duration of at least 100 ms, or off", "[options]") {
  auto defaults = parse({"--bucket", "b", "--ula", "fd5e::/64"});
  REQUIRE(defaults);
  CHECK(defaults->bell);
  CHECK(defaults->bell_interval == 1750ms);
  auto o = parse({"--bucket", "b", "--ula", "fd5e::/64", "--bell-interval", "3s", "--no-bell"});
  REQUIRE(o);
  CHECK(o->bell_interval == 3s);
  CHECK_FALSE(o->bell);
  CHECK(parse({"--bucket", "b", "--ula", "x", "--bell-interval", "50ms"}).error() ==
        "--bell-interval must be at least 100ms (each check is a paid GET)");
  CHECK(parse({"--bucket", "b", "--ula", "x", "--bell-interval", "2"}).error().starts_with("--bell-interval: "));
  CHECK(parse({"--bucket", "b", "--ula", "x", "--poll-min", "2s"}).error() ==
        "--poll-min and --poll-busy must be below --bell-interval (or use --no-bell)");
  CHECK(parse({"--bucket", "b", "--ula", "x", "--poll-min", "2s", "--no-bell"}));
}

TEST_CASE("Tuning flags, and the original design's preset for comparisons", "[options]") {
  auto o = parse({"--bucket", "b", "--ula", "fd5e::/64", "--max-in-flight", "2", "--bundle-bytes=65536",
                  "--bundle-packets", "10", "--no-inline", "--no-anticipation", "--no-second-list",
                  "--delete-interval", "1s", "--no-chain", "--chained-list", "2s"});
  REQUIRE(o);
  CHECK(o->max_in_flight == 2);
  CHECK(o->bundle_bytes == 65536);
  CHECK(o->bundle_packets == 10);
  CHECK_FALSE(o->inline_small);
  CHECK_FALSE(o->anticipate);
  CHECK_FALSE(o->second_list);
  CHECK(o->delete_interval == 1s);
  CHECK_FALSE(o->chain_keys);
  CHECK(o->chained_list == 2s);
  auto defaults = parse({"--bucket", "b", "--ula", "fd5e::/64"});
  CHECK(defaults->delete_interval == 250ms);
  CHECK(defaults->chain_keys);
  CHECK(defaults->chained_list == 1s);
  CHECK(parse({"--bucket", "b", "--ula", "x", "--chained-list"}).error() == "--chained-list needs a value");
  CHECK(parse({"--bucket", "b", "--ula", "x", "--delete-interval", "5"}).error().starts_with("--delete-interval: "));
  auto orig = parse({"--bucket", "b", "--ula", "fd5e::/64", "--original-design"});
  REQUIRE(orig);
  CHECK(orig->bundle_packets == 1);
  CHECK(orig->poll_min == 500ms);
  CHECK(orig->poll_max == 500ms);
  CHECK_FALSE(orig->anticipate);
  CHECK_FALSE(orig->inline_small);
  CHECK(orig->delete_interval == 0ms);
  CHECK_FALSE(orig->chain_keys);
  CHECK_FALSE(orig->bell);
  CHECK_FALSE(orig->ring);
  // Later flags refine the preset.
  CHECK(parse({"--bucket", "b", "--ula", "fd5e::/64", "--original-design", "--poll-min", "100ms"})->poll_min == 100ms);
  CHECK(parse({"--bucket", "b", "--ula", "x", "--max-in-flight", "0"}).error() ==
        "--max-in-flight '0' must be a number from 1 to 256");
  CHECK_FALSE(parse({"--bucket", "b", "--ula", "x", "--bundle-bytes", "9000000"}));
  CHECK_FALSE(parse({"--bucket", "b", "--ula", "x", "--bundle-packets", "65536"}));
}

TEST_CASE("Every flag, in both spellings", "[options]") {
  auto o = parse({"--bucket=b", "--ula", "fd5e::/64", "--endpoint", "http://127.0.0.1:1", "--region=eu-west-1",
                  "--tun", "t0", "--mtu", "9000", "--netns", "ns1", "--machine-id", "/tmp/m", "--metrics", "off",
                  "--key-prefix", "a/b", "--poll-min", "250us", "--poll-max=1.5s", "-v", "--verbose",
                  "--queue-bytes", "1048576", "--psk-file", "/etc/k"});
  REQUIRE(o);
  CHECK(o->endpoint == "http://127.0.0.1:1");
  CHECK(o->region == "eu-west-1");
  CHECK(o->tun == "t0");
  CHECK(o->mtu == 9000);
  CHECK(o->netns == "ns1");
  CHECK(o->machine_id == "/tmp/m");
  CHECK(o->metrics == "off");
  CHECK(o->key_prefix == "a/b");
  CHECK(o->poll_min == 250us);
  CHECK(o->poll_max == 1500ms);
  CHECK(o->verbosity == 2);
  CHECK(o->queue_bytes == 1u << 20);
  CHECK(o->psk_file == "/etc/k");
}

TEST_CASE("Help and version need nothing else", "[options]") {
  CHECK(parse({"--help"})->help);
  CHECK(parse({"--version"})->version);
  auto u = usage();
  for (const char* flag : {"--bucket", "--ula", "--endpoint", "--region", "--tun", "--mtu", "--netns", "--machine-id",
                           "--metrics", "--key-prefix", "--poll-min", "--poll-max", "--verbose", "--version", "--help",
                           "--queue-bytes", "--psk-file", "openssl rand -hex 32", "--max-in-flight",
                           "--bundle-bytes", "--bundle-packets", "--no-inline", "--no-anticipation",
                           "--original-design", "--no-second-list", "--delete-interval", "--no-chain", "--chained-list",
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
  CHECK_FALSE(parse({"--bucket", "b", "--ula", "x", "--poll-min", "1s", "--poll-max", "10ms"}));
  CHECK_FALSE(parse({"--bucket", "b", "--ula", "x", "--key-prefix", "/lead"}));
  CHECK_FALSE(parse({"--bucket", "b", "--ula", "x", "--queue-bytes", "100"}));
  CHECK_FALSE(parse({"--bucket", "b", "--ula", "x", "--queue-bytes", "8M"}));
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
  CHECK(o->total_queue_bytes == 64u << 20);
  CHECK(o->total_in_flight == 64);
  o = parse({"--bucket", "b", "--ula", "fd5e::/64", "--total-queue-bytes", "16777216", "--total-in-flight=8"});
  REQUIRE(o);
  CHECK(o->total_queue_bytes == 16u << 20);
  CHECK(o->total_in_flight == 8);
  CHECK(parse({"--bucket", "b", "--ula", "fd5e::/64", "--total-in-flight", "0"}).error().find("from 1 to 4096") !=
        std::string::npos);
  CHECK(parse({"--bucket", "b", "--ula", "fd5e::/64", "--total-queue-bytes", "1000"}).error().find("must be a number") !=
        std::string::npos);
}

TEST_CASE("Experiment switches", "[options]") {
  auto o = parse({"--bucket", "b", "--ula", "fd5e::/64"});
  REQUIRE(o);
  CHECK(o->paced_stream_polls);
  o = parse({"--bucket", "b", "--ula", "fd5e::/64", "--experiment", "unpaced-stream-polls"});
  REQUIRE(o);
  CHECK_FALSE(o->paced_stream_polls);
  CHECK_FALSE(o->paced_conversations);
  o = parse({"--bucket", "b", "--ula", "fd5e::/64", "--experiment", "paced-conversations,unpaced-stream-polls"});
  REQUIRE(o);
  CHECK(o->paced_conversations);
  CHECK_FALSE(o->paced_stream_polls);
  CHECK(parse({"--bucket", "b", "--ula", "fd5e::/64", "--experiment", "unpaced-stream-polls,nope"}).error() ==
        "--experiment 'nope': unknown (unpaced-stream-polls, paced-conversations)");
}

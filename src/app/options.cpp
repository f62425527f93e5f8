#include "app/options.hpp"

#include <fmt/core.h>

#include <charconv>
#include <optional>
#include <cmath>

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

std::string usage() {
  return R"(usage: hoshino --bucket NAME --ula PREFIX/64 [options]
       hoshino genkey            print a new private key (base64, as `wg genkey`)
       hoshino pubkey            read a private key on stdin, print its public key
       hoshino peers --bucket NAME [--endpoint URL] [--region R] [--key-prefix P]
                                 list the nodes' presence records in the bucket
       hoshino show [--state-dir DIR]
                                 the running node and its peers, as `wg show` (root)

IPv6 over S3: creates a TUN interface with address <ULA /64>:<first 16 hex digits of the machine-id>,
PUTs the packets routed into it into the destination node's inbox in the bucket, and LISTs/GETs its own
inbox to deliver packets sent to it.

  --bucket NAME          S3 bucket shared by the nodes (required)
  --ula PREFIX/64        unique local /64 (fc00::/7) shared by the nodes (required)
  --endpoint URL         S3 endpoint (default: $AWS_ENDPOINT_URL, else AWS)
  --region R             S3 region (default: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1)
  --tun NAME             interface name (default: hoshino0)
  --mtu N                interface MTU, 1280-65535 (default: 53049)
  --netns NAME           create the interface, then move it into /run/netns/NAME and configure it
                         there; hoshino and its S3 connections stay where they started
  --machine-id PATH      file with 32 hex digits (default: /etc/machine-id)
  --metrics ADDR:PORT    Prometheus /metrics endpoint, or "off" (default: 127.0.0.1:8081)
  --key-prefix P         object key prefix in the bucket (default: hoshino)
  --state-dir DIR        what a restart must remember (the replay window), one per node
                         (default: /var/lib/hoshino)
  --queue-bytes N        packets waiting per destination while its PUTs are in flight; beyond this
                         the oldest are dropped and counted (default: 8388608, 8 MiB)
  --private-key-file P   this node's X25519 private key (default: <state-dir>/private.key, made
                         on first start, mode 0600); objects are sealed with a key per pair of
                         nodes (X25519 + HKDF, ChaCha20-Poly1305), peers' public keys come from
                         their presence records (trusted on first use) or --peers-file
  --peers-file PATH      pin peers' public keys ([Peer] sections: Address, PublicKey, Name)
  --psk-file PATH        also mix this 32-byte key shared by the nodes into every pair key (as
                         WireGuard's preshared key); make with: openssl rand -hex 32 > PATH
  --no-seal              objects travel unsealed (anyone who can read the bucket reads them)
  --poll-min D           fastest inbox LIST interval (default: 0ms, back to back while active)
  --poll-max D           slowest inbox LIST interval (default: 5s; idle nodes watch their
                         doorbell instead, unless --no-bell)
  --bell-interval D      an idle node checks its doorbell (one GET) every D: a packet to it waits
                         D/2 on average; it costs 86400 s/D GETs a day (default: 1750ms, $0.0198 a
                         day at S3 Standard prices)
  --poll-busy D          LIST interval while objects arrive continuously (default: 0ms)

Tuning (the defaults are what the benchmarks in README measure):
  --max-in-flight N      PUTs in flight per destination, 1-256 (default: 4)
  --total-queue-bytes N  packets waiting for all destinations together; beyond, the oldest of the
                         largest queue are dropped (default: 67108864, 64 MiB)
  --total-in-flight N    PUTs in flight for all destinations together, 1-4096; destinations then
                         take turns (default: 64)
  --bundle-bytes N       packet bytes per object at most, 1280-8388608 (default: 2097152)
  --bundle-packets N     packets per object at most, 1-65535 (default: 65535)
  --no-inline            always send a body, even when the packets fit in the key
  --no-anticipation      do not poll faster after sending (by default a reply is expected)
  --no-second-list       one LIST at a time, also during conversations
  --no-chain             objects do not announce their successor's key, and the inbox is only ever
                         LISTed (by default, awaited objects are polled with GET: 1/12 of the price)
  --chained-list D       while announced keys are polled, LIST only every D, for new senders and
                         broken chains (default: 1s)
  --no-bell              idle nodes LIST every --poll-max instead of watching a doorbell (they
                         still ring others' bells: a peer may be watching)
  --delete-interval D    at most one DeleteObjects of consumed objects per D (default: 250ms;
                         0ms: one as soon as an object is consumed)
  --experiment NAMES     switches for A/B runs, comma-separated: unpaced-stream-polls (a stream's
                         next key is polled back to back after a miss, as before the pacing),
                         paced-conversations (a reply's key back to back 8 times, then every
                         1, 2, 4, 8, 10 ms: fewer GETs, slower replies)
  --original-design      the 2023 original's behaviour, for comparisons: --bundle-packets 1
                         --max-in-flight 256 --poll-min 500ms --poll-max 500ms --no-anticipation
                         --no-inline --no-second-list --no-chain --delete-interval 0ms --no-bell
  -v, --verbose          more logging (repeat for debug)
  --version              print the version
  --help                 this text

Durations take a unit: ns, us, ms, s, m (e.g. 250ms, 5s).

Environment:
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN   credentials
  AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials), AWS_PROFILE (default "default")
  AWS_REGION, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL
)";
}

namespace {

// The field a duration flag sets, or nullptr if `flag` is not one.
std::chrono::nanoseconds* duration_flag(Options& o, std::string_view flag) {
  if (flag == "--poll-min") return &o.poll_min;
  if (flag == "--poll-max") return &o.poll_max;
  if (flag == "--poll-busy") return &o.poll_busy;
  if (flag == "--delete-interval") return &o.delete_interval;
  if (flag == "--chained-list") return &o.chained_list;
  if (flag == "--bell-interval") return &o.bell_interval;
  return nullptr;
}

} // namespace

Result<Options, std::string> parse_options(std::span<const std::string_view> args) {
  Options o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    std::string_view inline_value;
    bool has_inline = false;
    if (a.starts_with("--")) {
      if (auto eq = a.find('='); eq != std::string_view::npos) {
        inline_value = a.substr(eq + 1);
        a = a.substr(0, eq);
        has_inline = true;
      }
    }
    // Stores the flag's value (inline "--x=v" or the next argument); returns an error if there is none.
    auto take = [&](std::string& into) -> std::optional<std::string> {
      if (has_inline) into = std::string(inline_value);
      else if (i + 1 < args.size()) into = std::string(args[++i]);
      else return std::string(a) + " needs a value";
      return std::nullopt;
    };
    // A whole decimal number in [lo, hi].
    auto take_number = [&](std::size_t lo, std::size_t hi, std::size_t& into) -> std::optional<std::string> {
      std::string v;
      if (auto e = take(v)) return e;
      unsigned long long n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc{} || p != v.data() + v.size() || n < lo || n > hi)
        return fmt::format("{} '{}' must be a number from {} to {}", a, v, lo, hi);
      into = static_cast<std::size_t>(n);
      return std::nullopt;
    };
    std::optional<std::string> err;
    if (a == "--help" || a == "-h") o.help = true;
    else if (a == "--version") o.version = true;
    else if (a == "-v" || a == "--verbose") ++o.verbosity;
    else if (a == "-vv") o.verbosity += 2;
    else if (a == "--bucket") err = take(o.bucket);
    else if (a == "--ula") err = take(o.ula);
    else if (a == "--endpoint") err = take(o.endpoint);
    else if (a == "--region") err = take(o.region);
    else if (a == "--tun") err = take(o.tun);
    else if (a == "--netns") err = take(o.netns);
    else if (a == "--machine-id") err = take(o.machine_id);
    else if (a == "--metrics") err = take(o.metrics);
    else if (a == "--key-prefix") err = take(o.key_prefix);
    else if (a == "--psk-file") err = take(o.psk_file);
    else if (a == "--private-key-file") err = take(o.private_key_file);
    else if (a == "--peers-file") err = take(o.peers_file);
    else if (a == "--no-seal") o.seal = false;
    else if (a == "--experiment") {
      // Switches for A/B runs of the experiment kit (README, Benchmarks), comma-separated.
      std::string v;
      err = take(v);
      for (std::size_t at = 0; !err && at <= v.size();) {
        auto comma = v.find(',', at);
        std::string name = v.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
        if (name == "unpaced-stream-polls") o.paced_stream_polls = false;
        else if (name == "paced-conversations") o.paced_conversations = true;
        else err = "--experiment '" + name + "': unknown (unpaced-stream-polls, paced-conversations)";
        if (comma == std::string::npos) break;
        at = comma + 1;
      }
    }
    else if (i == 0 && (a == "genkey" || a == "pubkey" || a == "peers" || a == "show")) o.command = std::string(a);
    else if (a == "--state-dir") err = take(o.state_dir);
    else if (a == "--mtu") err = take_number(1280, 65535, o.mtu);
    else if (a == "--queue-bytes") err = take_number(65536, std::size_t{1} << 32, o.queue_bytes);
    else if (a == "--max-in-flight") err = take_number(1, 256, o.max_in_flight);
    else if (a == "--total-queue-bytes") err = take_number(1 << 20, std::size_t{1} << 34, o.total_queue_bytes);
    else if (a == "--total-in-flight") err = take_number(1, 4096, o.total_in_flight);
    else if (a == "--bundle-bytes") err = take_number(1280, 8 << 20, o.bundle_bytes);
    else if (a == "--bundle-packets") err = take_number(1, 65535, o.bundle_packets);
    else if (a == "--no-inline") o.inline_small = false;
    else if (a == "--no-anticipation") o.anticipate = false;
    else if (a == "--no-second-list") o.second_list = false;
    else if (a == "--no-chain") o.chain_keys = false;
    else if (a == "--no-bell") o.bell = false;
    else if (a == "--original-design") {
      // The 2023 original, for side-by-side experiments: one packet per object, each PUT at once, a
      // fixed 500 ms poll, no reaction to outgoing traffic, every body fetched with a GET.
      o.bundle_packets = 1;
      o.max_in_flight = 256;
      o.poll_min = o.poll_max = o.poll_busy = std::chrono::milliseconds(500);
      o.anticipate = false;
      o.inline_small = false;
      o.second_list = false;
      o.chain_keys = false;
      o.delete_interval = std::chrono::milliseconds(0);
      o.bell = false;
      o.ring = false;
    } else if (auto* d = duration_flag(o, a)) {
      std::string v;
      err = take(v);
      if (!err) {
        auto parsed = parse_duration(v);
        if (!parsed) err = std::string(a) + ": " + parsed.error();
        else *d = *parsed;
      }
    } else {
      err = "unknown option '" + std::string(args[i]) + "'";
    }
    if (err) return *err;
  }
  if (o.help || o.version) return o;
  if (o.command == "genkey" || o.command == "pubkey") {
    if (args.size() > 1) return o.command + " takes no options (" + o.command + " < in > out, as wg does)";
    return o;
  }
  if (o.command == "show") return o; // only --state-dir matters: where the running node's socket is
  if (o.bucket.empty()) return std::string("--bucket is required");
  if (o.command == "peers") return o;
  if (o.ula.empty()) return std::string("--ula is required (e.g. --ula fd5e:59b8:f71d:9a3e::/64)");
  if (o.poll_max < o.poll_min) return std::string("--poll-max must not be below --poll-min");
  if (o.bell_interval < std::chrono::milliseconds(100))
    return std::string("--bell-interval must be at least 100ms (each check is a paid GET)");
  // A node goes idle when its pace slows to the bell interval: a fast pace at or above it would watch
  // the bell in the middle of a conversation, where nobody rings.
  if (o.bell && (o.poll_min >= o.bell_interval || o.poll_busy >= o.bell_interval))
    return std::string("--poll-min and --poll-busy must be below --bell-interval (or use --no-bell)");
  if (!o.seal && !o.psk_file.empty())
    return std::string("--no-seal and --psk-file contradict each other (the PSK is mixed into sealing keys)");
  if (!o.seal && !o.peers_file.empty())
    return std::string("--no-seal and --peers-file contradict each other (pinned keys are for sealing)");
  if (o.key_prefix.empty() || o.key_prefix.front() == '/' || o.key_prefix.back() == '/')
    return "--key-prefix '" + o.key_prefix + "' must be non-empty without leading or trailing '/'";
  return o;
}

} // namespace hoshino::app

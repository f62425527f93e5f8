#include "app/app.hpp"

#include "app/peers_file.hpp"
#include "core/identity.hpp"

#include "core/clock_offset.hpp"
#include "core/keys.hpp"
#include "core/listing.hpp"
#include "core/presence.hpp"
#include "core/seal.hpp"
#include "device/netlink.hpp"
#include "device/tun_device.hpp"
#include "hoshino_config.h"
#include "net/metrics_server.hpp"
#include "node/control_server.hpp"
#include "node/node.hpp"
#include "s3/client.hpp"
#include "s3/imds.hpp"
#include "store/s3_store.hpp"
#include "util/log.hpp"
#include "util/rethrow.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <fmt/core.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <iostream>
#include <iterator>
#include <sstream>

namespace hoshino::app {
namespace {

int fail(const std::string& message) {
  fmt::print(stderr, "hoshino: {}\n", message);
  return 1;
}


// This node's identity: --private-key-file, else <state-dir>/private.key, made on first start (0600).
Result<core::KeyPair, std::string> load_identity(const Options& o) {
  const bool given = !o.private_key_file.empty();
  const std::string path = given ? o.private_key_file : o.state_dir + "/private.key";
  const std::string flag = given ? " (--private-key-file)" : "";
  if (auto content = read_file(path)) {
    auto key = core::parse_key(*content);
    if (!key) return path + flag + ": " + key.error(); // never echoes the content
    auto pub = core::public_key_of(*key);
    if (!pub) return path + flag + ": not a usable X25519 private key";
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 0077))
      log::warn("{} is readable by other users (chmod 600 it)", path);
    return core::KeyPair{*key, *pub};
  }
  if (given) return "cannot read " + path + flag;
  // First start: a new key, written whole before it is used (so a crash cannot leave half a key).
  auto kp = core::generate_key_pair();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return "cannot create " + path + ": " + std::strerror(errno);
  std::string text = core::key_to_base64(kp.private_key) + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    return "cannot write " + path;
  }
  log::warn("created this node's private key {} (public key {})", path, core::key_to_base64(kp.public_key));
  return kp;
}

// The presence record's hostname: printable, no spaces (core/presence.hpp), else "-".
std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "-";
  std::string h(buf);
  for (char c : h)
    if (c <= ' ' || c > '~') return "-";
  return h;
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// Runs one operation to completion before anything else starts (startup checks).
template <class T>
T run_to_completion(asio::io_context& io, asio::awaitable<T> op) {
  std::optional<T> out;
  asio::co_spawn(io, std::move(op), [&](std::exception_ptr e, T r) {
    if (e) std::rethrow_exception(e);
    out.emplace(std::move(r));
  });
  io.run();
  io.restart();
  return std::move(*out);
}

// The name the interface is created under: unique, so that nodes started at once never collide in the
// host's namespace; configure() gives it its --tun name where it ends up.
std::string temporary_tun_name() {
  std::random_device rd;
  return fmt::format("hsn{:06x}{:06x}", rd() & 0xffffff, rd() & 0xffffff); // 15 characters, IFNAMSIZ - 1
}

// Whether --tun names an interface that exists where the node's would end up (its namespace). Only a
// name that is taken is reported here: what cannot be checked yet (no root) is said by what comes next.
Result<Unit, std::string> tun_name_taken(const Options& o) {
  if (o.tun.empty() || o.tun.size() >= IFNAMSIZ) return "interface name '" + o.tun + "' must be 1-15 characters";
  const std::string taken = "interface " + o.tun + " already exists" +
                            (o.netns.empty() ? "" : " in network namespace " + o.netns) + " (choose another --tun name)";
  if (o.netns.empty()) {
    if (::if_nametoindex(o.tun.c_str()) != 0) return taken;
    return Unit{};
  }
  auto there = device::Netlink::open_in_netns(o.netns);
  if (there && there->index_of(o.tun)) return taken;
  return Unit{};
}

// Configures the interface over rtnetlink, in its namespace (moving it there first if asked): renamed
// to --tun there (atomic: the kernel refuses a name that is taken), MTU, up, address, route.
Result<Unit, std::string> configure(device::TunDevice& tun, const Options& o, const core::Address& self,
                                    const core::UlaPrefix& prefix) {
  int index = tun.index();
  std::optional<device::Netlink> nl;
  if (!o.netns.empty()) {
    auto here = device::Netlink::open();
    if (!here) return std::move(here).error();
    if (auto moved = here->move_to_netns(index, o.netns); !moved) return std::move(moved).error();
    auto there = device::Netlink::open_in_netns(o.netns);
    if (!there) return std::move(there).error();
    nl.emplace(std::move(there).value());
    auto idx = nl->index_of(tun.name());
    if (!idx) return std::move(idx).error();
    index = *idx;
  } else {
    auto here = device::Netlink::open();
    if (!here) return std::move(here).error();
    nl.emplace(std::move(here).value());
  }
  if (auto r = nl->rename(index, o.tun); !r) return r;
  tun.renamed(o.tun);
  if (auto r = nl->set_mtu_and_up(index, o.mtu); !r) return r;
  if (auto r = nl->add_address(index, self, 64); !r) return r;
  const std::string_view cc =
      o.tcp_congestion == Options::kHostTcpCongestion ? std::string_view{} : std::string_view(o.tcp_congestion);
  return nl->add_route(index, prefix.with(core::InterfaceId{}), 64, cc);
}

} // namespace

namespace {

// Step 1: who this node is on the /64 (the ULA prefix and the machine-id).
struct LocalAddress {
  core::UlaPrefix prefix;
  core::Address self;
};
Result<LocalAddress, std::string> local_address(const Options& o) {
  auto prefix = core::parse_ula_prefix(o.ula);
  if (!prefix) return prefix.error();
  auto machine_id = read_file(o.machine_id);
  if (!machine_id) return "cannot read " + o.machine_id + " (--machine-id)";
  auto id = core::interface_id_from_machine_id(*machine_id);
  if (!id) return o.machine_id + ": " + id.error();
  return LocalAddress{*prefix, prefix->with(*id)};
}

// Step 2: the keys shared with peers: the PSK, and the pinned peers (--peers-file, the config's [Peer]s).
struct SharedKeys {
  std::optional<core::Psk> psk;
  std::vector<PinnedPeer> pinned;
};
Result<SharedKeys, std::string> load_shared_keys(const Options& o) {
  SharedKeys keys;
  if (!o.psk_file.empty()) {
    auto content = read_file(o.psk_file);
    if (!content) return "cannot read " + o.psk_file + " (--psk-file)";
    auto key = core::parse_psk(*content);
    if (!key) return "--psk-file " + o.psk_file + ": " + key.error(); // never echoes the content
    keys.psk = *key;
    struct stat st {};
    if (::stat(o.psk_file.c_str(), &st) == 0 && (st.st_mode & 0077))
      log::warn("--psk-file {} is readable by other users (chmod 600 it)", o.psk_file);
  }
  keys.pinned = o.peers;
  if (!o.peers_file.empty()) {
    auto text = read_file(o.peers_file);
    if (!text) return "cannot read " + o.peers_file + " (--peers-file)";
    auto parsed = parse_peers_file(*text, o.peers_file);
    if (!parsed) return parsed.error();
    for (const auto& p : *parsed) {
      for (const auto& q : keys.pinned)
        if (q.address == p.address)
          return o.peers_file + ": " + p.address.str() + " is pinned in " + o.config + " too";
      keys.pinned.push_back(p);
    }
  }
  return keys;
}

// Step 3: the S3 client, with credentials from the environment, the shared file or (neither) an EC2
// instance profile through IMDSv2, fetched here so that a missing role is a startup error.
struct S3Connection {
  std::unique_ptr<s3::Client> client;
  std::unique_ptr<s3::ImdsProvider> imds; // set: the credentials expire and are renewed while running
  std::optional<s3::ExpiringCredentials> expiring;
};
Result<s3::ClientConfig, std::string> resolve_s3(const Options& o, bool& use_imds, std::optional<s3::ImdsConfig>& imds) {
  const auto env = s3::process_env();
  auto config = s3::resolve_client_config(o.endpoint, o.region, env, false);
  if (!config) return config.error();
  use_imds = config->credentials.access_key_id.empty();
  imds = s3::imds_config_from_env(env);
  if (use_imds && !imds)
    return s3::resolve_credentials(env).error() + " (instance metadata disabled by AWS_EC2_METADATA_DISABLED)";
  return config;
}
Result<S3Connection, std::string> connect_s3(asio::io_context& io, s3::ClientConfig config, bool use_imds,
                                             const std::optional<s3::ImdsConfig>& imds_config) {
  S3Connection c;
  c.client = std::make_unique<s3::Client>(io, std::move(config));
  if (!use_imds) return c;
  c.imds = std::make_unique<s3::ImdsProvider>(c.client->http(), *imds_config);
  auto fetched = run_to_completion(io, c.imds->fetch());
  if (!fetched) return s3::resolve_credentials(s3::process_env()).error() + ", and " + fetched.error();
  c.expiring = std::move(fetched).value();
  c.client->set_credentials(c.expiring->credentials);
  log::info("credentials from the instance metadata service, valid until {}",
            std::chrono::system_clock::to_time_t(c.expiring->expiration));
  return c;
}

// The offset to S3's clock, from every answer's Date (core/clock_offset.hpp); the bucket check is its
// first sample. A skew is logged at most every 10 minutes.
void watch_server_clock(s3::Client& client, core::ClockOffset& clock) {
  auto last_log = std::make_shared<std::chrono::steady_clock::time_point>();
  client.on_server_date = [&clock, last_log](std::uint64_t sent_ms, std::uint64_t received_ms, std::string_view date) {
    auto server = core::parse_http_date(date);
    if (!server) return;
    clock.on_sample(sent_ms, received_ms, *server);
    auto now = std::chrono::steady_clock::now();
    if (clock.correction_ms() != 0 &&
        (*last_log == std::chrono::steady_clock::time_point{} || now - *last_log >= std::chrono::minutes(10))) {
      *last_log = now;
      log::warn("this machine's clock is {:+.1f} s off S3's: objects are stamped and judged by S3's time; fix the "
                "time sync (logged at most every 10 min)", static_cast<double>(-clock.estimate_ms()) / 1000);
    }
  };
}

// Step 4: the node's configuration: the command line's (defaults from node::NodeConfig) plus who it is.
node::NodeConfig node_config(const Options& o, const LocalAddress& local, const SharedKeys& keys,
                             const core::ClockOffset& clock, const std::string& hostname) {
  node::NodeConfig config = o.node;
  config.prefix = local.prefix;
  config.self = local.self;
  config.psk = keys.psk;
  config.clock = &clock;
  config.hostname = hostname;
  config.version = HOSHINO_VERSION;
  return config;
}

// Step 6: sealing: the identity and the pinned peers, or (--no-seal) nothing, said loudly.
void seal_with(node::NodeConfig& config, const Options& o, const core::KeyPair& identity, const SharedKeys& keys) {
  if (!o.seal) {
    config.psk.reset();
    log::warn("--no-seal: objects travel unsealed; anyone who can read the bucket reads the packets, and "
              "anyone who can write it can send as any node");
    return;
  }
  config.identity = identity;
  for (const auto& p : keys.pinned) {
    config.pinned_peers.push_back({p.address, p.key});
    config.peer_names[p.address] = p.name;
  }
}

// Step 7, while running: SIGHUP reads the key file again and rotates a new key in without an outage
// (Node::rotate_identity); SIGINT/SIGTERM flush and stop.
class Signals {
public:
  Signals(asio::io_context& io, const Options& o, node::Node& node, node::ControlServer& control,
          core::KeyPair identity)
      : o_(o), node_(node), control_(control), identity_(std::move(identity)), hup_(io, SIGHUP),
        stop_(io, SIGINT, SIGTERM) {
    await_hup();
    stop_.async_wait([this](const asio::error_code& ec, int signo) {
      if (ec) return;
      log::info("signal {}: flushing and stopping", signo);
      hup_.cancel();
      control_.stop();
      node_.stop();
    });
  }

private:
  void await_hup() {
    hup_.async_wait([this](const asio::error_code& ec, int) {
      if (ec) return;
      if (!o_.seal) log::warn("SIGHUP: --no-seal, no key to rotate");
      else if (auto fresh = load_identity(o_); !fresh) log::error("SIGHUP: {}: keeping the current key", fresh.error());
      else if (fresh->public_key == identity_.public_key) log::info("SIGHUP: the key is unchanged");
      else {
        identity_ = *fresh;
        node_.rotate_identity(*fresh);
        fmt::print("public key {}\n", core::key_to_base64(fresh->public_key));
        std::fflush(stdout);
      }
      await_hup();
    });
  }

  const Options& o_;
  node::Node& node_;
  node::ControlServer& control_;
  core::KeyPair identity_;
  asio::signal_set hup_;
  asio::signal_set stop_;
};

} // namespace

int run(const Options& o) {
  const double start_time = now_seconds();
  log::threshold() = o.verbosity >= 2 ? log::Level::debug : o.verbosity == 1 ? log::Level::info : log::Level::warn;

  auto local = local_address(o);
  if (!local) return fail(local.error());
  auto keys = load_shared_keys(o);
  if (!keys) return fail(keys.error());
  bool use_imds = false;
  std::optional<s3::ImdsConfig> imds_config;
  auto s3config = resolve_s3(o, use_imds, imds_config);
  if (!s3config) return fail(s3config.error());
  if (!o.netns.empty()) {
    auto ns = device::open_netns(o.netns);
    if (!ns) return fail(ns.error());
    ::close(*ns);
  }

  asio::io_context io;
  auto s3 = connect_s3(io, std::move(s3config).value(), use_imds, imds_config);
  if (!s3) return fail(s3.error());
  s3::Client& client = *s3->client;
  core::ClockOffset clock;
  watch_server_clock(client, clock);
  store::S3Store store(client, o.bucket);
  if (auto ok = run_to_completion(io, store.check(core::inbox_prefix(o.node.key_prefix, local->self))); !ok)
    return fail("bucket " + o.bucket + ": " + ok.error().describe());

  const std::string hostname = host_name();
  node::NodeConfig config = node_config(o, *local, *keys, clock, hostname);
  node::Node* node_ptr = nullptr;
  std::unique_ptr<net::MetricsServer> metrics;
  if (o.metrics != "off") {
    auto m = net::MetricsServer::bind(io, o.metrics, [&] {
      return node::render_prometheus(node_ptr->metrics(), &node_ptr->inbox(), HOSHINO_VERSION, start_time,
                                     o.metrics_peers);
    });
    // The default port taken (by another local user, or a second node): the tunnel matters more than
    // its metrics. A port the operator chose is an error: they expect it to answer.
    if (!m && o.metrics_given) return fail(m.error());
    if (!m) log::warn("{}: running without /metrics (choose a free port with --metrics, or --metrics off)", m.error());
    else metrics = std::move(m).value();
  }

  // Taken already where it would end up: said before anything is created (the rename in configure()
  // is what makes two nodes started at once safe).
  if (auto taken = tun_name_taken(o); !taken) return fail(taken.error());
  auto tun = device::TunDevice::create(io, temporary_tun_name(), o.mtu);
  if (!tun) return fail(tun.error());
  // After the interface (which needs root, the more basic error), before it is configured.
  auto state_dir = node::StateDir::open(o.state_dir);
  if (!state_dir) return fail(state_dir.error());
  config.state_dir = &*state_dir;
  // The identity exists with --no-seal too: its public key names the presence record.
  auto identity = load_identity(o);
  if (!identity) return fail(identity.error());
  seal_with(config, o, *identity, *keys);
  if (auto r = configure(**tun, o, local->self, local->prefix); !r) return fail(o.tun + ": " + r.error()); // closing removes it
  node::Node node(io, **tun, store, config);
  node_ptr = &node;
  // Who is there (core/presence.hpp): written after every local check (a failure later would leave a
  // record for a node that is not there) and before the node runs, so a policy that forbids it is a
  // startup error. Peers answer packets to an address without a record with ICMPv6 unreachable.
  if (config.presence) {
    if (auto r = run_to_completion(io, node.publish_presence()); !r)
      return fail("cannot write this node's presence record: " + r.error().describe() +
                  " (the policy must allow PutObject and DeleteObject on it: docs/security.md, Least privilege)");
  }
  // `hoshino show`: in the state directory (0700, root's), so only root reaches it.
  auto control = node::ControlServer::bind(io, o.state_dir + "/control.sock", [&] { return node.render_show(); });
  if (!control) return fail(control.error());
  asio::co_spawn(io, (*control)->run(), rethrow);
  fmt::print("hoshino {}: {} on {}{}, bucket {}, inbox {}{}\n", HOSHINO_VERSION, local->self.str(), o.tun,
             o.netns.empty() ? "" : " (netns " + o.netns + ")", o.bucket, node.inbox_prefix(),
             !o.seal ? ", objects NOT sealed" : keys->psk ? ", objects sealed (pair keys + PSK)" : ", objects sealed");
  fmt::print("public key {}\n", core::key_to_base64(identity->public_key));
  std::fflush(stdout);

  Signals signals(io, o, node, **control, *identity);
  if (metrics) asio::co_spawn(io, metrics->run(), rethrow);
  if (s3->imds) {
    asio::co_spawn(io, s3::refresh_credentials(*s3->imds, *s3->expiring, [&](const s3::Credentials& c) {
      client.set_credentials(c);
      log::info("instance metadata credentials renewed");
    }), rethrow);
  }
  asio::co_spawn(io, node.run(), [&](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
    // Stopped: nothing else (idle S3 connections, metrics) keeps the process alive.
    io.stop();
  });
  io.run();
  return node.fatal_error().empty() ? 0 : 1; // said already, loudly
}

int check(const Options& o) {
  // What can be judged from the settings alone; the files they name are read when the node starts.
  if (auto prefix = core::parse_ula_prefix(o.ula); !prefix) {
    fail(prefix.error());
    return 2;
  }
  fmt::print("{}", effective_settings(o));
  return 0;
}

std::optional<std::string> read_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return std::nullopt; // it would read as ""
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return ss.str();
}

int genkey() {
  fmt::print("{}\n", core::key_to_base64(core::generate_key_pair().private_key));
  return 0;
}

int pubkey() {
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  auto key = core::parse_key(text);
  if (!key) return fail("pubkey: stdin: " + key.error());
  auto pub = core::public_key_of(*key);
  if (!pub) return fail("pubkey: not a usable X25519 private key");
  fmt::print("{}\n", core::key_to_base64(*pub));
  return 0;
}

int peers(const Options& o) {
  const auto env = s3::process_env();
  auto s3config = s3::resolve_client_config(o.endpoint, o.region, env, false);
  if (!s3config) return fail(s3config.error());
  if (s3config->credentials.access_key_id.empty())
    return fail(s3::resolve_credentials(env).error());
  asio::io_context io;
  s3::Client client(io, std::move(s3config).value());
  store::S3Store store(client, o.bucket);
  const auto prefix = core::presence_prefix(o.node.key_prefix);
  struct Row {
    core::PeerKey peer;
    std::string hostname = "?", version = "?", started = "?", problem;
  };
  std::vector<Row> rows;
  constexpr std::size_t kPage = 1000, kMaxPages = 100; // 100,000 records at most
  core::Listing listing(kMaxPages);
  while (auto after = listing.next_page()) {
    auto page = run_to_completion(io, store.list(prefix, kPage, *after));
    if (!page) return fail("bucket " + o.bucket + ": " + page.error().describe());
    for (const auto& k : page->objects)
      if (auto pk = core::parse_presence_key(o.node.key_prefix, k.key)) rows.push_back(Row{*pk, "?", "?", "?", ""});
    listing.on_page(*page);
  }
  if (!listing.complete())
    log::warn("the listing of {} stopped after {} pages: more records than are shown", prefix, listing.pages());
  constexpr std::size_t kMaxDetails = 1000; // one GET each: a bucket full of records costs no more than this
  for (std::size_t n = 0; n < rows.size(); ++n) {
    auto& r = rows[n];
    if (n >= kMaxDetails) {
      r.problem = "not read: more than 1000 records";
      continue;
    }
    auto key = core::presence_key(o.node.key_prefix, r.peer.address, r.peer.key);
    auto body = run_to_completion(io, store.get(key, core::kMaxPresenceBytes));
    if (!body) {
      r.problem = body.error().describe();
      continue;
    }
    auto record = core::parse_presence(*body, r.peer.address);
    if (!record) {
      r.problem = "bad record: " + record.error();
      continue;
    }
    r.hostname = record->hostname;
    r.version = record->version;
    std::time_t t = static_cast<std::time_t>(record->started_ms / 1000);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    r.started = buf;
  }
  // Keys this host's node trusted before (its state directory, if readable): a record that shows another
  // key for such an address is what that node refuses (docs/security.md, trust on first use).
  std::map<core::Address, core::PublicKey> known;
  for (const auto& k : node::read_known_peers(o.state_dir)) known.emplace(k.address, k.key);
  for (auto& r : rows)
    if (auto it = known.find(r.peer.address); it != known.end() && it->second != r.peer.key)
      r.problem += (r.problem.empty() ? "" : "; ") + std::string("KEY CHANGED: this host's node trusts ") +
                   core::fingerprint(it->second) + "… (known_peers) and refuses this one";
  fmt::print("{:<40} {:<44} {:<20} {:<10} {}\n", "ADDRESS", "PUBLIC KEY", "HOSTNAME", "VERSION", "STARTED");
  for (const auto& r : rows)
    fmt::print("{:<40} {:<44} {:<20} {:<10} {}{}\n", r.peer.address.str(), core::key_to_base64(r.peer.key), r.hostname,
               r.version, r.started, r.problem.empty() ? "" : "  (" + r.problem + ")");
  fmt::print("{} node(s)\n", rows.size());
  return 0;
}

int show(const Options& o) {
  auto path = o.state_dir + "/control.sock";
  auto answer = node::read_control_socket(path);
  if (!answer.ok)
    return fail("show: no running node with state directory " + o.state_dir + " (" + answer.text +
                "); use --state-dir if it runs with another");
  fmt::print("{}", answer.text);
  return 0;
}

} // namespace hoshino::app

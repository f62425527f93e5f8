// Two nodes in one process, over the in-memory packet devices and object store: the whole tunnel
// without root, kernel or network (like wireguard-go's device tests).
#define CATCH_CONFIG_MAIN
#include "core/base64url.hpp"
#include "core/bundle.hpp"
#include "core/object.hpp"
#include "core/keys.hpp"
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
#include <filesystem>
#include <functional>
#include <map>

using namespace hoshino;
using namespace std::chrono_literals;
using test::addr;
using test::ipv6_packet;
using test::payload_of;
using hoshino::wall_ms;

namespace {

const core::UlaPrefix kPrefix = *core::parse_ula_prefix("fd5e::/64");
const core::Address kA = addr("fd5e::a");
const core::Address kB = addr("fd5e::b");

node::NodeConfig config(const core::Address& self, std::chrono::milliseconds put_deadline = 10s) {
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
bool run_until(asio::io_context& io, const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
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
    ::run_until(io, [this] { return done; });
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
    return ::run_until(io, pred, limit);
  }
  void stop() {
    a.stop();
    b.stop();
    run_until([this] { return running == 0; });
  }
};

// The bucket's objects but the doorbells (which stay: a ring is rewritten, never deleted).
std::map<std::string, core::Bytes> messages(store::MemoryStore& bucket) {
  std::map<std::string, core::Bytes> out;
  for (const auto& [key, body] : bucket.objects())
    if (!key.starts_with("hoshino/bell/")) out.emplace(key, body);
  return out;
}

std::vector<std::string> payloads(const std::vector<core::Bytes>& ps) {
  std::vector<std::string> out;
  for (const auto& p : ps) out.push_back(payload_of(p));
  return out;
}

} // namespace

TEST_CASE("Two nodes exchange packets in both directions, in order", "[node]") {
  test::VirtualTime vt;
  Pair p;
  p.start();
  std::vector<std::string> to_b, to_a;
  for (int i = 0; i < 200; ++i) {
    to_b.push_back("a->b " + std::to_string(i));
    to_a.push_back("b->a " + std::to_string(i));
    p.dev_a.inject(ipv6_packet(kA, kB, to_b.back()));
    p.dev_b.inject(ipv6_packet(kB, kA, to_a.back()));
  }
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() >= 200 && p.dev_a.written().size() >= 200; }));
  CHECK(payloads(p.dev_b.written()) == to_b);
  CHECK(payloads(p.dev_a.written()) == to_a);
  // Bundling: fewer objects than packets (200 queued at once; how many share an object depends on how
  // fast the node reads compared with the store's 300 us PUTs, so only the direction is asserted).
  CHECK(p.a.metrics().egress.packets == 200);
  CHECK(p.a.metrics().egress.objects < 200);
  CHECK(p.b.metrics().ingress.packets == 200);
  // Consumed objects are deleted.
  REQUIRE(p.run_until([&] { return messages(p.bucket).empty(); }));
  p.stop();
}

TEST_CASE("A ping-like exchange: each reply comes back", "[node]") {
  test::VirtualTime vt;
  Pair p;
  // Node B's "kernel" answers every packet it receives.
  p.dev_b.on_write = [&](const core::Bytes& pkt) { p.dev_b.inject(ipv6_packet(kB, kA, "pong " + payload_of(pkt))); };
  p.start();
  for (int i = 0; i < 30; ++i) {
    p.dev_a.inject(ipv6_packet(kA, kB, std::to_string(i)));
    REQUIRE(p.run_until([&] { return p.dev_a.written().size() == static_cast<std::size_t>(i + 1); }));
    CHECK(payload_of(p.dev_a.written().back()) == "pong " + std::to_string(i));
  }
  p.stop();
}

TEST_CASE("Packets the tunnel must not carry are ignored and counted", "[node]") {
  test::VirtualTime vt;
  Pair p;
  p.start();
  p.dev_a.inject(ipv6_packet(kA, addr("ff02::16"), "mld"));
  p.dev_a.inject(ipv6_packet(kA, addr("fd99::1"), "elsewhere"));
  p.dev_a.inject(ipv6_packet(kA, kA, "self"));
  p.dev_a.inject(std::string("\x45\x00\x00\x14", 4));
  p.dev_a.inject(ipv6_packet(kA, kB, "real"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  const auto& ignored = p.a.metrics().ignored;
  CHECK(ignored.at("multicast") == 1);
  CHECK(ignored.at("outside_prefix") == 1);
  CHECK(ignored.at("to_self") == 1);
  CHECK(ignored.at("not_ipv6") == 1);
  p.stop();
}

TEST_CASE("A malformed object in the inbox is dropped and deleted; the node keeps forwarding", "[node]") {
  test::VirtualTime vt;
  Pair p;
  auto now = wall_ms();
  core::UlidGenerator gen([] { return 7; });
  auto junk = core::format_key("hoshino", {kB, kA, gen.next(now)});
  p.bucket.objects()[junk] = "this is not a bundle";
  p.bucket.objects()["hoshino/" + kB.hex() + "/garbage-key"] = "x";
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, "after junk"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  CHECK(payload_of(p.dev_b.written()[0]) == "after junk");
  REQUIRE(p.run_until([&] { return messages(p.bucket).empty(); }));
  CHECK(p.b.inbox().dropped(core::DropReason::malformed_body) == 1);
  CHECK(p.b.inbox().dropped(core::DropReason::malformed_key) == 1);
  p.stop();
}

namespace {
// A fault hook: while `down`, every request fails with `code` (HTTP `status`).
std::function<std::optional<s3::Error>(store::OpKind, const std::string&)> outage(const bool& down, long status,
                                                                                   std::string code) {
  return [&down, status, code](store::OpKind, const std::string&) -> std::optional<s3::Error> {
    if (!down) return std::nullopt;
    return store::http_error(status, code);
  };
}
} // namespace

TEST_CASE("During an S3 outage the nodes keep running; queued PUTs are retried and traffic resumes", "[node]") {
  test::VirtualTime vt;
  Pair p;
  bool down = false;
  p.bucket.fault = outage(down, 503, "SlowDown");
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, "before"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  down = true;
  p.dev_a.inject(ipv6_packet(kA, kB, "during"));
  p.run_until([] { return false; }, 300ms);
  // B looks for A's next object by LIST or by GET on its announced key: either way, it saw the outage.
  CHECK(p.b.metrics().s3_errors.count({"list", "SlowDown"}) + p.b.metrics().s3_errors.count({"get", "SlowDown"}) >= 1);
  CHECK(p.a.metrics().s3_errors.at({"put", "SlowDown"}) >= 2); // retried with backoff
  down = false;
  p.dev_a.inject(ipv6_packet(kA, kB, "after"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 3; }));
  CHECK(payloads(p.dev_b.written()) == std::vector<std::string>{"before", "during", "after"});
  CHECK(p.a.metrics().dropped.count("s3_put_failed") == 0);
  p.stop();
}

TEST_CASE("An outage longer than the PUT deadline drops those packets, counted", "[node]") {
  test::VirtualTime vt;
  Pair p(1s);
  bool down = false;
  p.bucket.fault = outage(down, 500, "InternalError");
  p.start();
  down = true;
  p.dev_a.inject(ipv6_packet(kA, kB, "lost"));
  REQUIRE(p.run_until([&] { return p.a.metrics().dropped.count("s3_put_failed") == 1; }));
  CHECK(p.a.metrics().s3_errors.at({"put", "InternalError"}) >= 3); // retried until the deadline
  CHECK(p.a.metrics().dropped.at("s3_put_failed") == 1);
  down = false;
  p.dev_a.inject(ipv6_packet(kA, kB, "next"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  CHECK(payload_of(p.dev_b.written()[0]) == "next");
  p.stop();
}

namespace {
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

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}
} // namespace

TEST_CASE("AccessDenied is not retried: dropped and counted, the node keeps running", "[node]") {
  test::VirtualTime vt;
  Pair p;
  bool down = false;
  p.bucket.fault = outage(down, 403, "AccessDenied");
  StderrCapture log;
  p.start();
  down = true;
  for (int i = 0; i < 5; ++i) p.dev_a.inject(ipv6_packet(kA, kB, "denied"));
  REQUIRE(p.run_until([&] { return p.a.metrics().dropped.count("s3_put_failed") == 1 &&
                                   p.a.metrics().dropped.at("s3_put_failed") == 5; }));
  p.run_until([] { return false; }, 500ms); // several more LISTs denied meanwhile
  // Loud (an error, naming the fix) but once per interval per operation, not once per request.
  auto text = log.text();
  CHECK(count_of(text, "error: S3 put denied: AccessDenied") == 1);
  CHECK(count_of(text, "error: S3 list denied: AccessDenied") == 2); // one per node
  CHECK(count_of(text, "check the credentials and the bucket policy") == 3);
  CHECK(p.a.metrics().s3_errors.at({"put", "AccessDenied"}) == p.bucket.requests(store::OpKind::put)); // each counted
  CHECK(p.a.metrics().s3_errors.at({"list", "AccessDenied"}) >= 2);
  auto puts = p.bucket.requests(store::OpKind::put);
  CHECK(puts <= 5); // one attempt per object, no retries
  down = false;
  p.dev_a.inject(ipv6_packet(kA, kB, "allowed"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  p.stop();
}

TEST_CASE("A restarted node does not deliver packets from before it started", "[node]") {
  test::VirtualTime vt;
  asio::io_context io;
  store::MemoryStore bucket{io, 300us};
  auto now = wall_ms();
  core::UlidGenerator gen([] { return 1; });
  // Left in B's inbox 30 s ago, while B was down.
  auto old_key = core::format_key("hoshino", {kB, kA, gen.next(now - 30'000)});
  bucket.objects()[old_key] = core::encode_bundle({ipv6_packet(kA, kB, "stale")});
  device::MemoryDevice dev{io};
  node::Node b{io, dev, bucket, config(kB)};
  Running running(io, b);
  run_until(io, [&] { return messages(bucket).empty(); }, 5s);
  CHECK(messages(bucket).empty());
  CHECK(dev.written().empty());
  CHECK(b.inbox().dropped(core::DropReason::stale) == 1);
  running.stop();
}

TEST_CASE("Stop flushes queued packets before returning", "[node]") {
  test::VirtualTime vt;
  Pair p;
  p.start();
  for (int i = 0; i < 50; ++i) p.dev_a.inject(ipv6_packet(kA, kB, std::to_string(i)));
  p.run_until([] { return false; }, 1ms); // some are read, most still queued behind the first PUT
  p.a.stop();
  REQUIRE(p.run_until([&] { return p.running == 1; })); // a has returned
  std::size_t in_bucket = 0;
  for (const auto& [k, body] : messages(p.bucket)) in_bucket += core::decode_body(body)->packets.size();
  CHECK(p.a.metrics().egress.packets == in_bucket + p.dev_b.written().size());
  CHECK(p.a.metrics().egress.packets > 0);
  p.b.stop();
  p.run_until([&] { return p.running == 0; });
}

namespace {
node::NodeConfig with_psk(const core::Address& self, std::optional<char> fill) {
  auto c = config(self);
  if (fill) {
    core::Psk k;
    k.fill(static_cast<std::uint8_t>(*fill));
    c.psk = k;
  }
  return c;
}
} // namespace

TEST_CASE("With a shared key, packets flow sealed: the bucket never sees them", "[node][psk]") {
  test::VirtualTime vt;
  Pair p(with_psk(kA, 'k'), with_psk(kB, 'k'));
  bool saw_plaintext = false;
  p.bucket.fault = [&](store::OpKind op, const std::string& key) -> std::optional<s3::Error> {
    if (op == store::OpKind::get && p.bucket.objects().count(key))
      saw_plaintext = saw_plaintext || p.bucket.objects()[key].find("secret-payload") != std::string::npos ||
                      !core::is_sealed(p.bucket.objects()[key]);
    return std::nullopt;
  };
  p.start();
  for (int i = 0; i < 20; ++i) p.dev_a.inject(ipv6_packet(kA, kB, "secret-payload " + std::to_string(i)));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 20; }));
  CHECK_FALSE(saw_plaintext);
  CHECK(payload_of(p.dev_b.written()[19]) == "secret-payload 19");
  p.stop();
}

TEST_CASE("Nodes that disagree about the key fail clearly, not silently", "[node][psk]") {
  test::VirtualTime vt;
  SECTION("sender sealed, receiver has no key") {
    Pair p(with_psk(kA, 'k'), with_psk(kB, std::nullopt));
    p.start();
    p.dev_a.inject(ipv6_packet(kA, kB, "x"));
    REQUIRE(p.run_until([&] { return p.b.inbox().dropped(core::DropReason::sealed_without_key) == 1; }));
    CHECK(p.dev_b.written().empty());
    p.stop();
  }
  SECTION("sender plain, receiver requires sealed") {
    Pair p(with_psk(kA, std::nullopt), with_psk(kB, 'k'));
    p.start();
    p.dev_a.inject(ipv6_packet(kA, kB, "x"));
    REQUIRE(p.run_until([&] { return p.b.inbox().dropped(core::DropReason::unsealed) == 1; }));
    CHECK(p.dev_b.written().empty());
    p.stop();
  }
  SECTION("different keys") {
    Pair p(with_psk(kA, 'k'), with_psk(kB, 'z'));
    p.start();
    p.dev_a.inject(ipv6_packet(kA, kB, "x"));
    REQUIRE(p.run_until([&] { return p.b.inbox().dropped(core::DropReason::bad_seal) == 1; }));
    CHECK(p.dev_b.written().empty());
    p.stop();
  }
}

TEST_CASE("A bucket writer without the key can neither move nor replay sealed objects", "[node][psk]") {
  test::VirtualTime vt;
  auto ca = with_psk(kA, 'k');
  ca.inline_small = false; // a body to GET (the inlined form has its own test below)
  Pair p(ca, with_psk(kB, 'k'));
  // Capture A's sealed object for B before B consumes it.
  std::optional<std::pair<std::string, std::string>> captured;
  p.bucket.fault = [&](store::OpKind op, const std::string& key) -> std::optional<s3::Error> {
    if (op == store::OpKind::get && !captured && p.bucket.objects().count(key)) captured.emplace(key, p.bucket.objects()[key]);
    return std::nullopt;
  };
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, "original"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1 && messages(p.bucket).empty(); }));
  REQUIRE(captured);
  auto original = core::parse_key("hoshino", captured->first);
  REQUIRE(original);
  // Replay under its own key: already consumed, so skipped (and deleted again).
  p.bucket.objects()[captured->first] = captured->second;
  // Move it to a fresh key (a new ULID): the seal does not open under another key.
  core::UlidGenerator gen([] { return 99; });
  auto moved = core::format_key("hoshino", {kB, kA, gen.next(original->id.time_ms() + 1)});
  p.bucket.objects()[moved] = captured->second;
  REQUIRE(p.run_until([&] { return messages(p.bucket).empty(); }));
  CHECK(p.b.inbox().dropped(core::DropReason::bad_seal) == 1);
  CHECK(p.dev_b.written().size() == 1); // nothing delivered twice or from the moved copy
  p.stop();
}

TEST_CASE("Hostile objects are each dropped with a reason and deleted; forwarding goes on", "[node][hostile]") {
  test::VirtualTime vt;
  Pair p;
  core::UlidGenerator gen([] { return 5; });
  auto now = wall_ms();
  auto key = [&] { return core::format_key("hoshino", {kB, kA, gen.next(now)}); };
  auto good = ipv6_packet(kA, kB, "fine");
  std::string random_bytes;
  for (int i = 0; i < 300; ++i) random_bytes.push_back(static_cast<char>((i * 131 + 7) % 256));
  auto bundle = core::encode_bundle({good});
  std::string past_end = bundle;
  past_end[9] = '\x7f'; // first packet length far past the end
  auto& objects = p.bucket.objects();
  objects[key()] = random_bytes;                                              // malformed_body
  objects[key()] = "";                                                        // malformed_body (empty)
  objects[key()] = bundle.substr(0, bundle.size() - 3);                       // malformed_body (truncated)
  objects[key()] = past_end;                                                  // malformed_body (length past end)
  objects[key()] = std::string(17 << 20, 'x');                                // oversized (never fetched)
  objects[key()] = core::encode_bundle({"\x45not-ipv6-at-all"});              // not_ipv6
  objects[key()] = core::encode_bundle({ipv6_packet(kA, addr("fd5e::99"), "x")}); // wrong_destination
  objects[key()] = core::encode_bundle({ipv6_packet(addr("fd5e::66"), kB, "x")}); // spoofed_source
  objects["hoshino/" + kB.hex() + "/zz/not-a-ulid"] = bundle;                 // malformed_key
  objects["hoshino/" + kB.hex() + "/" + kA.hex() + "/" + std::string(26, 'U')] = bundle; // malformed_key
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, "still forwarded"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1 && objects.empty(); }));
  CHECK(payload_of(p.dev_b.written()[0]) == "still forwarded");
  const auto& in = p.b.inbox();
  CHECK(in.dropped(core::DropReason::malformed_body) == 4);
  CHECK(in.dropped(core::DropReason::oversized) == 1);
  CHECK(in.dropped(core::DropReason::not_ipv6) == 1);
  CHECK(in.dropped(core::DropReason::wrong_destination) == 1);
  CHECK(in.dropped(core::DropReason::spoofed_source) == 1);
  CHECK(in.dropped(core::DropReason::malformed_key) == 2);
  // The oversized object and bad keys were never fetched; the forwarded packet came inline in its key.
  // (The other GETs were B polling the key A announced for its next object.)
  CHECK(p.b.inbox().fetches() == 7);
  CHECK(p.b.metrics().ingress.inlined_objects == 1);
  p.stop();
}

TEST_CASE("A burst read at once leaves as one object", "[node][bundle]") {
  test::VirtualTime vt;
  Pair p;
  p.start();
  std::vector<std::string> sent;
  for (int i = 0; i < 50; ++i) {
    sent.push_back("burst " + std::to_string(i));
    p.dev_a.inject(ipv6_packet(kA, kB, sent.back()));
  }
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == sent.size(); }));
  CHECK(payloads(p.dev_b.written()) == sent);
  CHECK(p.a.metrics().egress.objects == 1);
  CHECK(p.bucket.requests(store::OpKind::put) == 1);
  p.stop();
}

TEST_CASE("ACKs sent moments after the first ones join them: one object, not two", "[node][bundle][ack]") {
  // A delivered bundle is ACKed at once and again as the application reads (window updates), a few
  // hundred microseconds apart: held for --ack-hold, they make one PUT for B and one GET for A.
  test::VirtualTime vt;
  auto hold = GENERATE(std::chrono::nanoseconds(1ms), std::chrono::nanoseconds(0ms));
  auto ca = config(kA), cb = config(kB);
  ca.bundler.ack_hold = cb.bundler.ack_hold = hold;
  Pair p(ca, cb);
  p.start();
  p.dev_b.inject(test::tcp_packet(kB, kA, test::kTcpAck));
  // 0.4 ms pass: within the hold. (Arming the earliest timer may move virtual time to it at once, up to
  // this limit: the limit is what keeps the second ACK inside the hold.)
  vt.run_until(p.io, [] { return false; }, 400us);
  p.dev_b.inject(test::tcp_packet(kB, kA, test::kTcpAck));
  REQUIRE(p.run_until([&] { return p.dev_a.written().size() == 2; }));
  CHECK(p.b.metrics().egress.objects == (hold > 0ms ? 1u : 2u));
  CHECK(p.bucket.requests(store::OpKind::put) == (hold > 0ms ? 1u : 2u));
  CHECK(p.b.metrics().ack_holds == (hold > 0ms ? 1u : 0u));
  p.stop();
}

TEST_CASE("Stopping while ACKs are held sends them", "[node][bundle][ack][stop]") {
  test::VirtualTime vt;
  auto ca = config(kA), cb = config(kB);
  cb.bundler.ack_hold = 100ms;
  Pair p(ca, cb);
  p.start();
  p.dev_b.inject(test::tcp_packet(kB, kA, test::kTcpAck));
  vt.run_until(p.io, [] { return false; }, 5ms);
  CHECK(p.bucket.requests(store::OpKind::put) == 0); // held
  CHECK(p.b.metrics().ack_holds == 1);
  p.stop();
  CHECK(p.bucket.requests(store::OpKind::put) == 1); // the stop's flush sent it
  CHECK(messages(p.bucket).size() == 1);
}

TEST_CASE("Small packets travel in the key: no GET; large ones in the body; order holds across both", "[node][inline]") {
  test::VirtualTime vt;
  // Without chained keys, every object is found by LIST, so every small one can travel in its key.
  auto ca = config(kA), cb = config(kB);
  ca.chain_keys = cb.chain_keys = false;
  Pair p(std::move(ca), std::move(cb));
  p.start();
  std::vector<std::string> sent;
  for (int i = 0; i < 40; ++i) {
    // Every fourth packet is too large for a key (1 KiB at most), so the two forms interleave. One at a
    // time (each delivered before the next), so each is an object of its own.
    std::string payload = (i % 4 == 3 ? std::string(1500, 'L') : std::string("small ")) + std::to_string(i);
    sent.push_back(payload);
    p.dev_a.inject(ipv6_packet(kA, kB, payload));
    REQUIRE(p.run_until([&] { return p.dev_b.written().size() == sent.size(); }));
  }
  CHECK(payloads(p.dev_b.written()) == sent);
  const auto& m = p.a.metrics();
  CHECK(m.egress.objects == 40);
  CHECK(m.egress.inlined_objects == 30);
  CHECK(p.b.metrics().ingress.inlined_objects == m.egress.inlined_objects);
  // Only the objects with a body were fetched.
  CHECK(p.bucket.requests(store::OpKind::get) == m.egress.objects - m.egress.inlined_objects);
  for (const auto& [key, body] : p.bucket.objects()) CHECK(key.size() <= core::kMaxKeyBytes);
  p.stop();
}

TEST_CASE("A conversation runs on GETs of announced keys, without LISTs", "[node][chain]") {
  test::VirtualTime vt;
  auto ca = config(kA), cb = config(kB);
  ca.ingress.chained_list_interval = cb.ingress.chained_list_interval = 1h; // after the first exchange, no LIST at all
  Pair p(std::move(ca), std::move(cb));
  p.start();
  // The first request and reply are found by LIST (nothing announced yet); the rest by polls.
  p.dev_a.inject(ipv6_packet(kA, kB, "hello"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  p.dev_b.inject(ipv6_packet(kB, kA, "hello back"));
  REQUIRE(p.run_until([&] { return p.dev_a.written().size() == 1; }));
  p.run_until([] { return false; }, 50ms); // LISTs already under way finish
  auto lists = p.bucket.requests(store::OpKind::list);
  auto fetches = p.a.inbox().fetches() + p.b.inbox().fetches();
  std::vector<std::string> to_b{"hello"}, to_a{"hello back"};
  for (int i = 0; i < 50; ++i) {
    to_b.push_back("ping " + std::to_string(i));
    p.dev_a.inject(ipv6_packet(kA, kB, to_b.back()));
    REQUIRE(p.run_until([&] { return p.dev_b.written().size() == to_b.size(); }));
    to_a.push_back("pong " + std::to_string(i));
    p.dev_b.inject(ipv6_packet(kB, kA, to_a.back()));
    REQUIRE(p.run_until([&] { return p.dev_a.written().size() == to_a.size(); }));
  }
  CHECK(payloads(p.dev_b.written()) == to_b);
  CHECK(payloads(p.dev_a.written()) == to_a);
  CHECK(p.bucket.requests(store::OpKind::list) == lists);
  CHECK(p.b.inbox().poll_hits() == 50);
  CHECK(p.a.inbox().poll_hits() == 50);
  CHECK(p.b.inbox().poll_errors() == 0);
  CHECK(p.a.inbox().fetches() + p.b.inbox().fetches() == fetches); // each poll hit was the body: no GET after
  p.stop();
}

TEST_CASE("A poll for a key not there yet is a miss, also as S3's 403 without ListBucket; bad credentials are errors", "[node][chain]") {
  test::VirtualTime vt;
  Pair p;
  bool bad_signature = false;
  p.bucket.fault = [&](store::OpKind op, const std::string& key) -> std::optional<s3::Error> {
    if (op != store::OpKind::get) return std::nullopt;
    s3::Error e;
    e.kind = s3::Error::Kind::http;
    e.http_status = 403;
    if (bad_signature) e.code = "SignatureDoesNotMatch";
    else if (!p.bucket.objects().contains(key)) e.code = "AccessDenied"; // what AWS says for a missing key
    else return std::nullopt;
    return e;
  };
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, "one"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  REQUIRE(p.run_until([&] { return p.b.inbox().poll_misses() > 3; })); // b polls a's announced key
  p.dev_a.inject(ipv6_packet(kA, kB, "two"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 2; }));
  CHECK(p.b.inbox().poll_hits() == 1);
  CHECK(p.b.inbox().poll_errors() == 0);
  CHECK(p.b.metrics().s3_errors.empty());
  bad_signature = true;
  REQUIRE(p.run_until([&] { return p.b.inbox().poll_errors() > 0; }));
  CHECK(p.b.metrics().s3_errors.count({"get", "SignatureDoesNotMatch"}) == 1);
  p.stop();
}

TEST_CASE("An object lost at its announced key breaks the chain; LIST finds what follows", "[node][chain]") {
  test::VirtualTime vt;
  auto ca = config(kA), cb = config(kB);
  cb.ingress.chained_list_interval = 300ms;
  Pair p(std::move(ca), std::move(cb));
  int puts = 0;
  bool lists_down = false;
  p.bucket.fault = [&](store::OpKind op, const std::string&) -> std::optional<s3::Error> {
    s3::Error e;
    e.kind = s3::Error::Kind::http;
    if (op == store::OpKind::put && ++puts == 2) { // the second object's PUT is refused for good
      e.http_status = 400;
      e.code = "InvalidRequest";
      return e;
    }
    if (op == store::OpKind::list && lists_down) { // so that only a poll can find "four"
      e.http_status = 503;
      e.code = "SlowDown";
      return e;
    }
    return std::nullopt;
  };
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, "one"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  p.dev_a.inject(ipv6_packet(kA, kB, "two"));
  REQUIRE(p.run_until([&] { return p.a.metrics().dropped.count("s3_put_failed") == 1; }));
  p.dev_a.inject(ipv6_packet(kA, kB, "three")); // at a key only "two" announced
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 2; }));
  CHECK(p.b.inbox().poll_misses() > 0);  // B waited at the lost object's key until a LIST found "three"
  CHECK(p.b.inbox().poll_hits() == 0);
  lists_down = true;
  p.dev_a.inject(ipv6_packet(kA, kB, "four"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 3; }));
  CHECK(payloads(p.dev_b.written()) == std::vector<std::string>{"one", "three", "four"});
  CHECK(p.b.inbox().poll_hits() == 1);  // "three" announced "four": the chain goes on
  p.stop();
}

TEST_CASE("Deletes are batched: consumed objects wait for the next DeleteObjects, and are not delivered twice", "[node][delete]") {
  test::VirtualTime vt;
  auto cb = config(kB);
  cb.ingress.delete_interval = 1h; // after the first, no DeleteObjects until the node stops
  Pair p(config(kA), std::move(cb));
  p.start();
  std::vector<std::string> sent;
  for (int i = 0; i < 20; ++i) {
    sent.push_back("one of many " + std::to_string(i));
    p.dev_a.inject(ipv6_packet(kA, kB, sent.back()));
    REQUIRE(p.run_until([&] { return p.dev_b.written().size() == sent.size(); })); // an object each
  }
  auto lists = p.bucket.requests(store::OpKind::list);
  REQUIRE(p.run_until([&] { return p.bucket.requests(store::OpKind::list) > lists + 5; })); // B sees them again
  CHECK(payloads(p.dev_b.written()) == sent);
  CHECK(p.bucket.requests(store::OpKind::remove) == 1); // the first went at once, the rest wait
  CHECK(messages(p.bucket).size() >= 19);
  p.stop(); // on the way out, what is pending is deleted
  CHECK(p.bucket.requests(store::OpKind::remove) == 2);
  CHECK(messages(p.bucket).empty());
}

TEST_CASE("Pipelined PUTs that land out of order are delivered in order", "[node][order]") {
  test::VirtualTime vt;
  auto ca = config(kA);
  ca.bundler.max_bundle_packets = 1; // every packet is a full bundle: up to 4 PUTs in flight at once
  Pair p(std::move(ca), config(kB));
  bool first = true;
  p.bucket.put_delay = [&](const std::string&) {
    // The first PUT lands 80 ms late: the three started behind it are visible before it.
    return std::exchange(first, false) ? std::chrono::microseconds(80ms) : std::chrono::microseconds(0);
  };
  p.start();
  std::vector<std::string> sent;
  for (int i = 0; i < 8; ++i) {
    // Small ones travel in the key, large ones in a body: both kinds must wait their turn.
    sent.push_back((i % 2 ? std::string(1500, 'L') : std::string("small ")) + std::to_string(i));
    p.dev_a.inject(ipv6_packet(kA, kB, sent.back()));
  }
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == sent.size(); }));
  CHECK(payloads(p.dev_b.written()) == sent);
  CHECK(p.a.metrics().egress.objects == 8);
  CHECK(p.b.inbox().held() >= 1);
  CHECK(p.b.inbox().hold_expired() == 0);
  CHECK(p.b.inbox().out_of_order() == 0);
  p.stop();
}

TEST_CASE("Sealed inline keys: a writer without the key can neither move nor replay them", "[node][inline][psk]") {
  test::VirtualTime vt;
  Pair p(with_psk(kA, 'k'), with_psk(kB, 'k'));
  std::optional<std::string> captured;
  p.bucket.fault = [&](store::OpKind op, const std::string& key) -> std::optional<s3::Error> {
    if (op == store::OpKind::remove && !captured) captured = key;
    return std::nullopt;
  };
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, "original"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1 && messages(p.bucket).empty() && captured; }));
  CHECK(p.b.inbox().fetches() == 0); // GETs were only B's polls for A's next key
  auto original = core::parse_key("hoshino", *captured);
  REQUIRE(original);
  REQUIRE_FALSE(original->inline_body.empty());
  CHECK(original->inline_body.find("original") == std::string::npos); // sealed: not readable in the key
  p.bucket.objects()[*captured] = "";                                  // replay: already consumed
  core::UlidGenerator gen([] { return 99; });
  auto moved = *original;
  moved.id = gen.next(original->id.time_ms() + 1);
  p.bucket.objects()[core::format_key("hoshino", moved)] = ""; // moved to a new ULID: the seal fails
  REQUIRE(p.run_until([&] { return messages(p.bucket).empty(); }));
  CHECK(p.b.inbox().dropped(core::DropReason::bad_seal) == 1);
  CHECK(p.dev_b.written().size() == 1);
  p.stop();
}

TEST_CASE("An inbox backlog of thousands of objects drains in bounded chunks, in order", "[node][flood]") {
  test::VirtualTime vt;
  asio::io_context io;
  store::MemoryStore bucket{io, 100us};
  core::UlidGenerator gen([] { return 3; });
  auto now = wall_ms();
  constexpr int kBacklog = 6000;
  for (int i = 0; i < kBacklog; ++i)
    bucket.objects()[core::format_key("hoshino", {kB, kA, gen.next(now)})] =
        core::encode_bundle({ipv6_packet(kA, kB, std::to_string(i))});
  device::MemoryDevice dev{io, 8192};
  node::Node b{io, dev, bucket, config(kB)};
  Running running(io, b);
  std::size_t max_tracked = 0;
  run_until(io, [&] {
    max_tracked = std::max(max_tracked, b.inbox().tracked());
    return dev.written().size() >= kBacklog;
  }, 60s);
  REQUIRE(dev.written().size() == kBacklog);
  for (int i = 0; i < kBacklog; ++i) REQUIRE(payload_of(dev.written()[static_cast<std::size_t>(i)]) == std::to_string(i));
  CHECK(max_tracked <= 1000); // one LIST page at a time: memory does not grow with the backlog
  CHECK(b.metrics().s3_requests[static_cast<int>(store::OpKind::list)] >= kBacklog / 1000);
  running.stop();
}

TEST_CASE("An egress flood against a slow bucket stays within the queue bound; drops are counted", "[node][flood]") {
  test::VirtualTime vt;
  asio::io_context io;
  // Slow PUTs, one at a time: ~1.3 MB/s drains the queue, far below any speed the packets are offered at
  // (even under sanitizers), so the queue must absorb and then shed.
  store::MemoryStore bucket{io, 200ms};
  device::MemoryDevice dev_a{io, 100000}, dev_b{io};
  auto ca = config(kA);
  ca.bundler.max_in_flight = 1;
  ca.bundler.max_queue_bytes = 1 << 20;
  ca.bundler.max_bundle_bytes = 256 << 10;
  node::Node a{io, dev_a, bucket, ca};
  Running running(io, a);
  constexpr int kPackets = 20000; // 20 MB offered within a few ms
  for (int i = 0; i < kPackets; ++i) REQUIRE(dev_a.inject(ipv6_packet(kA, kB, std::string(960, 'f'))));
  auto settled = [&] {
    auto m = a.metrics();
    auto dropped = m.dropped.count("queue_full") ? m.dropped.at("queue_full") : 0;
    return m.egress.packets + dropped == kPackets;
  };
  REQUIRE(run_until(io, settled, 30s));
  CHECK(a.metrics().dropped.at("queue_full") > 0);
  CHECK(a.metrics().egress.packets > 0); // nothing lost silently: forwarded + counted drops = offered
  running.stop();
}

// --- Inbox integrity: a bucket writer without the key, deletes refused, restarts, outages -------------

namespace {

std::string temp_state_dir() {
  char tmpl[] = "/tmp/hoshino-node-state.XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  return tmpl;
}

} // namespace

TEST_CASE("A node killed and restarted does not deliver again what it delivered before", "[node][replay]") {
  test::VirtualTime vt;
  auto dir = temp_state_dir();
  std::vector<std::pair<std::string, core::Bytes>> sent; // every object A wrote into B's inbox
  std::vector<std::string> first_life;
  const std::uint64_t life_start = wall_ms();
  {
    asio::io_context io;
    store::MemoryStore bucket{io, 300us};
    bucket.on_put = [&](const std::string& key, const core::Bytes& body) { sent.emplace_back(key, body); };
    device::MemoryDevice dev_a{io}, dev_b{io};
    auto state = node::StateDir::open(dir);
    REQUIRE(state);
    auto cb = config(kB);
    cb.state_dir = &*state;
    node::Node a{io, dev_a, bucket, config(kA)}, b{io, dev_b, bucket, cb};
    Running ra(io, a), rb(io, b);
    for (int i = 0; i < 5; ++i) {
      dev_a.inject(ipv6_packet(kA, kB, "ping " + std::to_string(i)));
      REQUIRE(run_until(io, [&] { return dev_b.written().size() == static_cast<std::size_t>(i) + 1; }));
    }
    first_life = payloads(dev_b.written());
    // kill -9: B's loop simply never runs again (no stop, no flush, no last write of its state). A stops.
    rb.done = true; // not waited for
    ra.stop();
  } // the state directory's lock goes with the process
  REQUIRE(sent.size() == 5);

  asio::io_context io;
  store::MemoryStore bucket{io, 300us};
  for (const auto& [key, body] : sent) bucket.objects()[key] = body; // a writer re-PUTs all of them
  auto state = node::StateDir::open(dir);
  REQUIRE(state);
  auto cb = config(kB);
  cb.state_dir = &*state;
  device::MemoryDevice dev_b{io};
  // The restart comes at once, whatever the machine's speed: B's clock resumes where the first life
  // began, so every replayed object is within the startup grace and only the state can refuse it.
  auto resumed = [life_start, since = Clock::now()] {
    return life_start + static_cast<std::uint64_t>(
                            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count());
  };
  node::Node b{io, dev_b, bucket, cb, resumed};
  Running rb(io, b);
  REQUIRE(run_until(io, [&] { return messages(bucket).empty(); }));
  CHECK(dev_b.written().empty()); // within the 5 s startup grace: only the state stops them
  CHECK(b.inbox().dropped(core::DropReason::replayed) == 5);
  CHECK(first_life.size() == 5);
  rb.stop();
  std::filesystem::remove_all(dir);
}

TEST_CASE("With deletes refused, consumed objects do not hide new ones: LIST pages past them", "[node][delete]") {
  test::VirtualTime vt;
  asio::io_context io;
  store::MemoryStore bucket{io, 100us};
  bucket.undeletable = [](const std::string&) { return true; }; // a policy without s3:DeleteObject
  core::UlidGenerator gen([] { return 5; });
  auto now = wall_ms();
  constexpr int kOld = 1500; // more than a page
  for (int i = 0; i < kOld; ++i)
    bucket.objects()[core::format_key("hoshino", {kB, kA, gen.next(now)})] =
        core::encode_bundle({ipv6_packet(kA, kB, std::to_string(i))});
  device::MemoryDevice dev{io, 8192};
  node::Node b{io, dev, bucket, config(kB)};
  Running running(io, b);
  REQUIRE(run_until(io, [&] { return dev.written().size() == kOld; }, 30s));
  REQUIRE(run_until(io, [&] { return b.metrics().delete_failures >= kOld; }));
  // A new sender's object sorts after all of them (fd5e::c > fd5e::a).
  const core::Address kC = addr("fd5e::c");
  bucket.objects()[core::format_key("hoshino", {kB, kC, gen.next(wall_ms())})] =
      core::encode_bundle({ipv6_packet(kC, kB, "behind the backlog")});
  REQUIRE(run_until(io, [&] { return dev.written().size() == kOld + 1; }));
  CHECK(payload_of(dev.written().back()) == "behind the backlog");
  CHECK(b.metrics().inbox_listed >= kOld);
  CHECK(b.inbox().dropped(core::DropReason::replayed) == 0); // the handled memory skips them quietly
  running.stop();
}

TEST_CASE("Stopping while a GET is in flight neither delivers nor consumes that object", "[node][stop]") {
  test::VirtualTime vt;
  Pair p;
  p.bucket.fault = [&](store::OpKind op, const std::string&) -> std::optional<s3::Error> {
    if (op == store::OpKind::get) p.b.stop(); // SIGTERM arrives while the GET is under way
    return std::nullopt;
  };
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, std::string(1200, 'x'))); // too large to travel in the key
  REQUIRE(p.run_until([&] { return p.running == 1; }));         // B has stopped
  p.bucket.fault = nullptr;
  p.stop();
  CHECK(p.dev_b.written().empty());
  REQUIRE(messages(p.bucket).size() == 1); // still there for the next start
  CHECK(messages(p.bucket).begin()->first.starts_with("hoshino/" + kB.hex() + "/"));
  CHECK(p.b.inbox().dropped(core::DropReason::fetch_failed) == 0);
}

TEST_CASE("A SlowDown burst on GETs delays an object, it does not lose it", "[node][retry]") {
  test::VirtualTime vt;
  Pair p;
  int refusals = 0;
  p.bucket.fault = [&](store::OpKind op, const std::string&) -> std::optional<s3::Error> {
    if (op == store::OpKind::get && refusals < 6) {
      ++refusals;
      return store::http_error(503, "SlowDown");
    }
    return std::nullopt;
  };
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, std::string(1200, 'y')));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }, 20s));
  CHECK(refusals == 6);
  CHECK(p.b.inbox().dropped(core::DropReason::fetch_failed) == 0);
  p.stop();
}

TEST_CASE("An oversized object at an announced key is cut off, dropped and deleted", "[node][chain]") {
  test::VirtualTime vt;
  Pair p;
  std::optional<std::string> next_key;
  p.bucket.on_put = [&](const std::string& key, const core::Bytes& body) {
    auto k = core::parse_key("hoshino", key);
    if (!k || k->dst != kB || next_key) return;
    auto bundle = core::decode_body(k->inline_body.empty() ? body : k->inline_body);
    if (bundle && bundle->next) next_key = core::format_key("hoshino", {kB, kA, *bundle->next});
  };
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, "first"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1 && next_key; }));
  // A writer squats the announced key with more than any sender writes (the poll must not read it all).
  p.bucket.objects()[*next_key] = core::Bytes((16u << 20) + 1, 'z');
  REQUIRE(p.run_until([&] { return p.b.inbox().dropped(core::DropReason::oversized) == 1; }));
  REQUIRE(p.run_until([&] { return !p.bucket.objects().contains(*next_key); }));
  p.dev_a.inject(ipv6_packet(kA, kB, "second")); // the conversation goes on
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 2; }));
  p.stop();
}

TEST_CASE("A sender whose clock is two minutes behind is corrected by S3's Date, not dropped", "[node][clock]") {
  test::VirtualTime vt;
  auto with_clock = GENERATE(false, true);
  asio::io_context io;
  store::MemoryStore bucket{io, 300us};
  device::MemoryDevice dev_a{io}, dev_b{io};
  auto behind = [] { return wall_ms() - 120'000; };
  // What the S3 shell would feed it from Date headers: the bucket keeps real time.
  core::ClockOffset clock_a;
  for (int i = 0; i < 20; ++i) {
    std::uint64_t server = wall_ms() + static_cast<std::uint64_t>(i) * 77;
    clock_a.on_sample(server - 120'000 - 2, server - 120'000 + 2, server / 1000 * 1000);
  }
  auto ca = config(kA);
  if (with_clock) ca.clock = &clock_a;
  node::Node a{io, dev_a, bucket, ca, behind}, b{io, dev_b, bucket, config(kB)};
  Running ra(io, a), rb(io, b);
  dev_a.inject(ipv6_packet(kA, kB, "from the past"));
  if (with_clock) {
    REQUIRE(run_until(io, [&] { return dev_b.written().size() == 1; }));
    CHECK(b.inbox().dropped(core::DropReason::too_old) == 0);
  } else {
    REQUIRE(run_until(io, [&] { return b.inbox().dropped(core::DropReason::too_old) == 1; }));
    CHECK(dev_b.written().empty());
  }
  ra.stop();
  rb.stop();
}

TEST_CASE("Credentials S3 keeps calling expired stop the node with an error; a passing blip does not", "[node][credentials]") {
  test::VirtualTime vt;
  auto persistent = GENERATE(false, true);
  auto ca = config(kA), cb = config(kB);
  ca.expired_credentials_limit = cb.expired_credentials_limit = 300ms;
  Pair p(std::move(ca), std::move(cb));
  int expired_answers = persistent ? -1 : 2; // -1: forever
  p.bucket.fault = [&](store::OpKind, const std::string&) -> std::optional<s3::Error> {
    if (expired_answers == 0) return std::nullopt;
    if (expired_answers > 0) --expired_answers;
    return store::http_error(400, "ExpiredToken");
  };
  p.start();
  if (persistent) {
    REQUIRE(p.run_until([&] { return p.running < 2; }));
    CHECK_FALSE((p.a.fatal_error().empty() && p.b.fatal_error().empty()));
    CHECK((p.a.fatal_error() + p.b.fatal_error()).find("expired") != std::string::npos);
  } else {
    // Two answers say expired, then requests succeed (renewed in time): however long that took, no
    // ExpiredToken follows a success, so the node goes on. (A PUT that met the blip would be dropped:
    // ExpiredToken is not retried; the packet is sent after it.)
    REQUIRE(p.run_until([&] { return expired_answers == 0; }));
    p.dev_a.inject(ipv6_packet(kA, kB, "still here"));
    REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
    CHECK(p.a.fatal_error().empty());
    CHECK(p.b.fatal_error().empty());
  }
  p.stop();
}

TEST_CASE("An object held for a predecessor that never comes is released by the node's timer, not by a LIST", "[node][order]") {
  test::VirtualTime vt;
  asio::io_context io;
  store::MemoryStore bucket{io, 300us};
  core::UlidGenerator gen([] { return 9; });
  auto now = wall_ms();
  auto missing = gen.next(now - 20), id = gen.next(now - 10), next = gen.next(now);
  // It names a predecessor that never arrives. The node looks at its inbox every 5 s only, so a hold
  // released at a LIST would last 5 s instead of 500 ms.
  bucket.objects()[core::format_key("hoshino", {kB, kA, id})] =
      core::encode_bundle({ipv6_packet(kA, kB, "held")}, missing, next);
  auto cb = config(kB);
  cb.ingress.pace.min = cb.ingress.pace.max = 5s;
  device::MemoryDevice dev{io};
  node::Node b{io, dev, bucket, cb};
  Running running(io, b);
  REQUIRE(run_until(io, [&] { return b.inbox().held() == 1; }));
  auto lists = bucket.requests(store::OpKind::list);
  REQUIRE(run_until(io, [&] { return dev.written().size() == 1; }));
  CHECK(b.inbox().hold_expired() == 1);
  CHECK(bucket.requests(store::OpKind::list) == lists); // no LIST was needed to let it go
  running.stop();
}

TEST_CASE("A writer who squats an announced key cannot make the sender overwrite it or lose the packets", "[node][chain][psk]") {
  test::VirtualTime vt;
  auto ca = config(kA), cb = config(kB);
  ca.psk = cb.psk = core::Psk{42};
  Pair p(std::move(ca), std::move(cb));
  std::optional<std::string> next_key;
  p.bucket.on_put = [&](const std::string& key, const core::Bytes& body) {
    auto k = core::parse_key("hoshino", key);
    if (!k || k->dst != kB || next_key) return;
    auto plain = core::open_sealed(core::Psk{42}, key, body);
    if (!plain) return;
    auto bundle = core::decode_body(*plain);
    if (bundle && bundle->next) {
      next_key = core::format_key("hoshino", {kB, kA, *bundle->next});
      p.bucket.objects()[*next_key] = "HSNE\x01 the squatter's object"; // there before A's next PUT
    }
  };
  // B refuses and deletes the squatter's object at once; the squatter keeps it there (writes it again).
  p.bucket.undeletable = [&](const std::string& key) { return next_key && key == *next_key; };
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, std::string(1200, '1')));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1 && next_key; }));
  p.dev_a.inject(ipv6_packet(kA, kB, std::string(1200, '2')));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 2; }));
  CHECK(payload_of(p.dev_b.written()[1]) == std::string(1200, '2'));
  CHECK(p.a.metrics().squatted_keys == 1);
  CHECK(p.b.inbox().dropped(core::DropReason::bad_seal) == 1);
  CHECK(p.b.inbox().dropped(core::DropReason::replayed) == 0);
  p.stop();
}

namespace {

// Nodes with the default pace and doorbell (they go idle as on a real machine), over the fake bucket.
node::NodeConfig idle_config(const core::Address& self) {
  auto c = config(self);
  c.ingress.pace = core::PaceConfig{};
  c.ingress.bell = true;
  c.ring = true;
  return c;
}

std::uint64_t requests(const node::Node& n, store::OpKind op) {
  return n.metrics().s3_requests[static_cast<std::size_t>(op)];
}

} // namespace

TEST_CASE("An idle node watches its doorbell: no LISTs while idle, and a packet to it is delivered within the bell interval",
          "[node][bell]") {
  test::VirtualTime vt;
  Pair p(idle_config(kA), idle_config(kB));
  p.start();
  p.run_until([] { return false; }, 10s); // both go idle
  REQUIRE(p.b.schedule().idle(Clock::now()));
  auto lists = requests(p.b, store::OpKind::list), gets = requests(p.b, store::OpKind::get);
  p.run_until([] { return false; }, 60s);
  CHECK(requests(p.b, store::OpKind::list) == lists);
  CHECK(requests(p.b, store::OpKind::get) - gets == Approx(60 / 1.75).margin(2)); // one bell check each
  auto sent = Clock::now();
  p.dev_a.inject(ipv6_packet(kA, kB, "wake up"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  CHECK(Clock::now() - sent <= 1750ms + 50ms);
  CHECK(p.a.metrics().rings_sent == 1);
  CHECK(p.b.metrics().bells_found == 1);
  // The reply: B is awake and A heard nothing yet but sent just now, so it LISTs fast: no ring needed.
  auto replied = Clock::now();
  p.dev_b.inject(ipv6_packet(kB, kA, "awake"));
  REQUIRE(p.run_until([&] { return p.dev_a.written().size() == 1; }));
  CHECK(Clock::now() - replied < 100ms);
  CHECK(p.b.metrics().rings_sent == 0);
  p.stop();
}

TEST_CASE("Without the doorbell, an idle node LISTs every pace.max and a packet waits for that LIST", "[node][bell]") {
  test::VirtualTime vt;
  auto ca = idle_config(kA), cb = idle_config(kB);
  ca.ingress.bell = cb.ingress.bell = false;
  Pair p(std::move(ca), std::move(cb));
  p.start();
  p.run_until([] { return false; }, 20s);
  auto lists = requests(p.b, store::OpKind::list);
  p.run_until([] { return false; }, 60s);
  CHECK(requests(p.b, store::OpKind::list) - lists == Approx(12).margin(1));
  CHECK(p.a.metrics().rings_sent == 0);
}

TEST_CASE("A writer who rings a bell all the time costs the idle node a bounded number of LISTs", "[node][bell][hostile]") {
  test::VirtualTime vt;
  Pair p(idle_config(kA), idle_config(kB));
  p.start();
  p.run_until([] { return false; }, 10s);
  REQUIRE(p.b.schedule().idle(Clock::now()));
  auto lists = requests(p.b, store::OpKind::list);
  // Someone with write access to the bell rewrites it every 10 ms for ten minutes, never with an object.
  auto bell = core::bell_key("hoshino", kB);
  int n = 0;
  for (int step = 0; step < 60'000; ++step) {
    auto junk = "junk " + std::to_string(n++);
    p.bucket.objects()[bell] = core::Bytes(junk.begin(), junk.end());
    p.run_until([] { return false; }, 10ms);
  }
  auto spent = requests(p.b, store::OpKind::list) - lists;
  CHECK(spent <= 4 + 600 / 30 + 1); // the burst, then one per 30 s
  CHECK(spent >= 600 / 30);
  CHECK(p.b.metrics().bells_empty == spent);
  CHECK(p.b.metrics().bells_limited > 0);
  CHECK(p.b.schedule().idle(Clock::now())); // junk never made it LIST at the fast pace
  // A real packet still gets through (its ring may wait for the limit, at most 30 s).
  p.dev_a.inject(ipv6_packet(kA, kB, "through the noise"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }, 40s));
  p.stop();
}

TEST_CASE("On a server that ignores If-None-Match the doorbell compares ETags itself", "[node][bell]") {
  test::VirtualTime vt;
  Pair p(idle_config(kA), idle_config(kB));
  p.bucket.conditional_gets = false;
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, "make the bell"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  p.run_until([] { return false; }, 20s);
  REQUIRE(p.b.schedule().idle(Clock::now()));
  auto lists = requests(p.b, store::OpKind::list);
  p.run_until([] { return false; }, 60s);
  CHECK(requests(p.b, store::OpKind::list) == lists); // an unchanged bell is not a ring
  auto sent = Clock::now();
  p.dev_a.inject(ipv6_packet(kA, kB, "again"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 2; }));
  CHECK(Clock::now() - sent <= 1750ms + 50ms);
  p.stop();
}

// --- Presence: who is there, and packets to nobody -------------------------------------------------

namespace {

// A key pair per address, the same for the whole test run (as a node's private.key).
const core::KeyPair& identity_of(const core::Address& a) {
  static std::map<core::Address, core::KeyPair> keys;
  auto it = keys.find(a);
  if (it == keys.end()) it = keys.emplace(a, core::generate_key_pair()).first;
  return it->second;
}

std::string presence_of(const core::Address& a) { return core::presence_key("hoshino", a, identity_of(a).public_key); }

// As the app runs a node: presence records, and objects sealed per pair of nodes.
node::NodeConfig presence_config(const core::Address& self) {
  auto c = config(self);
  c.presence = true;
  c.identity = identity_of(self);
  c.hostname = "host-" + self.str();
  c.version = "test";
  return c;
}

const core::Address kNobody = addr("fd5e::dead");

bool is_unreachable_for(const core::Bytes& packet, const core::Address& to) {
  auto h = core::parse_ipv6(packet);
  return h && h->next_header == 58 && h->dst == to && packet.size() > 48 && static_cast<std::uint8_t>(packet[40]) == 1 &&
         static_cast<std::uint8_t>(packet[41]) == 3;
}

std::size_t inbox_objects(store::MemoryStore& bucket, const core::Address& dst) {
  std::size_t n = 0;
  auto prefix = core::inbox_prefix("hoshino", dst);
  for (const auto& [key, body] : bucket.objects()) n += key.starts_with(prefix);
  return n;
}

} // namespace

TEST_CASE("A packet to an address nobody holds is answered with ICMPv6 unreachable, not PUT", "[node][presence]") {
  test::VirtualTime vt;
  Pair p(presence_config(kA), presence_config(kB));
  std::size_t puts_to_nobody = 0;
  p.bucket.on_put = [&](const std::string& key, const core::Bytes&) {
    puts_to_nobody += key.starts_with(core::inbox_prefix("hoshino", kNobody));
  };
  p.start();
  REQUIRE(p.run_until([&] {
    return p.bucket.objects().count(presence_of(kA)) && p.bucket.objects().count(presence_of(kB));
  }));
  auto record = core::parse_presence(p.bucket.objects().at(presence_of(kB)), kB);
  REQUIRE(record);
  CHECK(record->hostname == "host-fd5e::b");
  p.dev_a.inject(ipv6_packet(kA, kNobody, "anyone?"));
  p.dev_a.inject(ipv6_packet(kA, kB, "hello b"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1 && p.dev_a.written().size() == 1; }));
  CHECK(payload_of(p.dev_b.written()[0]) == "hello b");
  REQUIRE(is_unreachable_for(p.dev_a.written()[0], kA));
  CHECK(p.dev_a.written()[0].substr(48) == ipv6_packet(kA, kNobody, "anyone?"));
  CHECK(puts_to_nobody == 0);
  CHECK(inbox_objects(p.bucket, kNobody) == 0);
  CHECK(p.a.metrics().dropped.at("no_peer") == 1);
  CHECK(p.a.metrics().unreachable_sent == 1);
  CHECK(p.a.metrics().peer_listings == 1); // one listing answered both packets

  // A scan of a thousand absent addresses: no PUT, a bounded number of listings and ICMPv6 errors.
  for (int i = 0; i < 1000; ++i) {
    auto dst = kNobody;
    dst.bytes[12] = 0x77;
    dst.bytes[14] = static_cast<std::uint8_t>(i >> 8);
    dst.bytes[15] = static_cast<std::uint8_t>(i);
    p.dev_a.inject(ipv6_packet(kA, dst, "scan"));
  }
  REQUIRE(p.run_until([&] { return p.a.metrics().dropped.at("no_peer") == 1001; }));
  CHECK(puts_to_nobody == 0);
  CHECK(p.a.metrics().peer_listings <= 2);
  CHECK(p.a.metrics().unreachable_sent + p.a.metrics().unreachable_limited == 1001);
  CHECK(p.a.metrics().unreachable_sent <= 11); // the burst of 10 (and what refilled meanwhile)
  p.stop();
}

TEST_CASE("Presence records are written at start and removed on a clean stop", "[node][presence]") {
  test::VirtualTime vt;
  Pair p(presence_config(kA), presence_config(kB));
  p.start();
  REQUIRE(p.run_until([&] { return p.bucket.objects().count(presence_of(kA)) == 1; }));
  CHECK(p.a.metrics().presence_writes == 1);
  p.stop();
  CHECK(p.bucket.objects().count(presence_of(kA)) == 0);
  CHECK(p.bucket.objects().count(presence_of(kB)) == 0);
}

TEST_CASE("A node without a presence record is reached once it has sent; a failed listing loses nothing", "[node][presence]") {
  test::VirtualTime vt;
  auto cb = config(kB); // an older node: publishes nothing (and, like A here, seals nothing)
  auto ca = presence_config(kA);
  ca.identity.reset();
  Pair p(ca, cb);
  // B's "kernel" answers; A's first packet to B comes only after B spoke.
  p.dev_b.on_write = [&](const core::Bytes& pkt) { p.dev_b.inject(ipv6_packet(kB, kA, "re: " + payload_of(pkt))); };
  p.start();
  p.dev_b.inject(ipv6_packet(kB, kA, "hi a"));
  REQUIRE(p.run_until([&] { return p.dev_a.written().size() == 1; }));
  p.dev_a.inject(ipv6_packet(kA, kB, "hi b"));
  REQUIRE(p.run_until([&] { return p.dev_a.written().size() == 2; }));
  CHECK(payload_of(p.dev_a.written()[1]) == "re: hi b");
  CHECK(p.a.metrics().peer_listings == 0); // heard from: no listing needed
  CHECK_FALSE(p.a.metrics().dropped.count("no_peer"));

  // The presence listing fails: the packet to an unknown address is sent anyway (no proof of absence).
  p.bucket.fault = [](store::OpKind op, const std::string& key) -> std::optional<s3::Error> {
    if (op == store::OpKind::list && key.starts_with("hoshino/peers/")) return store::http_error(503, "SlowDown");
    return std::nullopt;
  };
  p.dev_a.inject(ipv6_packet(kA, kNobody, "maybe there"));
  REQUIRE(p.run_until([&] { return inbox_objects(p.bucket, kNobody) == 1; }));
  CHECK(p.a.metrics().peer_listing_failures == 1);
  CHECK_FALSE(p.a.metrics().dropped.count("no_peer"));
  p.stop();
}

TEST_CASE("A presence listing reads on while pages say truncated, however short they are", "[node][presence][listing]") {
  test::VirtualTime vt;
  Pair p(presence_config(kA), presence_config(kB));
  // S3 may answer fewer keys than max-keys with IsTruncated=true: such a page is no proof that the rest
  // of the listing is empty (before, a short page ended it, and B behind the junk was "absent").
  p.bucket.page_limit = 2;
  for (int i = 1; i <= 5; ++i) { // records of addresses that sort before B's
    auto junk = core::presence_key("hoshino", addr(("fd5e::" + std::to_string(i)).c_str()), core::generate_key_pair().public_key);
    p.bucket.objects().emplace(junk, core::Bytes{});
  }
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, "hi b"));
  REQUIRE(p.run_until([&] { return p.dev_b.written().size() == 1; }));
  CHECK(payload_of(p.dev_b.written()[0]) == "hi b");
  CHECK_FALSE(p.a.metrics().dropped.count("no_peer"));
  CHECK(p.a.peers().key_of(kB) == identity_of(kB).public_key);
  p.stop();
}

TEST_CASE("Many busy destinations stay within the node-wide bounds", "[node][flood]") {
  test::VirtualTime vt;
  asio::io_context io;
  store::MemoryStore bucket{io, 50ms}; // slow PUTs: every destination's queue fills
  device::MemoryDevice dev_a{io, 100000};
  auto ca = config(kA);
  ca.bundler.max_queue_bytes = 1 << 20;       // per destination
  ca.bundler.max_total_queue_bytes = 4 << 20; // far below 50 × 1 MiB
  ca.bundler.max_total_in_flight = 8;
  ca.bundler.max_bundle_bytes = 64 << 10;
  node::Node a{io, dev_a, bucket, ca};
  std::size_t peak_in_flight = 0, in_flight = 0;
  bucket.put_delay = [&](const std::string&) {
    peak_in_flight = std::max(peak_in_flight, ++in_flight);
    return std::chrono::microseconds(0);
  };
  bucket.on_put = [&](const std::string&, const core::Bytes&) { --in_flight; };
  Running running(io, a);
  std::size_t peak_queued = 0;
  constexpr int kDestinations = 50, kPerDestination = 200;
  for (int i = 0; i < kPerDestination; ++i)
    for (int d = 0; d < kDestinations; ++d) {
      auto dst = addr(("fd5e::100:" + std::to_string(d)).c_str());
      REQUIRE(dev_a.inject(ipv6_packet(kA, dst, std::string(900, 'q'))));
    }
  auto settled = [&] {
    peak_queued = std::max<std::size_t>(peak_queued, a.metrics().queued_bytes);
    const auto& m = a.metrics();
    auto d = [&](const char* r) { return m.dropped.count(r) ? m.dropped.at(r) : 0; };
    return m.egress.packets + d("queue_full") + d("node_queue_full") == kDestinations * kPerDestination;
  };
  REQUIRE(run_until(io, settled, 60s));
  CHECK(peak_queued <= (4 << 20));
  CHECK(peak_in_flight <= 8);
  CHECK(a.metrics().dropped.at("node_queue_full") > 0);
  running.stop();
}

TEST_CASE("With identity keys, objects are sealed per pair; a node cannot seal as another", "[node][identity][hostile]") {
  test::VirtualTime vt;
  Pair p(presence_config(kA), presence_config(kB));
  p.dev_b.on_write = [&](const core::Bytes& pkt) { p.dev_b.inject(ipv6_packet(kB, kA, "re: " + payload_of(pkt))); };
  std::vector<std::pair<std::string, core::Bytes>> seen;
  p.bucket.on_put = [&](const std::string& key, const core::Bytes& body) { seen.emplace_back(key, body); };
  p.start();
  for (int i = 0; i < 5; ++i) {
    p.dev_a.inject(ipv6_packet(kA, kB, "ping " + std::to_string(i)));
    REQUIRE(p.run_until([&] { return p.dev_a.written().size() == static_cast<std::size_t>(i + 1); }));
    CHECK(payload_of(p.dev_a.written().back()) == "re: ping " + std::to_string(i));
  }
  // Nothing in the bucket carries a packet in the clear.
  for (const auto& [key, body] : seen) {
    INFO(key);
    CHECK(key.find(core::base64url_encode("ping")) == std::string::npos);
    CHECK(body.find("ping") == std::string::npos);
  }
  // C (a third node with its own key and bucket write access) writes into B's inbox as A: sealed with
  // the key C shares with B, under A's key id and under its own. Neither opens; nothing is delivered.
  auto kC = addr("fd5e::c");
  auto b_pub = identity_of(kB).public_key;
  auto cb = core::pair_key(identity_of(kC), kA, b_pub, kB, "hoshino", std::nullopt);
  REQUIRE(cb);
  std::size_t delivered = p.dev_b.written().size();
  core::UlidGenerator gen(crypto::random64);
  for (auto sender_kid : {core::key_id(identity_of(kA).public_key), core::key_id(identity_of(kC).public_key)}) {
    core::ObjectKey id{kB, kA, gen.next(wall_ms()), {}};
    auto object = core::encode_object("hoshino", id, {ipv6_packet(kA, kB, "forged")}, *cb, false,
                                      core::random_nonce(), {}, {}, {sender_kid, core::key_id(b_pub)});
    auto key = object.key;
    auto body = object.body;
    REQUIRE(p.bucket.objects().emplace(key, body).second);
  }
  auto refused = [&] {
    return p.b.inbox().dropped(core::DropReason::bad_seal) + p.b.inbox().dropped(core::DropReason::unknown_key);
  };
  REQUIRE(p.run_until([&] { return refused() == 2; }));
  CHECK(p.dev_b.written().size() == delivered);
  CHECK(p.b.inbox().dropped(core::DropReason::bad_seal) >= 1); // A's key id, but not A's key
  p.stop();
}

TEST_CASE("A key rotated during a ping stream loses no ping", "[node][identity][rotate]") {
  test::VirtualTime vt;
  Pair p(presence_config(kA), presence_config(kB));
  p.dev_b.on_write = [&](const core::Bytes& pkt) { p.dev_b.inject(ipv6_packet(kB, kA, "re: " + payload_of(pkt))); };
  p.start();
  auto new_b = core::generate_key_pair(), new_a = core::generate_key_pair();
  for (int i = 0; i < 40; ++i) {
    if (i == 10) p.b.rotate_identity(new_b);
    if (i == 25) p.a.rotate_identity(new_a);
    p.dev_a.inject(ipv6_packet(kA, kB, "ping " + std::to_string(i)));
    // Each reply before the next ping, within a second (virtual): none lost, none waiting for long.
    INFO("ping " << i);
    REQUIRE(p.run_until([&] { return p.dev_a.written().size() == static_cast<std::size_t>(i + 1); }, 1s));
    CHECK(payload_of(p.dev_a.written().back()) == "re: ping " + std::to_string(i));
    p.run_until([] { return false; }, 200ms); // a ping every 200 ms
  }
  for (auto* n : {&p.a, &p.b}) {
    CHECK(n->inbox().dropped(core::DropReason::bad_seal) == 0);
    CHECK(n->inbox().dropped(core::DropReason::unknown_key) == 0);
  }
  // Each node is listed with its new key only; its peer saw the change (logged, counted).
  REQUIRE(p.run_until([&] {
    return p.bucket.objects().count(core::presence_key("hoshino", kB, new_b.public_key)) == 1 &&
           p.bucket.objects().count(core::presence_key("hoshino", kA, new_a.public_key)) == 1;
  }));
  CHECK(p.bucket.objects().count(presence_of(kA)) == 0);
  CHECK(p.bucket.objects().count(presence_of(kB)) == 0);
  CHECK(p.a.metrics().peer_key_changes >= 1);
  CHECK(p.b.metrics().peer_key_changes >= 1);
  // The peer view (`hoshino show`): B with its new key, traffic both ways, a round trip.
  auto view = p.a.render_show();
  INFO(view);
  CHECK(view.find("node: fd5e::a\n  public key: " + core::key_to_base64(new_a.public_key)) == 0);
  CHECK(view.find("peer: fd5e::b\n  key: " + core::fingerprint(new_b.public_key) + "… (trusted on first use)") !=
        std::string::npos);
  CHECK(view.find("received in 40 objects") != std::string::npos);
  CHECK(view.find("sent in 40 objects") != std::string::npos);
  CHECK(view.find("round trip: ") != std::string::npos);
  const auto& stats = p.a.metrics().peers.peers().at(kB);
  CHECK(stats.objects_in == 40);
  REQUIRE(stats.rtt);
  CHECK(*stats.rtt > 0ms);
  CHECK(*stats.rtt < 1s);
  p.stop();
}

TEST_CASE("A forged presence record for a node changes nothing: traffic goes on under its real key", "[node][identity][hostile]") {
  test::VirtualTime vt;
  Pair p(presence_config(kA), presence_config(kB));
  p.dev_b.on_write = [&](const core::Bytes& pkt) { // answers A's packets (not its own ICMPv6 errors)
    if (core::parse_ipv6(pkt)->src == kA) p.dev_b.inject(ipv6_packet(kB, kA, "re: " + payload_of(pkt)));
  };
  p.start();
  p.dev_a.inject(ipv6_packet(kA, kB, "before"));
  REQUIRE(p.run_until([&] { return p.dev_a.written().size() == 1; }));
  // A writer publishes a record for A under a key of his own; B lists again (a packet to nobody).
  auto forged = core::generate_key_pair();
  p.bucket.objects()[core::presence_key("hoshino", kA, forged.public_key)] =
      core::format_presence({kA, "evil", "x", 1});
  auto listings = p.b.metrics().peer_listings;
  p.run_until([] { return false; }, 6s); // past the last listing's answer for absent addresses
  p.dev_b.inject(ipv6_packet(kB, kNobody, "scan"));
  REQUIRE(p.run_until([&] { return p.b.metrics().peer_listings > listings; }));
  CHECK(p.b.peers().key_of(kA) == identity_of(kA).public_key);
  CHECK(p.b.peers().ambiguous() >= 1);
  for (int i = 0; i < 5; ++i) {
    p.dev_a.inject(ipv6_packet(kA, kB, "after " + std::to_string(i)));
    REQUIRE(p.run_until([&] { return p.dev_a.written().size() == static_cast<std::size_t>(i + 2); }, 2s));
    CHECK(payload_of(p.dev_a.written().back()) == "re: after " + std::to_string(i));
  }
  CHECK(p.b.metrics().peer_key_changes == 0);
  p.stop();
}

TEST_CASE("An object from a node that started after the receiver's last listing waits for its key, then is delivered",
          "[node][identity]") {
  test::VirtualTime vt;
  asio::io_context io;
  store::MemoryStore bucket{io, 300us};
  device::MemoryDevice dev_b{io}, dev_c{io};
  const auto kC = addr("fd5e::c");
  node::Node b{io, dev_b, bucket, presence_config(kB)};
  Running rb(io, b);
  // B lists the directory (a packet to nobody) before C exists.
  dev_b.inject(ipv6_packet(kB, kNobody, "anyone"));
  REQUIRE(run_until(io, [&] { return b.metrics().peer_listings == 1; }));
  run_until(io, [] { return false; }, 3s);
  node::Node c{io, dev_c, bucket, presence_config(kC)};
  Running rc(io, c);
  REQUIRE(dev_b.written().size() == 1); // the ICMPv6 answer for "anyone"
  dev_c.inject(ipv6_packet(kC, kB, "hello from c"));
  REQUIRE(run_until(io, [&] { return dev_b.written().size() == 2; }, 5s));
  CHECK(payload_of(dev_b.written()[1]) == "hello from c");
  CHECK(b.inbox().key_waits() >= 1);      // it waited for C's key ...
  CHECK(b.metrics().peer_listings >= 2);  // ... which a second listing brought
  CHECK(b.inbox().dropped(core::DropReason::unknown_key) == 0);
  rc.stop();
  rb.stop();
}

TEST_CASE("Objects from a sender outside the /64 are refused before any GET", "[node][hostile]") {
  test::VirtualTime vt;
  Pair p;
  p.start();
  core::UlidGenerator gen([] { return 3; });
  auto outsider = addr("fd99::1");
  core::ObjectKey id{kB, outsider, gen.next(wall_ms()), {}};
  p.bucket.objects()[core::base_key("hoshino", id)] = "junk body";
  REQUIRE(p.run_until([&] { return p.b.inbox().dropped(core::DropReason::malformed_key) == 1; }));
  CHECK(p.bucket.requests(store::OpKind::get) == 0);
  p.stop();
}

TEST_CASE("Four nodes in one bucket: all pairs, fan-in to one, sealed per pair; a stopped node becomes unreachable",
          "[node][identity][fleet]") {
  test::VirtualTime vt;
  asio::io_context io;
  store::MemoryStore bucket{io, 300us};
  const std::vector<core::Address> addrs{addr("fd5e::1"), addr("fd5e::2"), addr("fd5e::3"), addr("fd5e::4")};
  std::vector<std::unique_ptr<device::MemoryDevice>> devs;
  std::vector<std::unique_ptr<node::Node>> nodes;
  std::vector<std::unique_ptr<Running>> running;
  for (const auto& a : addrs) {
    devs.push_back(std::make_unique<device::MemoryDevice>(io));
    nodes.push_back(std::make_unique<node::Node>(io, *devs.back(), bucket, presence_config(a)));
  }
  for (auto& n : nodes) running.push_back(std::make_unique<Running>(io, *n));
  auto from = [](const core::Bytes& p) { return core::parse_ipv6(p)->src; };
  // All ordered pairs: 3 packets from each node to each other one, all at once.
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 4; ++j)
      if (i != j)
        for (int k = 0; k < 3; ++k) devs[i]->inject(ipv6_packet(addrs[i], addrs[j], "m" + std::to_string(k)));
  REQUIRE(run_until(io, [&] {
    for (auto& d : devs)
      if (d->written().size() < 9) return false;
    return true;
  }));
  for (std::size_t j = 0; j < 4; ++j) {
    std::map<core::Address, std::vector<std::string>> got;
    for (const auto& p : devs[j]->written()) got[from(p)].push_back(payload_of(p));
    CHECK(got.size() == 3);
    for (const auto& [src, payloads] : got) CHECK(payloads == std::vector<std::string>{"m0", "m1", "m2"}); // in order
  }
  // Fan-in: three senders, 200 packets each, to node 1 at once; every one arrives, in order per sender.
  const std::size_t before = devs[0]->written().size();
  for (int k = 0; k < 200; ++k)
    for (std::size_t i = 1; i < 4; ++i) devs[i]->inject(ipv6_packet(addrs[i], addrs[0], std::to_string(k)));
  REQUIRE(run_until(io, [&] { return devs[0]->written().size() == before + 600; }));
  std::map<core::Address, int> next;
  for (std::size_t k = before; k < devs[0]->written().size(); ++k) {
    const auto& p = devs[0]->written()[k];
    CHECK(payload_of(p) == std::to_string(next[from(p)]++));
  }
  CHECK(next.size() == 3);
  for (auto& n : nodes) {
    CHECK(n->inbox().dropped(core::DropReason::bad_seal) == 0);
    CHECK(n->inbox().dropped(core::DropReason::unknown_key) == 0);
  }
  // Node 4 stops cleanly (its record goes); once node 1's knowledge of it expires, a packet to it is
  // answered unreachable instead of being PUT into an inbox nobody reads.
  running[3]->stop();
  run_until(io, [] { return false; }, 11min);
  const std::size_t seen = devs[0]->written().size();
  devs[0]->inject(ipv6_packet(addrs[0], addrs[3], "still there?"));
  REQUIRE(run_until(io, [&] { return devs[0]->written().size() == seen + 1; }));
  CHECK(is_unreachable_for(devs[0]->written().back(), addrs[0]));
  for (std::size_t i = 0; i < 3; ++i) running[i]->stop();
}

TEST_CASE("A presence record that could not be written is written again within a minute", "[node][presence]") {
  test::VirtualTime vt;
  Pair p(presence_config(kA), presence_config(kB));
  bool refuse = true;
  p.bucket.fault = [&](store::OpKind op, const std::string& key) -> std::optional<s3::Error> {
    if (refuse && op == store::OpKind::put && key.starts_with("hoshino/peers/")) return store::http_error(503, "SlowDown");
    return std::nullopt;
  };
  p.start();
  p.run_until([] { return false; }, 2s);
  CHECK(p.bucket.objects().count(presence_of(kA)) == 0);
  CHECK(p.a.metrics().presence_write_failures == 1);
  refuse = false;
  REQUIRE(p.run_until([&] { return p.bucket.objects().count(presence_of(kA)) == 1; }, 70s));
  CHECK(p.a.metrics().presence_writes == 1);
  p.stop();
}

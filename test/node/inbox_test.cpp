// The inbox: the chain of announced keys, LIST as the fallback, batched deletes, restarts.
#include "node/harness.hpp"

using namespace hoshino;
using namespace hoshino::node_test;

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
  constexpr int kOld = 1500; // more than a page
  fill_inbox(bucket, gen, kOld);
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

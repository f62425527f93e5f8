#include "node/metrics.hpp"

#include <catch2/catch.hpp>

using namespace hoshino;

TEST_CASE("Prometheus rendering uses the documented names and labels", "[metrics]") {
  node::Metrics m;
  m.egress = {10, 1000, 2, 1};
  m.ingress = {7, 700, 1};
  m.dropped["s3_put_failed"] = 3;
  m.ignored["multicast"] = 4;
  m.request(store::OpKind::put);
  m.request(store::OpKind::list);
  m.request(store::OpKind::list);
  m.error(store::OpKind::list, "SlowDown");
  m.beat_interval_seconds = 0.25;
  m.bells_found = 2;
  m.bells_empty = 5;
  m.bells_limited = 1;
  m.rings_sent = 7;
  m.ring_failures = 3;
  auto text = node::render_prometheus(m, nullptr, "1.2.3", 1700000000.5);
  for (const char* line : {
           "hoshino_packets_total{direction=\"egress\"} 10\n",
           "hoshino_packets_total{direction=\"ingress\"} 7\n",
           "hoshino_bytes_total{direction=\"egress\"} 1000\n",
           "hoshino_objects_total{direction=\"ingress\"} 1\n",
           "hoshino_objects_inlined_total{direction=\"egress\"} 1\n",
           "hoshino_packets_dropped_total{reason=\"s3_put_failed\"} 3\n",
           "hoshino_packets_ignored_total{reason=\"multicast\"} 4\n",
           "hoshino_s3_requests_total{op=\"put\"} 1\n",
           "hoshino_s3_requests_total{op=\"list\"} 2\n",
           "hoshino_s3_requests_total{op=\"get\"} 0\n",
           "hoshino_s3_requests_total{op=\"delete\"} 0\n",
           "hoshino_s3_errors_total{op=\"list\",code=\"SlowDown\"} 1\n",
           "hoshino_beat_interval_seconds 0.25\n",
           "hoshino_poll_interval_seconds 0.25\n", // the deprecated name, for one release
           "hoshino_bells_total{outcome=\"found\"} 2\n",
           "hoshino_bells_total{outcome=\"empty\"} 5\n",
           "hoshino_bells_rate_limited_total 1\n",
           "hoshino_rings_total{result=\"sent\"} 7\n",
           "hoshino_rings_total{result=\"failed\"} 3\n",
           "hoshino_build_info{version=\"1.2.3\"} 1\n",
           "process_start_time_seconds 1700000000.500\n",
           "# TYPE hoshino_packets_total counter\n",
           "# TYPE hoshino_beat_interval_seconds gauge\n",
           "# HELP hoshino_poll_interval_seconds Deprecated: hoshino_beat_interval_seconds (this name goes in the next release).\n",
       }) {
    INFO(line);
    CHECK(text.find(line) != std::string::npos);
  }
  CHECK(text.find("process_resident_memory_bytes ") != std::string::npos);
  // With an inbox, its counters too.
  core::Inbox inbox(core::InboxConfig{});
  auto with_inbox = node::render_prometheus(m, &inbox, "1.2.3", 1700000000.5);
  CHECK(with_inbox.find("hoshino_objects_out_of_order_total 0\n") != std::string::npos);
  CHECK(with_inbox.find("hoshino_polls_total{result=\"miss\"} 0\n") != std::string::npos);
  CHECK(with_inbox.find("hoshino_packets_dropped_total{reason=\"bad_seal\"} 0\n") != std::string::npos);
  CHECK(node::resident_memory_bytes() > 0);
}

TEST_CASE("Per-peer series are on /metrics only when asked for (--metrics-peers)", "[metrics]") {
  node::Metrics m;
  m.peers.on_sent(*core::Address::parse("fd5e::b"), 100, Clock::now(), Clock::now());
  auto plain = node::render_prometheus(m, nullptr, "1.2.3", 1.0);
  CHECK(plain.find("peer=\"fd5e::b\"") == std::string::npos);
  CHECK(plain.find("hoshino_peer_table_forgotten_total") != std::string::npos); // the bound's counter stays
  auto detailed = node::render_prometheus(m, nullptr, "1.2.3", 1.0, true);
  CHECK(detailed.find("hoshino_peer_bytes_total{peer=\"fd5e::b\",direction=\"egress\"} 100") != std::string::npos);
}

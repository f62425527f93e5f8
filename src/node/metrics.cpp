#include "node/metrics.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <fstream>

namespace hoshino::node {

std::uint64_t resident_memory_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

std::string render_prometheus(const Metrics& m, const core::Inbox* inbox, std::string_view version,
                              double process_start_time_seconds, bool per_peer) {
  fmt::memory_buffer out;
  auto family = [&](std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  // A family of one unlabelled sample.
  auto single = [&](std::string_view name, std::string_view type, std::string_view help, auto value) {
    family(name, type, help);
    fmt::format_to(std::back_inserter(out), "{} {}\n", name, value);
  };
  auto directions = [&](std::string_view name, std::string_view help, auto field) {
    family(name, "counter", help);
    fmt::format_to(std::back_inserter(out), "{}{{direction=\"egress\"}} {}\n", name, m.egress.*field);
    fmt::format_to(std::back_inserter(out), "{}{{direction=\"ingress\"}} {}\n", name, m.ingress.*field);
  };
  directions("hoshino_packets_total", "IPv6 packets carried through the bucket.", &DirectionCounters::packets);
  directions("hoshino_bytes_total", "Bytes of IPv6 packets carried through the bucket.", &DirectionCounters::bytes);
  directions("hoshino_objects_total", "Objects written (egress) and read (ingress).", &DirectionCounters::objects);
  directions("hoshino_objects_inlined_total", "Of those, objects whose packets travelled in the key (no GET).",
             &DirectionCounters::inlined_objects);

  single("hoshino_ack_holds_total", "counter",
         "Times a batch of nothing but TCP ACKs started waiting --ack-hold for the ACKs after it (data joining "
         "ends the wait early).", m.ack_holds);

  family("hoshino_packets_dropped_total", "counter", "Packets (or unreadable objects) dropped, by reason.");
  std::map<std::string, std::uint64_t> dropped = m.dropped;
  if (inbox) {
    for (std::size_t i = 0; i < core::kDropReasons; ++i) {
      auto r = static_cast<core::DropReason>(i);
      dropped[std::string(core::to_string(r))] += inbox->dropped(r);
    }
  }
  for (const auto& [reason, n] : dropped)
    fmt::format_to(std::back_inserter(out), "hoshino_packets_dropped_total{{reason=\"{}\"}} {}\n", reason, n);

  if (inbox) {
    family("hoshino_objects_out_of_order_total", "counter",
           "Objects delivered after a later one from the same sender (their PUT became visible late).");
    fmt::format_to(std::back_inserter(out), "hoshino_objects_out_of_order_total {}\n", inbox->out_of_order());
    family("hoshino_objects_held_total", "counter",
           "Objects held back until their predecessor (a PUT still in flight when they were sent) arrived.");
    fmt::format_to(std::back_inserter(out), "hoshino_objects_held_total {}\n", inbox->held());
    family("hoshino_objects_hold_expired_total", "counter",
           "Of those, objects delivered without their predecessor after the hold (500 ms).");
    fmt::format_to(std::back_inserter(out), "hoshino_objects_hold_expired_total {}\n", inbox->hold_expired());
    family("hoshino_polls_total", "counter",
           "GETs of keys that senders announced for their next object, by result (counted in the get requests).");
    for (auto [result, n] : {std::pair{"hit", inbox->poll_hits()}, {"miss", inbox->poll_misses()},
                             {"error", inbox->poll_errors()}})
      fmt::format_to(std::back_inserter(out), "hoshino_polls_total{{result=\"{}\"}} {}\n", result, n);
  }

  family("hoshino_packets_ignored_total", "counter", "Outgoing packets not forwarded, by reason.");
  for (const auto& [reason, n] : m.ignored)
    fmt::format_to(std::back_inserter(out), "hoshino_packets_ignored_total{{reason=\"{}\"}} {}\n", reason, n);

  family("hoshino_s3_requests_total", "counter", "S3 requests made, by operation.");
  for (std::size_t i = 0; i < 4; ++i)
    fmt::format_to(std::back_inserter(out), "hoshino_s3_requests_total{{op=\"{}\"}} {}\n",
                   store::to_string(static_cast<store::OpKind>(i)), m.s3_requests[i]);
  family("hoshino_s3_errors_total", "counter", "Failed S3 requests, by operation and error code.");
  for (const auto& [key, n] : m.s3_errors)
    fmt::format_to(std::back_inserter(out), "hoshino_s3_errors_total{{op=\"{}\",code=\"{}\"}} {}\n", key.first,
                   key.second, n);

  single("hoshino_squatted_keys_total", "counter",
         "PUTs that found their key already written by someone else (412): sent again under a fresh key.",
         m.squatted_keys);
  family("hoshino_bells_total", "counter",
         "Rings of this node's doorbell while idle, by what their LIST found (objects, or nothing: junk or a lost race).");
  for (auto [outcome, n] : {std::pair{"found", m.bells_found}, {"empty", m.bells_empty}})
    fmt::format_to(std::back_inserter(out), "hoshino_bells_total{{outcome=\"{}\"}} {}\n", outcome, n);
  single("hoshino_bells_proven_total", "counter",
         "Rings that proved a member rang (sealed with its pair key, new): they spend that member's ring tokens, "
         "not the ones junk rings share.",
         m.bells_proven);
  single("hoshino_bells_rate_limited_total", "counter",
         "Rings whose LIST waited for the rate limit (too many rings that found nothing: someone rings for nothing).",
         m.bells_limited);
  family("hoshino_rings_total", "counter", "Rings of other nodes' doorbells (a first object after a quiet spell), by result.");
  for (auto [result, n] : {std::pair{"sent", m.rings_sent}, {"failed", m.ring_failures}})
    fmt::format_to(std::back_inserter(out), "hoshino_rings_total{{result=\"{}\"}} {}\n", result, n);
  single("hoshino_peer_listings_total", "counter",
         "LISTs of the presence records (peers/), made when a packet goes to an address not known to be held.",
         m.peer_listings);
  single("hoshino_peer_listing_failures_total", "counter",
         "Of those, failed ones (their packets were sent anyway: a failure is no proof of absence).",
         m.peer_listing_failures);
  single("hoshino_peer_listings_incomplete_total", "counter",
         "Of those, listings that stopped at their page bound (more records than a fleet writes: junk?); the "
         "destinations waiting were then looked up one by one.",
         m.peer_listings_incomplete);
  single("hoshino_peer_addresses_skipped_total", "counter",
         "Addresses with more presence records than a node writes (junk, or a flood aimed at the listing): the "
         "rest of their records were skipped.",
         m.peer_addresses_skipped);
  single("hoshino_peer_key_changes_total", "counter",
         "Public keys of peers that changed (a rotation, or a forged record) or differ from the pinned one.",
         m.peer_key_changes);
  single("hoshino_peer_key_changes_refused_total", "counter",
         "Listed keys refused because they replaced a peer's key this node remembered from an earlier run "
         "(known_peers; --accept-key-changes follows them).",
         m.peer_key_changes_refused);
  single("hoshino_peers", "gauge", "Peers known to be there (from presence records, or heard from).", m.peers_known);
  family("hoshino_icmp_unreachable_total", "counter",
         "ICMPv6 address-unreachable answers to packets for addresses no node holds, by result.");
  for (auto [result, n] : {std::pair{"sent", m.unreachable_sent}, {"rate_limited", m.unreachable_limited}})
    fmt::format_to(std::back_inserter(out), "hoshino_icmp_unreachable_total{{result=\"{}\"}} {}\n", result, n);
  family("hoshino_presence_writes_total", "counter", "Writes of this node's presence record, by result.");
  for (auto [result, n] : {std::pair{"ok", m.presence_writes}, {"failed", m.presence_write_failures}})
    fmt::format_to(std::back_inserter(out), "hoshino_presence_writes_total{{result=\"{}\"}} {}\n", result, n);
  single("hoshino_presence_remove_failures_total", "counter",
         "Old presence records of this node (a rotated key) that S3 did not remove: tried again every minute, "
         "and the old key is kept while its record stands.",
         m.presence_remove_failures);
  if (per_peer && !m.peers.peers().empty()) {
    // In address order, so the page is stable from one scrape to the next.
    std::map<core::Address, const core::PeerStats*> sorted;
    for (const auto& [a, st] : m.peers.peers()) sorted.emplace(a, &st);
    family("hoshino_peer_bytes_total", "counter", "Packet bytes exchanged with each peer (at most 256 peers).");
    for (const auto& [a, st] : sorted) {
      fmt::format_to(std::back_inserter(out), "hoshino_peer_bytes_total{{peer=\"{}\",direction=\"egress\"}} {}\n", a.str(), st->bytes_out);
      fmt::format_to(std::back_inserter(out), "hoshino_peer_bytes_total{{peer=\"{}\",direction=\"ingress\"}} {}\n", a.str(), st->bytes_in);
    }
    family("hoshino_peer_objects_total", "counter", "Objects exchanged with each peer.");
    for (const auto& [a, st] : sorted) {
      fmt::format_to(std::back_inserter(out), "hoshino_peer_objects_total{{peer=\"{}\",direction=\"egress\"}} {}\n", a.str(), st->objects_out);
      fmt::format_to(std::back_inserter(out), "hoshino_peer_objects_total{{peer=\"{}\",direction=\"ingress\"}} {}\n", a.str(), st->objects_in);
    }
    family("hoshino_peer_dropped_packets_total", "counter", "Packets to each peer that were dropped.");
    for (const auto& [a, st] : sorted)
      fmt::format_to(std::back_inserter(out), "hoshino_peer_dropped_packets_total{{peer=\"{}\"}} {}\n", a.str(), st->dropped);
    family("hoshino_peer_rtt_seconds", "gauge", "Smoothed time from an object sent to a peer to the next one received from it.");
    for (const auto& [a, st] : sorted)
      if (st->rtt)
        fmt::format_to(std::back_inserter(out), "hoshino_peer_rtt_seconds{{peer=\"{}\"}} {:.6f}\n", a.str(),
                       std::chrono::duration<double>(*st->rtt).count());
  }
  single("hoshino_peer_table_forgotten_total", "counter", "Peers dropped from the per-peer table (over 256 at once).",
         m.peers.forgotten());
  single("hoshino_queued_bytes", "gauge", "Packet bytes waiting for a PUT, all destinations together.", m.queued_bytes);
  single("hoshino_puts_in_flight", "gauge", "Object PUTs under way, all destinations together.", m.puts_in_flight);
  single("hoshino_delete_failures_total", "counter",
         "Consumed objects DeleteObjects refused (policy, Object Lock): they are skipped, and deleted again.",
         m.delete_failures);
  single("hoshino_inbox_objects", "gauge", "Keys in the inbox at the latest LIST (pages read, at most 5000).",
         m.inbox_listed);
  single("hoshino_state_write_failures_total", "counter",
         "Replay records that could not be written to the state directory.", m.state_write_failures);
  if (inbox) {
    single("hoshino_inbox_tracked_objects", "gauge", "Objects between LIST and delivery.", inbox->tracked());
    single("hoshino_replay_senders", "gauge", "Senders whose consumed objects the replay window remembers.",
           inbox->replay().senders());
    family("hoshino_inbox_not_tracked_total", "counter",
           "Listed objects the inbox did not take (yet), by reason: the sender's share of the slots was "
           "taken, every slot was, or one was taken back for a sender holding fewer (all are listed again).");
    for (std::size_t r = 0; r < core::kNotTrackedReasons; ++r)
      fmt::format_to(std::back_inserter(out), "hoshino_inbox_not_tracked_total{{reason=\"{}\"}} {}\n",
                     core::to_string(static_cast<core::NotTracked>(r)), inbox->not_tracked(static_cast<core::NotTracked>(r)));
    family("hoshino_inbox_fetches_deferred_total", "counter",
           "Objects whose GET waited because fetched bodies not yet handed over filled a byte budget.");
    for (auto b : {core::Budget::sender_bytes, core::Budget::node_bytes})
      fmt::format_to(std::back_inserter(out), "hoshino_inbox_fetches_deferred_total{{budget=\"{}\"}} {}\n",
                     core::to_string(b), inbox->deferred(b));
    single("hoshino_inbox_undelivered_bytes", "gauge",
           "Bytes of objects fetched or being fetched and not yet handed to the kernel.", inbox->undelivered_bytes());
  }
  single("hoshino_clock_offset_seconds", "gauge",
         "S3's clock minus this node's, from Date headers; beyond 1 s the node uses S3's time for its objects.",
         fmt::format("{:.3f}", m.clock_offset_seconds));
  single("hoshino_clock_date_outliers_total", "counter",
         "S3 Date headers that disagreed with the clock estimate: none moves it alone (3 that agree do: a step).",
         m.clock_outliers);
  single("hoshino_ulid_restarts_total", "counter",
         "Times this node's ULIDs were ahead of its (corrected) clock by more than 5 s and started again from now.",
         m.ulid_restarts);
  single("hoshino_beat_interval_seconds", "gauge",
         "Current delay between beats, looks at the inbox (a LIST or GETs of announced keys; idle: bell checks).",
         m.beat_interval_seconds);
  // The old name, for one release (dashboards move to the new one): the same value.
  single("hoshino_poll_interval_seconds", "gauge",
         "Deprecated: hoshino_beat_interval_seconds (this name goes in the next release).", m.beat_interval_seconds);
  family("hoshino_build_info", "gauge", "Build information.");
  fmt::format_to(std::back_inserter(out), "hoshino_build_info{{version=\"{}\"}} 1\n", version);
  family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  fmt::format_to(std::back_inserter(out), "process_resident_memory_bytes {}\n", resident_memory_bytes());
  family("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.");
  fmt::format_to(std::back_inserter(out), "process_start_time_seconds {:.3f}\n", process_start_time_seconds);
  return fmt::to_string(out);
}

} // namespace hoshino::node

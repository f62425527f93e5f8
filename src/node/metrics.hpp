#pragma once
// Counters a node keeps, rendered in the Prometheus text format for /metrics.
#include "core/inbox.hpp"
#include "core/peer_stats.hpp"
#include "core/s3_errors.hpp"
#include "store/object_store.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace hoshino::node {

struct DirectionCounters {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  std::uint64_t objects = 0;
  std::uint64_t inlined_objects = 0; // of those, objects whose packets travelled in the key
};

struct Metrics {
  DirectionCounters egress;
  DirectionCounters ingress;
  std::map<std::string, std::uint64_t> dropped;  // reason -> packets (node-level reasons)
  std::map<std::string, std::uint64_t> ignored;  // reason -> packets
  std::uint64_t s3_requests[4] = {};             // by store::OpKind
  std::map<std::pair<std::string, std::string>, std::uint64_t> s3_errors; // (op, code) -> count
  std::uint64_t ack_holds = 0;        // batches of pure TCP ACKs that started waiting --ack-hold (Bundler)
  double beat_interval_seconds = 0;
  double clock_offset_seconds = 0;    // the bucket's clock minus ours, as estimated from S3's Date
  std::uint64_t clock_outliers = 0;   // Date headers that disagreed with the estimate (core/clock_offset.hpp)
  std::uint64_t ulid_restarts = 0;    // times the ULIDs were ahead of the clock by more than the tolerance
  std::uint64_t squatted_keys = 0;    // our PUTs that found their key taken (412): re-sent under a fresh one
  std::uint64_t delete_failures = 0;  // keys DeleteObjects refused one by one (policy, Object Lock)
  std::uint64_t inbox_listed = 0;     // keys in the inbox at the latest LIST (all pages read)
  std::uint64_t state_write_failures = 0; // replay records that could not be written to --state-dir
  // The doorbell (core/ingress_schedule.hpp): rings of this node's bell whose LIST found objects or
  // nothing, rings that waited for the rate limit; rings of other nodes' bells sent, and failed.
  std::uint64_t bells_found = 0, bells_empty = 0, bells_limited = 0;
  std::uint64_t bells_proven = 0; // rings that proved a member rang (its own tokens pay their LIST)
  std::uint64_t rings_sent = 0, ring_failures = 0;
  // Who is there (core/presence.hpp): LISTs of the presence records and their failures, ICMPv6
  // unreachable answers sent and held back by the rate limit, peers known, presence records written.
  std::uint64_t peer_listings = 0, peer_listing_failures = 0;
  // Listings that read less than everything (page bound) and addresses whose surplus records were skipped.
  std::uint64_t peer_listings_incomplete = 0, peer_addresses_skipped = 0;
  std::uint64_t unreachable_sent = 0, unreachable_limited = 0;
  std::uint64_t peers_known = 0;
  std::uint64_t peer_key_changes = 0; // keys a listing showed that differ from the one known (or pinned)
  std::uint64_t peer_key_changes_refused = 0; // ... that replaced a key remembered from an earlier run
  std::uint64_t presence_writes = 0, presence_write_failures = 0;
  std::uint64_t presence_remove_failures = 0; // old records of this node S3 did not remove (tried again)
  // Per peer (core/peer_stats.hpp): the series hoshino_peer_*{peer}, at most 256 peers (the quietest
  // forgotten first), so a scan or a fleet of thousands cannot grow the page without bound.
  core::PeerTable peers{256};
  // The node-wide bounds (core/bundler.hpp): bytes queued and PUTs in flight across destinations.
  std::uint64_t queued_bytes = 0, puts_in_flight = 0;

  void request(store::OpKind op) { ++s3_requests[static_cast<std::size_t>(op)]; }
  // (code: a label from core::code_label's fixed set, so the map is bounded)
  void error(store::OpKind op, std::string_view code) {
    ++s3_errors[{std::string(store::to_string(op)), std::string(core::code_label(code))}];
  }
};

// The Prometheus text exposition of the node's metrics, the inbox's drop counters and process facts.
// per_peer: also the hoshino_peer_*{peer} series (off by default: --metrics-peers).
std::string render_prometheus(const Metrics& m, const core::Inbox* inbox, std::string_view version,
                              double process_start_time_seconds, bool per_peer = false);

// Resident memory of this process in bytes (from /proc/self/statm), 0 if unknown.
std::uint64_t resident_memory_bytes();

} // namespace hoshino::node

#pragma once
// What a node is told at construction. Every default here (and in the core structs it holds) is the one
// source of that default: the command line (app/options.cpp) is built from these, and --help prints them.
#include "util/clock.hpp"
#include "core/backoff.hpp"
#include "core/bundler.hpp"
#include "core/clock_offset.hpp"
#include "core/identity.hpp"
#include "core/inbox.hpp"
#include "core/ingress_schedule.hpp"
#include "core/presence.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hoshino::node {

class StateDir;

struct NodeConfig {
  core::UlaPrefix prefix;
  core::Address self;
  std::string key_prefix = "hoshino";
  core::BundlerConfig bundler;
  core::IngressConfig ingress; // when to LIST, poll, check the bell, delete (core/ingress_schedule.hpp)
  bool ring = true; // ring a destination's doorbell after a quiet spell (off only for the original design)
  // GETs at once, object ages, the replay window, polling of announced keys (core/inbox.hpp). The node
  // fills in who it is (key_prefix, self, psk, start time, the pair-key lookup).
  core::InboxConfig inbox;
  Duration flush_timeout = std::chrono::milliseconds(2000); // on stop: how long pending PUTs may take
  // A PUT that fails with a retryable error (5xx, SlowDown, timeout, connection error) is retried with
  // backoff until it succeeds or this much time has passed since its first attempt; then its packets are
  // dropped and counted. Older packets are of little use to TCP anyway.
  Duration put_deadline = std::chrono::milliseconds(10000);
  core::BackoffConfig put_backoff;
  // Identity sealing (core/identity.hpp): set, every object is sealed with the key of the pair (this
  // node, its peer), and the peer's public key comes from its presence record (or the peers file).
  std::optional<core::KeyPair> identity;
  // With identity: mixed into every pair key (--psk-file). Without: the one key of all nodes.
  std::optional<core::Psk> psk;
  // Peers whose keys are pinned (the peers file): a listing cannot change them.
  std::vector<core::PeerKey> pinned_peers;
  std::map<core::Address, std::string> peer_names; // from the peers file, for `hoshino show`
  bool inline_small = true;     // bodies that fit in the key travel there (no GET for the receiver)
  // Objects announce their successor's key, and beats poll announced keys with GET (core/chain.hpp).
  bool chain_keys = true;
  // Where the replay window's highest ULIDs persist (--state-dir); null: nothing outlives the process.
  StateDir* state_dir = nullptr;
  // A LIST whose page is full of keys already handled (deletes refused or lagging) reads on, this many
  // pages at most, so consumed objects cannot hide new ones.
  std::size_t max_list_pages = 5;
  // The offset to the bucket's clock (from S3's Date headers; core/clock_offset.hpp), kept by the shell
  // that sees the answers. Null: the local clock as it is.
  const core::ClockOffset* clock = nullptr;
  // Credentials that S3 calls expired for this long, with no request succeeding meanwhile, will not
  // heal here (static credentials from the environment are never renewed): the node stops with an
  // error, and systemd restarts it with fresh ones.
  Duration expired_credentials_limit = std::chrono::milliseconds(30000);
  // Presence (core/presence.hpp): publish this node's record, and answer packets to addresses nobody
  // holds with ICMPv6 unreachable instead of PUTting them. Off: every address of the /64 is sent to.
  bool presence = true;
  core::PeerDirectoryConfig peers;
  std::string hostname;               // for the presence record
  std::string version;                // for the presence record
  // The record is written again this often (the bucket's lifecycle rule expires objects after a day).
  Duration presence_refresh = std::chrono::hours(6);
  std::size_t max_peer_pages = 10;    // pages of 1000 presence records read per listing
};

} // namespace hoshino::node

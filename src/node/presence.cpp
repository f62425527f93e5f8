// Presence and peers: this node's presence record (PresencePublisher decides when), the listing of the
// others' records (PeerDirectory decides what it means), identity rotation.
#include "node/node.hpp"

#include "core/keys.hpp"
#include "core/presence_scan.hpp"
#include "util/log.hpp"

namespace hoshino::node {

asio::awaitable<void> Node::list_peers() {
  constexpr std::size_t kPage = 1000;
  // Only records inside our /64: records of other fleets sharing the prefix, or junk elsewhere, cost no
  // pages; an address with a flood of records costs a page, not the listing (core/presence_scan.hpp).
  core::PresenceScanConfig bounds;
  bounds.max_pages = config_.max_peer_pages;
  core::PresenceScan scan(config_.key_prefix, config_.self, directory_.take_lookups(), bounds);
  listing_started_ms_ = now_ms();
  while (auto request = scan.next()) {
    metrics_.request(store::OpKind::list);
    auto page = co_await store_.list(request->prefix, kPage, request->start_after);
    if (!page) {
      s3_failed(store::OpKind::list, page.error());
      scan.on_failed();
      break;
    }
    scan.on_page(*page);
  }
  metrics_.peer_addresses_skipped += scan.skipped_addresses();
  // Incomplete (its page bound, a failure, a page that did not move on): never proof that a peer is absent.
  const auto coverage = scan.coverage();
  const bool failed = scan.failed();
  ++metrics_.peer_listings;
  if (!failed && !coverage.complete) ++metrics_.peer_listings_incomplete;
  directory_.set_listing_pages(scan.requests());
  auto now = Clock::now();
  auto resolved = failed ? directory_.on_list_failed(now, random01()) : directory_.on_listed(scan.found(), coverage, now);
  if (failed) ++metrics_.peer_listing_failures;
  else peer_listing_ = {listing_started_ms_, coverage};
  report_key_changes();
  if (directory_.take_known_changed() && config_.state_dir &&
      !config_.state_dir->save_known_peers(directory_.keys_known(StateDir::kMaxKnownPeers)))
    log::warn("could not write {}/known_peers: peers' keys learnt now are trusted on first use again after a restart",
              config_.state_dir->path().substr(0, config_.state_dir->path().rfind('/')));
  inbox_.retry_key_waits(now_ms()); // objects that waited for a sender's key: judged again now
  metrics_.peers_known = directory_.peers();
  if (stopping_) co_return;
  bool sent = false;
  for (auto& r : resolved) {
    if (r.present) {
      for (auto& p : r.packets) enqueue(std::move(p));
      sent = true;
    } else if (r.unproven) {
      metrics_.dropped["peer_unknown"] += r.packets.size(); // more records than a listing reads: no answer
    } else {
      metrics_.dropped["no_peer"] += r.packets.size();
      if (!r.packets.empty()) answer_unreachable(r.packets.front());
    }
  }
  if (sent) {
    flush_bundles();
    schedule_.on_sent(Clock::now());
  }
  act_on_inbox(); // objects that waited for a sender's key
}

asio::awaitable<Result<Unit, s3::Error>> Node::publish_presence() {
  auto action = presence_.next(Clock::now()); // due from construction on
  if (!action || action->kind != core::PresenceAction::Kind::write) co_return Unit{};
  auto key = action->key;
  auto written = co_await write_presence(key);
  if (!written) co_return written;
  // Records of this address under other keys (a key replaced while the node was down, a kill during a
  // rotation) would make peers seal to a key nobody holds: removed on the first beat.
  auto mine = core::presence_prefix(config_.key_prefix) + config_.self.hex() + ".";
  metrics_.request(store::OpKind::list);
  auto listed = co_await store_.list(mine, 1000, "");
  if (!listed) {
    s3_failed(store::OpKind::list, listed.error());
    co_return written;
  }
  std::vector<std::string> stale;
  for (const auto& k : listed->objects)
    if (k.key != key) stale.push_back(k.key);
  presence_.add_stale(std::move(stale));
  co_return written;
}

asio::awaitable<Result<Unit, s3::Error>> Node::write_presence(std::string key) {
  core::PresenceRecord record{config_.self, config_.hostname.empty() ? "-" : config_.hostname,
                              config_.version.empty() ? "-" : config_.version, start_ms_};
  auto body = core::format_presence(record);
  metrics_.request(store::OpKind::put);
  auto r = co_await store_.put(key, body, false);
  if (r) {
    ++metrics_.presence_writes;
  } else {
    ++metrics_.presence_write_failures;
    s3_failed(store::OpKind::put, r.error());
  }
  presence_.on_written(key, static_cast<bool>(r), Clock::now());
  heartbeat_.poke(); // the next write (or a removal) is due at another time now
  co_return r;
}

asio::awaitable<void> Node::presence_step(core::PresenceAction action) {
  if (action.kind == core::PresenceAction::Kind::write) {
    auto r = co_await write_presence(action.key);
    (void)r; // counted and logged by write_presence; retried when PresencePublisher says
    co_return;
  }
  metrics_.request(store::OpKind::remove);
  auto r = co_await store_.remove(action.keys);
  std::vector<std::string> refused;
  if (!r) {
    s3_failed(store::OpKind::remove, r.error());
  } else if (!r->empty()) {
    refused = *r;
    if (metrics_.presence_remove_failures == 0 || log_due(last_presence_remove_log_))
      log::warn("S3 refused to remove {} old presence record(s) of this node (first: {}): peers keep its old key "
                "meanwhile, so it keeps that key too, and tries again every minute (check the policy's "
                "DeleteObject on its records; logged at most every 10 s)", r->size(), r->front());
  }
  metrics_.presence_remove_failures += r ? refused.size() : action.keys.size();
  presence_.on_removed(static_cast<bool>(r), refused, Clock::now());
  previous_keys_.on_standing(presence_.stale(), Clock::now());
  heartbeat_.poke();
}

asio::awaitable<void> Node::remove_presence() {
  if (!presence_.published() && presence_.stale().empty()) co_return; // nothing of ours is there
  std::vector<std::string> keys = presence_.stale();
  keys.push_back(presence_.key());
  metrics_.request(store::OpKind::remove);
  auto r = co_await store_.remove(keys);
  if (!r) s3_failed(store::OpKind::remove, r.error());
  else if (!r->empty()) log::warn("could not remove the presence record {}: peers list this node until it expires",
                                  r->front());
}

void Node::rotate_identity(const core::KeyPair& key) {
  if (!config_.identity || config_.identity->public_key == key.public_key) return;
  const auto now = Clock::now();
  const auto dropped = previous_keys_.dropped();
  previous_keys_.add(*config_.identity, presence_.key(), now);
  if (previous_keys_.dropped() > dropped)
    log::warn("more key rotations in a row than previous keys kept: the oldest is let go (peers still using it "
              "are not reached until they list again)");
  config_.identity = key;
  // The new record first: a peer that lists in between sees the node with one key or the other, never
  // with none (which would make it answer unreachable). The old one goes once the new one is written;
  // until then the node seals with it (peers know it by it) and opens objects sealed for it.
  presence_.rotate(core::presence_key(config_.key_prefix, config_.self, key.public_key), now);
  previous_keys_.on_standing(presence_.stale(), now);
  log::warn("new identity key: public key {} (objects for the previous one open for {} min)",
            core::key_to_base64(key.public_key),
            std::chrono::duration_cast<std::chrono::minutes>(config_.peers.key_overlap).count());
  heartbeat_.poke();
}

void Node::report_key_changes() {
  for (const auto& c : directory_.take_key_changes()) {
    if (c.restored)
      log::error("peer {}: its presence record shows key {}, but this node trusted {} for it before it restarted: "
                 "refused (a rotation while this node was down, or someone who can write that record). If it is a "
                 "rotation: delete its line from known_peers in the state directory, or start with "
                 "--accept-key-changes",
                 c.address.str(), core::key_to_base64(c.to), core::key_to_base64(c.from));
    else if (c.refused)
      log::error("peer {}: its presence record shows key {} but the peers file pins {}: objects sealed with "
                 "it are refused (rotate the peers file, or someone can write that record)",
                 c.address.str(), core::key_to_base64(c.to), core::key_to_base64(c.from));
    else if (c.from != core::PublicKey{})
      log::error("peer {}: public key changed from {} to {} (a key rotation, or someone who can write its "
                 "presence record: pin it in the peers file)",
                 c.address.str(), core::key_to_base64(c.from), core::key_to_base64(c.to));
  }
  metrics_.peer_key_changes = directory_.key_changes();
  metrics_.peer_key_changes_refused = directory_.key_changes_refused();
}

} // namespace hoshino::node

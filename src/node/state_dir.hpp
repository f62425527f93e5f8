#pragma once
// The node's state directory (--state-dir; systemd's StateDirectory=): what must outlive the process.
// The replay window's persistent part (core/replay.hpp): per sender, the highest ULID consumed, so that
// a node killed and restarted within the inbox's startup grace does not deliver again what it delivered
// before. And the peers' public keys trusted on first use (<dir>/known_peers, like ssh's known_hosts:
// "<address> <key>" lines), so that a restart does not forget them (core/presence.hpp, restore).
//
// <dir>/replay is an array of fixed 48-byte records (magic, sender, ULID, checksum), one per sender,
// rewritten in place with pwrite before the packets are delivered. A kill -9 cannot tear such a write
// (the page cache keeps it); a record torn by a power loss fails its checksum and is ignored (a reboot
// takes longer than the startup grace anyway). The file is locked: two nodes cannot share a directory.
#include "core/presence.hpp"
#include "core/replay.hpp"
#include "util/result.hpp"

#include <string>
#include <unordered_map>
#include <vector>

namespace hoshino::node {

// <dir>/known_peers (without opening the directory: `hoshino peers` reads it while the node runs). Lines
// that do not parse are skipped; at most StateDir::kMaxKnownPeers.
std::vector<core::PeerKey> read_known_peers(const std::string& dir);

class StateDir {
public:
  // Creates the directory (0700) if missing, opens and locks <dir>/replay. An error is one line for the
  // user (not writable, or another node holds it).
  static Result<StateDir, std::string> open(const std::string& dir, std::size_t max_senders = 4096);
  StateDir(StateDir&& other) noexcept;
  StateDir& operator=(StateDir&&) = delete;
  ~StateDir();

  // The valid records, as read at open().
  const std::vector<core::ReplayWindow::Highest>& replay_records() const noexcept { return loaded_; }
  // Writes these senders' records (each in its own slot). False if a write failed (logged by the caller).
  bool save(const std::vector<core::ReplayWindow::Highest>& changed);
  const std::string& path() const noexcept { return path_; }
  // <dir>/known_peers as read at open() (lines that do not parse are skipped), at most kMaxKnownPeers.
  static constexpr std::size_t kMaxKnownPeers = 4096;
  const std::vector<core::PeerKey>& known_peers() const noexcept { return known_; }
  // Replaces <dir>/known_peers (written aside, then renamed: a crash leaves the old or the new file).
  bool save_known_peers(const std::vector<core::PeerKey>& peers);

private:
  StateDir(int fd, std::string path, std::size_t max_senders) : fd_(fd), path_(std::move(path)), max_slots_(max_senders) {}
  std::size_t slot_for(const core::Address& sender, const core::Ulid& id);

  int fd_ = -1;
  std::string path_;
  std::size_t max_slots_;
  std::vector<core::ReplayWindow::Highest> loaded_;
  std::vector<core::PeerKey> known_;
  std::string dir_;
  struct Slot {
    core::Address sender;
    core::Ulid id;
  };
  std::vector<Slot> slots_;
  std::unordered_map<core::Address, std::size_t, core::AddressHash> index_;
};

} // namespace hoshino::node

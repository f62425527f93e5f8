#include "node/state_dir.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fstream>

namespace hoshino::node {
namespace {

constexpr std::size_t kRecord = 48;
constexpr char kMagic[8] = {'H', 'S', 'R', 'P', 'L', 'Y', '1', '\0'};
using Record = std::array<std::uint8_t, kRecord>;

std::uint64_t checksum(const std::uint8_t* data, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ULL; // FNV-1a: detects a torn record, not an attacker (local file)
  for (std::size_t i = 0; i < n; ++i) h = (h ^ data[i]) * 0x100000001b3ULL;
  return h;
}

Record encode(const core::Address& sender, const core::Ulid& id) {
  Record r{};
  std::memcpy(r.data(), kMagic, 8);
  std::memcpy(r.data() + 8, sender.bytes.data(), 16);
  std::memcpy(r.data() + 24, id.bytes.data(), 16);
  std::uint64_t c = checksum(r.data(), 40);
  std::memcpy(r.data() + 40, &c, 8);
  return r;
}

bool decode(const Record& r, core::Address& sender, core::Ulid& id) {
  std::uint64_t c;
  std::memcpy(&c, r.data() + 40, 8);
  if (std::memcmp(r.data(), kMagic, 8) != 0 || c != checksum(r.data(), 40)) return false;
  std::memcpy(sender.bytes.data(), r.data() + 8, 16);
  std::memcpy(id.bytes.data(), r.data() + 24, 16);
  return true;
}

} // namespace

Result<StateDir, std::string> StateDir::open(const std::string& dir, std::size_t max_senders) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return fmt::format("cannot create state directory {}: {}", dir, std::strerror(errno));
  // It holds the private key and the peers' keys trusted on first use: someone else who can write it
  // could swap either. Checked like the key file, but refused rather than warned about.
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return fmt::format("cannot read state directory {}: {}", dir, std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) return fmt::format("state directory {} is not a directory (--state-dir)", dir);
  if (st.st_uid != ::geteuid())
    return fmt::format("state directory {} belongs to uid {}, not to this user (uid {}): another user could replace "
                       "its keys (chown it, or choose another --state-dir)", dir, st.st_uid, ::geteuid());
  if (st.st_mode & 0022)
    return fmt::format("state directory {} is writable by other users (mode {:o}): chmod 700 it", dir, st.st_mode & 0777);
  std::string path = dir + "/replay";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return fmt::format("cannot open {}: {} (--state-dir)", path, std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK)
      return fmt::format("state directory {} is in use by another hoshino: give each node its own --state-dir", dir);
    return fmt::format("cannot lock {}: {}", path, std::strerror(err));
  }
  StateDir s(fd, std::move(path), max_senders);
  Record r;
  for (std::size_t i = 0; i < max_senders; ++i) {
    auto n = ::pread(fd, r.data(), kRecord, static_cast<off_t>(i * kRecord));
    if (n != static_cast<ssize_t>(kRecord)) break;
    Slot slot{};
    if (decode(r, slot.sender, slot.id) && !s.index_.contains(slot.sender)) {
      s.index_[slot.sender] = i;
      s.loaded_.push_back({slot.sender, slot.id});
    } else {
      slot = {}; // torn or unknown: the slot is free
    }
    s.slots_.push_back(slot);
  }
  s.dir_ = dir;
  s.known_ = read_known_peers(dir);
  return s;
}

std::vector<core::PeerKey> read_known_peers(const std::string& dir) {
  std::vector<core::PeerKey> out;
  std::ifstream known(dir + "/known_peers");
  for (std::string line; out.size() < StateDir::kMaxKnownPeers && std::getline(known, line);) {
    auto space = line.find(' ');
    if (space == std::string::npos) continue;
    auto address = core::Address::parse(line.substr(0, space));
    auto key = core::parse_key(std::string_view(line).substr(space + 1));
    if (address && key) out.push_back({*address, *key});
  }
  return out;
}

bool StateDir::save_known_peers(const std::vector<core::PeerKey>& peers) {
  const std::string path = dir_ + "/known_peers", aside = path + ".new";
  std::string text = "# peers' public keys trusted on first use by this node (hoshino); delete a line to trust\n"
                     "# that peer's next key, or start with --accept-key-changes\n";
  for (std::size_t i = 0; i < peers.size() && i < kMaxKnownPeers; ++i)
    text += peers[i].address.str() + " " + core::key_to_base64(peers[i].key) + "\n";
  int fd = ::open(aside.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  return ok && ::rename(aside.c_str(), path.c_str()) == 0;
}

StateDir::StateDir(StateDir&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      max_slots_(other.max_slots_),
      loaded_(std::move(other.loaded_)),
      known_(std::move(other.known_)),
      dir_(std::move(other.dir_)),
      slots_(std::move(other.slots_)),
      index_(std::move(other.index_)) {}

StateDir::~StateDir() {
  if (fd_ >= 0) ::close(fd_); // releases the lock
}

std::size_t StateDir::slot_for(const core::Address& sender, const core::Ulid& id) {
  if (auto it = index_.find(sender); it != index_.end()) return it->second;
  std::size_t i = 0;
  while (i < slots_.size() && slots_[i].id != core::Ulid{}) ++i;
  if (i == slots_.size() && slots_.size() >= max_slots_) {
    // Full: the sender with the oldest record gives up its slot (at max_senders live senders, a restart
    // may then deliver that one's last objects again; see docs/security.md, Replays, squatting and restarts).
    i = static_cast<std::size_t>(std::min_element(slots_.begin(), slots_.end(), [](const Slot& a, const Slot& b) {
          return a.id < b.id;
        }) - slots_.begin());
    index_.erase(slots_[i].sender);
  }
  if (i == slots_.size()) slots_.push_back({});
  slots_[i] = {sender, id};
  index_[sender] = i;
  return i;
}

bool StateDir::save(const std::vector<core::ReplayWindow::Highest>& changed) {
  bool ok = true;
  for (const auto& [sender, id] : changed) {
    std::size_t i = slot_for(sender, id);
    slots_[i].id = id;
    Record r = encode(sender, id);
    ok = ::pwrite(fd_, r.data(), kRecord, static_cast<off_t>(i * kRecord)) == static_cast<ssize_t>(kRecord) && ok;
  }
  return ok;
}

} // namespace hoshino::node

#include "core/replay.hpp"
#include "node/state_dir.hpp"
#include "support/packets.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

using namespace hoshino;
using core::ReplayConfig;
using core::ReplayWindow;
using core::Ulid;
using core::UlidGenerator;
using test::addr;

namespace {

constexpr std::uint64_t kNow = 1'700'000'000'000ULL;
const core::Address kA = addr("fd5e::a");
const core::Address kB = addr("fd5e::b");

Ulid ulid(std::uint64_t t, std::uint64_t seq = 0) {
  UlidGenerator g([seq] { return seq; });
  return g.next(t);
}

std::string temp_dir() {
  char tmpl[] = "/tmp/hoshino-state-test.XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  return tmpl;
}

} // namespace

TEST_CASE("The replay window remembers the latest ULIDs exactly and refuses below its floor", "[replay]") {
  ReplayWindow w({.max_senders = 16, .window = 4, .forget_after_ms = 70'000});
  for (int i = 1; i <= 6; ++i) w.accept(kA, ulid(kNow + static_cast<std::uint64_t>(i) * 10), kNow);
  // 3..6 are remembered exactly; 1 and 2 are at or below the floor.
  for (int i = 1; i <= 6; ++i) CHECK(w.seen(kA, ulid(kNow + static_cast<std::uint64_t>(i) * 10)));
  CHECK(w.seen(kA, ulid(kNow + 5)));        // below the floor: refused though never seen
  CHECK_FALSE(w.seen(kA, ulid(kNow + 45))); // a late one inside the window: still accepted
  CHECK_FALSE(w.seen(kA, ulid(kNow + 70))); // the next one
  CHECK_FALSE(w.seen(kB, ulid(kNow + 10))); // senders are apart
}

TEST_CASE("Forgetting a sender never lets its objects through twice", "[replay]") {
  ReplayWindow w({.max_senders = 2, .window = 4, .forget_after_ms = 70'000});
  w.accept(kA, ulid(kNow - 100'000), kNow); // old enough that the age check covers it
  w.accept(kB, ulid(kNow - 10), kNow);
  w.accept(addr("fd5e::c"), ulid(kNow - 5), kNow); // full: A is forgotten, safely
  CHECK(w.evicted_live() == 0);
  w.accept(addr("fd5e::d"), ulid(kNow - 1), kNow); // full of live senders: B goes, its time becomes a floor
  CHECK(w.evicted_live() == 1);
  CHECK(w.seen(kB, ulid(kNow - 10)));                // not delivered again
  CHECK_FALSE(w.seen(addr("fd5e::e"), ulid(kNow)));  // newer objects of unknown senders pass
  CHECK(w.senders() == 2);
}

TEST_CASE("The state directory keeps each sender's highest ULID across a restart", "[replay][state]") {
  auto dir = temp_dir();
  {
    auto s = node::StateDir::open(dir);
    REQUIRE(s);
    CHECK(s->replay_records().empty());
    CHECK(s->save({{kA, ulid(kNow)}, {kB, ulid(kNow + 1)}}));
    CHECK(s->save({{kA, ulid(kNow + 2)}})); // rewritten in its slot
    // A second node on the same directory is refused while this one holds it.
    auto other = node::StateDir::open(dir);
    REQUIRE_FALSE(other);
    CHECK(other.error().find("in use by another hoshino") != std::string::npos);
  }
  auto s = node::StateDir::open(dir);
  REQUIRE(s);
  auto records = s->replay_records();
  REQUIRE(records.size() == 2);
  CHECK(((records[0].sender == kA && records[0].id == ulid(kNow + 2)) || (records[1].sender == kA && records[1].id == ulid(kNow + 2))));
  std::filesystem::remove_all(dir);
}

TEST_CASE("A torn record in the state file is ignored, the others are kept", "[replay][state]") {
  auto dir = temp_dir();
  {
    auto s = node::StateDir::open(dir);
    REQUIRE(s);
    CHECK(s->save({{kA, ulid(kNow)}, {kB, ulid(kNow + 1)}}));
  }
  int fd = ::open((dir + "/replay").c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  char byte = 0x55;
  REQUIRE(::pwrite(fd, &byte, 1, 30) == 1); // inside the first record's ULID
  ::close(fd);
  auto s = node::StateDir::open(dir);
  REQUIRE(s);
  REQUIRE(s->replay_records().size() == 1);
  CHECK(s->replay_records()[0].sender == kB);
  std::filesystem::remove_all(dir);
}

TEST_CASE("The state file holds at most max_senders records", "[replay][state]") {
  auto dir = temp_dir();
  {
    auto s = node::StateDir::open(dir, 4);
    REQUIRE(s);
    for (int i = 0; i < 10; ++i) {
      auto a = addr(("fd5e::" + std::to_string(100 + i)).c_str());
      CHECK(s->save({{a, ulid(kNow + static_cast<std::uint64_t>(i))}}));
    }
  }
  CHECK(std::filesystem::file_size(dir + "/replay") == 4 * 48);
  auto s = node::StateDir::open(dir, 4);
  REQUIRE(s);
  CHECK(s->replay_records().size() == 4); // the newest four
  for (const auto& r : s->replay_records()) CHECK(r.id >= ulid(kNow + 6));
  std::filesystem::remove_all(dir);
}

TEST_CASE("An unusable state directory is one clear error", "[replay][state]") {
  auto r = node::StateDir::open("/proc/hoshino-cannot-be-here");
  REQUIRE_FALSE(r);
  CHECK(r.error().find("/proc/hoshino-cannot-be-here") != std::string::npos);
}

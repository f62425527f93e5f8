#pragma once
// One listing of the presence records (core/presence.hpp) for the directory: which LIST to make next and
// which addresses the answers speak for. A bucket writer can write records faster than a node can list
// them, so a listing is bounded, and it must still find the peers that packets wait for:
//  - pages of peers/<our /64> in order, at most max_pages; an address with more than
//    max_records_per_address keys (a node has one record, two during a rotation), or a run of junk keys
//    that agree up to their first character that is no hex digit, is a flood aimed at the listing: the
//    rest of it is skipped with start-after, it costs no further pages;
//  - if the pages ran out before the end, one LIST of peers/<address>. for each destination that waited
//    when the listing started and that the pages did not reach (at most max_lookups); a lookup whose
//    page was full (truncated) speaks for the records it read, never for absence.
// What was not read is never proof that a node is absent (Coverage).
#include "core/ipv6.hpp"
#include "core/listed_object.hpp"
#include "core/listing.hpp"
#include "core/presence.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace hoshino::core {

struct PresenceScanConfig {
  std::size_t max_pages = 10;              // pages of the whole /64 (1000 records each)
  std::size_t max_records_per_address = 4; // read of one address; more are skipped
  std::size_t max_lookups = 32;            // one-address LISTs after pages that stopped early
};

struct ListRequest {
  std::string prefix;
  std::string start_after;
};

class PresenceScan {
public:
  // self: this node (its /64 is listed; its own records are no peers). waiting: destinations whose
  // packets wait for this listing (looked up one by one if the pages do not reach them).
  PresenceScan(std::string key_prefix, const Address& self, std::vector<Address> waiting,
               PresenceScanConfig config = {});

  // The next LIST to make, or nullopt: the scan is over.
  std::optional<ListRequest> next() const;
  // The answer to the request next() returned.
  void on_page(const ListPage& page);
  void on_failed() { failed_ = true; }

  const std::vector<PeerKey>& found() const noexcept { return found_; }
  Coverage coverage() const;
  bool failed() const noexcept { return failed_; }
  std::size_t requests() const noexcept { return requests_; } // LISTs answered
  std::size_t skipped_addresses() const noexcept { return skipped_; } // addresses whose surplus was skipped

private:
  void take(std::string_view key);
  void start_lookups();

  std::string key_prefix_, peers_, prefix_; // peers_: <key prefix>/peers/; prefix_: peers_ + our /64's 16 hex digits
  Address self_;
  std::vector<Address> waiting_;
  PresenceScanConfig config_;
  Listing pages_;
  std::optional<Address> last_;     // the address of the latest record read by the pages
  std::string last_group_;          // the latest key's group: its address part, up to a junk character
  std::size_t group_count_ = 0;     // keys read of that group
  bool pages_over_ = false;
  std::vector<Address> lookups_;    // still to look up
  std::vector<Address> looked_up_;  // read whole, one by one
  std::vector<PeerKey> found_;
  std::size_t requests_ = 0, skipped_ = 0;
  bool failed_ = false;
};

} // namespace hoshino::core

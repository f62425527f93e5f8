#pragma once
// This node's clock against S3's, from the Date header of S3's answers. Object keys carry the sender's
// time (ULIDs) and the receiver refuses objects too old or too far ahead, so a node whose clock is off
// by minutes would have everything it sends refused, silently, one way. Every node measures its offset
// to the bucket's clock and, when the offset is clearly not zero, uses the bucket's time instead of its
// own: nodes then agree with each other to within a second or so, whatever their clocks say.
//
// A Date has whole seconds. An answer received at local t1 to a request sent at local t0 was made at
// a server time s in [D, D + 1 s), and s - offset lies in [t0, t1]: offset in [D - t1, D + 1 s - t0].
// The intersection of the latest samples' intervals narrows that to a few milliseconds. A sample that
// disagrees with it (a clock stepped, or one bad Date: a proxy, a broken server) changes nothing alone:
// only kAgree disagreeing samples that agree with each other start the estimate over from them. A Date
// more than kMaxOffsetMs from the local clock is no information at all.
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace hoshino::core {

// An HTTP date (RFC 9110 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT") as milliseconds since the epoch.
std::optional<std::uint64_t> parse_http_date(std::string_view text);

class ClockOffset {
public:
  // Offsets smaller than this (either way) are left alone: NTP does better, and a Date cannot tell.
  static constexpr std::int64_t kToleranceMs = 1000;

  static constexpr std::size_t kAgree = 3;
  static constexpr std::int64_t kMaxOffsetMs = 24LL * 3600 * 1000;

  void on_sample(std::uint64_t sent_ms, std::uint64_t received_ms, std::uint64_t server_date_ms);
  // Best estimate of server time minus local time (0 before any sample).
  std::int64_t estimate_ms() const;
  // What to add to the local clock: the estimate once the offset is surely beyond the tolerance, else 0.
  std::int64_t correction_ms() const;
  std::size_t samples() const noexcept { return intervals_.size(); }
  // Samples that disagreed with the estimate and have not (yet) been confirmed by others, and absurd ones.
  std::uint64_t outliers() const noexcept { return outliers_; }

private:
  struct Interval {
    std::int64_t lo, hi;
  };
  Interval bounds() const;
  static Interval intersect(const std::vector<Interval>& v);
  static constexpr std::size_t kSamples = 16;
  std::vector<Interval> intervals_; // ring of the latest kSamples
  std::size_t next_ = 0;
  std::vector<Interval> disagreeing_; // consecutive samples that disagree with intervals_ but not with each other
  std::uint64_t outliers_ = 0;
};

} // namespace hoshino::core

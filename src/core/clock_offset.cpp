#include "core/clock_offset.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <utility>

namespace hoshino::core {
namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool number(std::string_view s, int& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

} // namespace

std::optional<std::uint64_t> parse_http_date(std::string_view t) {
  // "Sun, 06 Nov 1994 08:49:37 GMT": fixed width, 29 characters.
  if (t.size() != 29 || t.substr(3, 2) != ", " || t[7] != ' ' || t[11] != ' ' || t[16] != ' ' || t[19] != ':' ||
      t[22] != ':' || t.substr(25) != " GMT")
    return std::nullopt;
  static constexpr std::array<std::string_view, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto month = std::find(kMonths.begin(), kMonths.end(), t.substr(8, 3));
  int day, year, h, m, s;
  if (month == kMonths.end() || !number(t.substr(5, 2), day) || !number(t.substr(12, 4), year) ||
      !number(t.substr(17, 2), h) || !number(t.substr(20, 2), m) || !number(t.substr(23, 2), s))
    return std::nullopt;
  if (year < 1970 || day < 1 || day > 31 || h > 23 || m > 59 || s > 60) return std::nullopt;
  auto days = days_from_civil(year, static_cast<unsigned>(month - kMonths.begin() + 1), static_cast<unsigned>(day));
  return static_cast<std::uint64_t>(((days * 24 + h) * 60 + m) * 60 + s) * 1000;
}

void ClockOffset::on_sample(std::uint64_t sent_ms, std::uint64_t received_ms, std::uint64_t server_date_ms) {
  if (received_ms < sent_ms) return; // the local clock stepped during the request: no information
  auto d = static_cast<std::int64_t>(server_date_ms);
  Interval i{d - static_cast<std::int64_t>(received_ms), d + 1000 - static_cast<std::int64_t>(sent_ms)};
  if (i.lo > kMaxOffsetMs || i.hi < -kMaxOffsetMs) { // a day off: a broken Date, not a clock
    ++outliers_;
    return;
  }
  std::vector<Interval> with = intervals_;
  with.push_back(i);
  if (intersect(with).lo > intersect(with).hi) {
    // Disagrees with what we know. Alone it changes nothing; kAgree in a row that agree with each other
    // (the local clock stepped, or the server's did) start the estimate over.
    ++outliers_;
    disagreeing_.push_back(i);
    if (intersect(disagreeing_).lo > intersect(disagreeing_).hi) disagreeing_.assign(1, i);
    if (disagreeing_.size() < kAgree) return;
    intervals_ = std::exchange(disagreeing_, {});
    next_ = intervals_.size() % kSamples;
    return;
  }
  disagreeing_.clear();
  if (intervals_.size() < kSamples) intervals_.push_back(i);
  else intervals_[next_] = i;
  next_ = (next_ + 1) % kSamples;
}

ClockOffset::Interval ClockOffset::intersect(const std::vector<Interval>& v) {
  Interval b{INT64_MIN, INT64_MAX};
  for (const auto& i : v) {
    b.lo = std::max(b.lo, i.lo);
    b.hi = std::min(b.hi, i.hi);
  }
  return b;
}

ClockOffset::Interval ClockOffset::bounds() const { return intersect(intervals_); }

std::int64_t ClockOffset::estimate_ms() const {
  if (intervals_.empty()) return 0;
  Interval b = bounds();
  return b.lo + (b.hi - b.lo) / 2;
}

std::int64_t ClockOffset::correction_ms() const {
  if (intervals_.empty()) return 0;
  Interval b = bounds();
  // Only when the whole interval is beyond the tolerance: a synced node is never nudged by noise.
  return b.lo > kToleranceMs || b.hi < -kToleranceMs ? estimate_ms() : 0;
}

} // namespace hoshino::core

#pragma once
// What S3 requests cost: money is one of the tunnel's metrics (docs/benchmarks.md reports dollars per GB
// moved and per idle node-day). One place for the prices the C++ side uses.
#include <cstdint>

namespace hoshino::core {

struct S3Prices {
  double put_per_1000 = 0.005;   // PUT, COPY, POST, LIST
  double list_per_1000 = 0.005;
  double get_per_1000 = 0.0004;  // GET, HEAD (a doorbell check is a GET)
  double delete_per_1000 = 0.0;  // DELETE and DeleteObjects are free

  double dollars(std::uint64_t puts, std::uint64_t lists, std::uint64_t gets, std::uint64_t deletes = 0) const {
    return (static_cast<double>(puts) * put_per_1000 + static_cast<double>(lists) * list_per_1000 +
            static_cast<double>(gets) * get_per_1000 + static_cast<double>(deletes) * delete_per_1000) / 1000;
  }
};

// S3 Standard, us-east-1.
inline constexpr S3Prices kS3Standard{};

} // namespace hoshino::core

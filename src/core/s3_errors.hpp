#pragma once
// The S3 error policy, in one table (s3_errors.cpp): what a failed answer means for the request that
// got it. Every caller (PUT attempts, rings, fetches, polls, the bell, listings) judges errors here, so
// "is this retried?" and "is this a miss or a fault?" have one answer each.
#include "s3/error.hpp"

#include <string_view>

namespace hoshino::core {

// The error code of a GET whose body passed its max_bytes (the transfer was cut there).
inline constexpr std::string_view kObjectTooLarge = "ObjectTooLarge";
// The error code of a create-only PUT on a key that exists.
inline constexpr std::string_view kPreconditionFailed = "PreconditionFailed";

enum class S3Fault {
  transient, // 5xx, 429/SlowDown, RequestTimeout, RequestTimeTooSkewed, no answer, a cut body: retried with backoff
  missing,   // a probe's key is not there yet (404; 403 AccessDenied to callers without s3:ListBucket): no fault
  denied,    // credentials or bucket policy: will not heal by retrying; counted and logged as an error
  expired,   // ExpiredToken: as denied, and fatal once it lasts (NodeConfig::expired_credentials_limit)
  too_large, // the body passed our cap (store::kObjectTooLarge): the object stays as large; not retried
  refused,   // any other answer (4xx): counted and dropped, not retried
};

// probe: a GET of a key that may not exist yet (a poll of an announced key, the bell), where "not there"
// is an answer, not a failure. Elsewhere (a listed key, a PUT, a LIST) the same 403 is a refusal.
S3Fault classify_s3_error(const s3::Error& e, bool probe);

struct S3FaultPolicy {
  bool retry;  // the request is tried again after a backoff (within its attempts and deadline)
  bool count;  // a failure for the error metrics and the log (a miss is not)
  bool loud;   // logged as an error (it will not heal by itself), not a warning
};
S3FaultPolicy policy_of(S3Fault fault);
std::string_view to_string(S3Fault fault);

// The label of an error code in metrics and in per-code log limits: one of a fixed set (the codes S3,
// RGW and our client give that an operator acts on), else "other": a server's <Code> is its text, and
// every label and map key must have a bound.
std::string_view code_label(std::string_view code);

// Shorthand for the probes' question: is this answer "the key is not there"?
bool missing_object(long http_status, std::string_view code);

} // namespace hoshino::core

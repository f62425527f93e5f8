// The S3 error policy's one table: what each answer means, for probes and for everything else.
#include "core/s3_errors.hpp"

#include <catch2/catch.hpp>

using namespace hoshino::core;
using hoshino::s3::Error;

namespace {

Error http(long status, std::string code) {
  Error e;
  e.kind = Error::Kind::http;
  e.http_status = status;
  e.code = std::move(code);
  return e;
}

Error of_kind(Error::Kind kind) {
  Error e;
  e.kind = kind;
  return e;
}

} // namespace

TEST_CASE("A probe's miss is 404, or 403 AccessDenied without s3:ListBucket; other refusals are errors", "[s3_errors]") {
  CHECK(missing_object(404, "NoSuchKey"));
  CHECK(missing_object(403, "AccessDenied"));
  CHECK_FALSE(missing_object(403, "SignatureDoesNotMatch"));
  CHECK_FALSE(missing_object(403, "InvalidAccessKeyId"));
  CHECK_FALSE(missing_object(500, "InternalError"));
  CHECK_FALSE(missing_object(400, "ExpiredToken"));
}

TEST_CASE("The same answer is a miss for a probe and a refusal for a listed key or a PUT", "[s3_errors]") {
  CHECK(classify_s3_error(http(403, "AccessDenied"), true) == S3Fault::missing);
  CHECK(classify_s3_error(http(403, "AccessDenied"), false) == S3Fault::denied);
  CHECK(classify_s3_error(http(404, "NoSuchKey"), true) == S3Fault::missing);
  CHECK(classify_s3_error(http(404, "NoSuchKey"), false) == S3Fault::refused);
  CHECK(classify_s3_error(http(404, "NoSuchBucket"), false) == S3Fault::refused);
}

TEST_CASE("Each fault has one policy: retried, counted, loud", "[s3_errors]") {
  struct Row {
    Error e;
    S3Fault fault;
    bool retry, count, loud;
  };
  const Row rows[] = {
      {http(503, "SlowDown"), S3Fault::transient, true, true, false},
      {http(500, "InternalError"), S3Fault::transient, true, true, false},
      {http(429, ""), S3Fault::transient, true, true, false},
      {http(400, "RequestTimeout"), S3Fault::transient, true, true, false},
      {http(403, "RequestTimeTooSkewed"), S3Fault::transient, true, true, false},
      {of_kind(Error::Kind::transport), S3Fault::transient, true, true, false},
      {of_kind(Error::Kind::protocol), S3Fault::transient, true, true, false},
      {http(403, "InvalidAccessKeyId"), S3Fault::denied, false, true, true},
      {http(403, "SignatureDoesNotMatch"), S3Fault::denied, false, true, true},
      {http(403, ""), S3Fault::denied, false, true, true},
      {http(400, "ExpiredToken"), S3Fault::expired, false, true, true},
      {http(200, std::string(kObjectTooLarge)), S3Fault::too_large, false, true, false},
      {http(400, "InvalidArgument"), S3Fault::refused, false, true, false},
      {http(412, std::string(kPreconditionFailed)), S3Fault::refused, false, true, false},
  };
  for (const auto& r : rows) {
    INFO(r.e.describe());
    auto fault = classify_s3_error(r.e, false);
    CHECK(fault == r.fault);
    CHECK(policy_of(fault).retry == r.retry);
    CHECK(policy_of(fault).count == r.count);
    CHECK(policy_of(fault).loud == r.loud);
    CHECK(r.e.retryable() == r.retry); // s3::Error's own answer is the table's
  }
  CHECK_FALSE(policy_of(S3Fault::missing).count);
  CHECK(to_string(S3Fault::too_large) == "too_large");
}

TEST_CASE("Error codes become labels from a fixed set: a server's made-up code is 'other'", "[s3][metrics]") {
  CHECK(code_label("SlowDown") == "SlowDown");
  CHECK(code_label("Timeout") == "Timeout");
  CHECK(code_label("Http503") == "Http503");
  CHECK(code_label("x\"} 1\nhoshino_fake 9") == "other");
  CHECK(code_label(std::string(10'000, 'A')) == "other");
}

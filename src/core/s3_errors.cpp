#include "core/s3_errors.hpp"

#include <array>

namespace hoshino::core {
namespace {

// First match wins. status 0: any status; code "": any code; probe_only: the row applies to probes only.
struct Rule {
  long status;
  std::string_view code;
  bool probe_only;
  S3Fault fault;
};

constexpr std::array kRules{
    Rule{0, kObjectTooLarge, false, S3Fault::too_large}, // our own cap
    Rule{0, "ExpiredToken", false, S3Fault::expired},
    Rule{404, "", true, S3Fault::missing},
    Rule{403, "AccessDenied", true, S3Fault::missing}, // GET of an absent key without s3:ListBucket
    Rule{0, "SlowDown", false, S3Fault::transient},
    Rule{0, "RequestTimeout", false, S3Fault::transient},
    Rule{0, "RequestTimeTooSkewed", false, S3Fault::transient}, // the clock offset corrects the next one
    Rule{429, "", false, S3Fault::transient},
    Rule{0, "AccessDenied", false, S3Fault::denied},
    Rule{0, "InvalidAccessKeyId", false, S3Fault::denied},
    Rule{0, "SignatureDoesNotMatch", false, S3Fault::denied},
    Rule{403, "", false, S3Fault::denied},
};

constexpr std::array<S3FaultPolicy, 6> kPolicies{{
    /* transient */ {true, true, false},
    /* missing   */ {false, false, false},
    /* denied    */ {false, true, true},
    /* expired   */ {false, true, true},
    /* too_large */ {false, true, false},
    /* refused   */ {false, true, false},
}};

} // namespace

S3Fault classify_s3_error(const s3::Error& e, bool probe) {
  for (const auto& r : kRules) {
    if (r.probe_only && !probe) continue;
    if (r.status != 0 && r.status != e.http_status) continue;
    if (!r.code.empty() && r.code != e.code) continue;
    return r.fault;
  }
  switch (e.kind) {
    case s3::Error::Kind::transport: return S3Fault::transient;
    case s3::Error::Kind::protocol: return S3Fault::transient; // a truncated body is a broken connection in disguise
    case s3::Error::Kind::http: break;
  }
  return e.http_status >= 500 ? S3Fault::transient : S3Fault::refused;
}

S3FaultPolicy policy_of(S3Fault fault) { return kPolicies[static_cast<std::size_t>(fault)]; }

std::string_view to_string(S3Fault fault) {
  switch (fault) {
    case S3Fault::transient: return "transient";
    case S3Fault::missing: return "missing";
    case S3Fault::denied: return "denied";
    case S3Fault::expired: return "expired";
    case S3Fault::too_large: return "too_large";
    case S3Fault::refused: return "refused";
  }
  return "?";
}

bool missing_object(long http_status, std::string_view code) {
  s3::Error e;
  e.kind = s3::Error::Kind::http;
  e.http_status = http_status;
  e.code = std::string(code);
  return classify_s3_error(e, true) == S3Fault::missing;
}

std::string_view code_label(std::string_view code) {
  static constexpr std::string_view kCodes[] = {
      // S3's answers (docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html), those we meet
      "AccessDenied", "AccountProblem", "AllAccessDisabled", "BadDigest", "BucketAlreadyExists",
      "BucketAlreadyOwnedByYou", "EntityTooLarge", "ExpiredToken", "IllegalLocationConstraintException",
      "InternalError", "InvalidAccessKeyId", "InvalidArgument", "InvalidBucketName", "InvalidObjectState",
      "InvalidRequest", "InvalidToken", "KeyTooLongError", "MalformedXML", "MethodNotAllowed",
      "MissingContentLength", "NoSuchBucket", "NoSuchKey", "NotImplemented", "OperationAborted",
      "PermanentRedirect", "PreconditionFailed", "RequestTimeTooSkewed", "RequestTimeout",
      "ServiceUnavailable", "SignatureDoesNotMatch", "SlowDown", "TemporaryRedirect", "TokenRefreshRequired",
      "XAmzContentSHA256Mismatch",
      // our client's (s3/client.cpp)
      "Timeout", "ConnectionRefused", "ResolveFailed", "ConnectionReset", "Truncated", "Transport",
      "MalformedResponse", "ObjectTooLarge",
      // an answer without an S3 document: Http<status>
      "Http301", "Http307", "Http400", "Http403", "Http404", "Http409", "Http412", "Http429", "Http500",
      "Http501", "Http502", "Http503", "Http504"};
  for (auto c : kCodes)
    if (c == code) return c;
  return "other";
}

} // namespace hoshino::core

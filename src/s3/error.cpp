#include "s3/error.hpp"

#include "core/s3_errors.hpp"

namespace hoshino::s3 {

std::string Error::describe() const {
  std::string s;
  switch (kind) {
    case Kind::transport:
      s = "connection error: " + (message.empty() ? code : message);
      break;
    case Kind::http:
      s = (code.empty() ? std::string("HTTP error") : code) + " (HTTP " + std::to_string(http_status) + ")";
      if (!message.empty()) s += ": " + message;
      break;
    case Kind::protocol:
      s = "unexpected response (HTTP " + std::to_string(http_status) + "): " + message;
      break;
  }
  return s;
}

bool Error::retryable() const {
  return core::policy_of(core::classify_s3_error(*this, false)).retry; // the one table: core/s3_errors.cpp
}

} // namespace hoshino::s3

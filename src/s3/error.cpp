#include "s3/error.hpp"

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
  if (code == "ObjectTooLarge") return false; // the client's own cap: the object stays as large
  switch (kind) {
    case Kind::transport: return true;
    case Kind::protocol: return true; // a truncated body is a broken connection in disguise
    case Kind::http:
      return http_status >= 500 || http_status == 429 || code == "SlowDown" || code == "RequestTimeout" ||
             code == "RequestTimeTooSkewed";
  }
  return false;
}

} // namespace hoshino::s3

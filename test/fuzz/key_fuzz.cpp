// libFuzzer target: object key (with inline bodies: base64url) and ULID parsing. Whatever parses must
// format back to the same text.
#include "core/keys.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view key(reinterpret_cast<const char*>(data), size);
  if (auto k = hoshino::core::parse_key("hoshino", key); k && hoshino::core::format_key("hoshino", *k) != key)
    std::abort();
  if (auto u = hoshino::core::Ulid::parse(key); u && u->str() != key) std::abort();
  return 0;
}

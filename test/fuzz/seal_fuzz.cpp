// libFuzzer target: opening sealed bodies. Without the key nothing may open.
#include "core/seal.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  hoshino::core::Psk key{};
  key.fill(7);
  if (hoshino::core::open_sealed(key, "hoshino/dst/src/ulid", body)) std::abort(); // a forgery
  return 0;
}

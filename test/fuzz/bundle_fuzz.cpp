// libFuzzer target: the object body decoder. Anything it accepts must re-encode to the same packets.
#include "core/bundle.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto packets = hoshino::core::decode_body(body);
  if (packets && !(static_cast<std::uint8_t>(body[0]) >> 4 == 6)) {
    auto again = hoshino::core::decode_body(hoshino::core::encode_bundle(*packets));
    if (!again || *again != *packets) std::abort();
  }
  return 0;
}

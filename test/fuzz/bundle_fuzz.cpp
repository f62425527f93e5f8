// libFuzzer target: the object body decoder. Anything it accepts (other than a bare packet) must be the
// one encoding of what it decoded to: same packets, same predecessor and successor, same bytes.
#include "core/bundle.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto bundle = hoshino::core::decode_body(body);
  if (bundle && !(static_cast<std::uint8_t>(body[0]) >> 4 == 6)) {
    auto encoded = hoshino::core::encode_bundle(bundle->packets, bundle->after, bundle->next);
    if (encoded != body) std::abort();
    auto again = hoshino::core::decode_body(encoded);
    if (!again || *again != *bundle) std::abort();
  }
  return 0;
}

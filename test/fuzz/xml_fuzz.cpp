// libFuzzer target: the S3 XML documents (list result, error, delete result).
#include "s3/xml.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view xml(reinterpret_cast<const char*>(data), size);
  if (auto page = hoshino::s3::parse_list_result(xml); page && page->truncated && page->next_continuation_token.empty())
    std::abort();
  if (auto e = hoshino::s3::parse_error(xml); e && e->code.empty()) std::abort();
  (void)hoshino::s3::parse_delete_result(xml);
  return 0;
}

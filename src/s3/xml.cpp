#include "s3/xml.hpp"


#include <pugixml.hpp>

#include <charconv>
#include <sstream>

namespace hoshino::s3 {
namespace {

Result<pugi::xml_document*, std::string> load(pugi::xml_document& doc, std::string_view xml) {
  auto r = doc.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8);
  if (!r) return std::string("malformed XML at offset ") + std::to_string(r.offset) + ": " + r.description();
  return &doc;
}

std::string text(const pugi::xml_node& n, const char* child) { return n.child(child).text().as_string(); }

} // namespace

Result<ListPage, std::string> parse_list_result(std::string_view xml) {
  pugi::xml_document doc;
  if (auto r = load(doc, xml); !r) return std::move(r).error();
  auto root = doc.child("ListBucketResult");
  if (!root) return std::string("not a ListBucketResult document");
  ListPage page;
  auto truncated = root.child("IsTruncated");
  if (!truncated) return std::string("ListBucketResult without IsTruncated");
  page.truncated = std::string_view(truncated.text().as_string()) == "true";
  page.next_continuation_token = text(root, "NextContinuationToken");
  if (page.truncated && page.next_continuation_token.empty())
    return std::string("truncated listing without NextContinuationToken");
  for (auto c : root.children("Contents")) {
    ObjectInfo o;
    auto key = c.child("Key");
    if (!key) return std::string("Contents without Key");
    o.key = key.text().as_string();
    std::string_view size = c.child("Size").text().as_string();
    if (!size.empty()) {
      auto [p, ec] = std::from_chars(size.data(), size.data() + size.size(), o.size);
      if (ec != std::errc{} || p != size.data() + size.size()) return "bad Size '" + std::string(size) + "'";
    }
    o.etag = text(c, "ETag");
    o.last_modified = text(c, "LastModified");
    page.objects.push_back(std::move(o));
  }
  return page;
}

Result<ErrorBody, std::string> parse_error(std::string_view xml) {
  pugi::xml_document doc;
  if (auto r = load(doc, xml); !r) return std::move(r).error();
  auto root = doc.child("Error");
  if (!root) return std::string("not an Error document");
  ErrorBody e{text(root, "Code"), text(root, "Message"), text(root, "RequestId")};
  if (e.code.empty()) return std::string("Error document without Code");
  return e;
}

std::string build_delete_request(std::span<const std::string> keys) {
  pugi::xml_document doc;
  auto root = doc.append_child("Delete");
  root.append_attribute("xmlns") = "http://s3.amazonaws.com/doc/2006-03-01/";
  root.append_child("Quiet").text() = "true";
  for (const auto& k : keys) root.append_child("Object").append_child("Key").text() = k.c_str();
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw | pugi::format_no_declaration);
  return out.str();
}

Result<DeleteResult, std::string> parse_delete_result(std::string_view xml) {
  pugi::xml_document doc;
  if (auto r = load(doc, xml); !r) return std::move(r).error();
  auto root = doc.child("DeleteResult");
  if (!root) return std::string("not a DeleteResult document");
  DeleteResult res;
  for (auto d : root.children("Deleted")) res.deleted.push_back(text(d, "Key"));
  for (auto e : root.children("Error")) res.failed.push_back({text(e, "Key"), text(e, "Code"), text(e, "Message")});
  return res;
}

} // namespace hoshino::s3

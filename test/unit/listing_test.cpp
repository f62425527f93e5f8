// The one pager of every listing: IsTruncated is honoured, a bound or a failure leaves it incomplete, a
// page that does not move forward ends it.
#include "core/listing.hpp"

#include <catch2/catch.hpp>

using namespace hoshino::core;

namespace {

ListPage page(std::initializer_list<const char*> keys, bool truncated) {
  ListPage p;
  for (auto* k : keys) p.objects.emplace_back(k);
  p.truncated = truncated;
  return p;
}

} // namespace

TEST_CASE("A short page that says truncated is read on; the listing is complete only when one says not", "[listing]") {
  Listing l(10);
  REQUIRE(l.next_page() == std::string());
  l.on_page(page({"a", "b"}, true)); // fewer than max-keys, and more follow: S3 may do this
  REQUIRE(l.next_page() == std::string("b"));
  CHECK_FALSE(l.complete());
  l.on_page(page({"c"}, false));
  CHECK_FALSE(l.next_page());
  CHECK(l.complete());
  CHECK(l.pages() == 2);
}

TEST_CASE("A listing cut at its page bound or by a failure is incomplete", "[listing][hostile]") {
  Listing bounded(2);
  bounded.on_page(page({"a"}, true));
  bounded.on_page(page({"b"}, true));
  CHECK_FALSE(bounded.next_page());
  CHECK_FALSE(bounded.complete()); // never proof that what it did not reach is absent
  CHECK_FALSE(bounded.failed());
  Listing failed(5);
  failed.on_page(page({"a"}, true));
  failed.on_failed();
  CHECK_FALSE(failed.next_page());
  CHECK_FALSE(failed.complete());
  CHECK(failed.failed());
}

TEST_CASE("A truncated page that does not move past start-after ends the listing, incomplete", "[listing][hostile]") {
  Listing empty(100);
  empty.on_page(page({}, true));
  CHECK_FALSE(empty.next_page());
  CHECK_FALSE(empty.complete());
  Listing backwards(100);
  backwards.on_page(page({"m"}, true));
  REQUIRE(backwards.next_page() == std::string("m"));
  backwards.on_page(page({"c"}, true)); // a broken or hostile server: the same or earlier keys again
  CHECK_FALSE(backwards.next_page());
  CHECK(backwards.pages() == 2);
  CHECK_FALSE(backwards.complete());
}

TEST_CASE("The caller may stop early: the rest waits for the next listing", "[listing]") {
  Listing l(5);
  l.on_page(page({"a"}, true), false);
  CHECK_FALSE(l.next_page());
  CHECK_FALSE(l.complete());
  Listing whole(5);
  whole.on_page(page({"a"}, false), false);
  CHECK(whole.complete());
}

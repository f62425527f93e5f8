#include "s3/error.hpp"
#include "s3/xml.hpp"

#include <catch2/catch.hpp>

using namespace hoshino::s3;

TEST_CASE("ListBucketResult: keys, sizes, continuation", "[xml]") {
  auto r = parse_list_result(R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix>
<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>
<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
<Contents><Key>p/a &amp; b</Key><Size>12</Size><ETag>&quot;abc&quot;</ETag><LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>
<Contents><Key>p/é</Key><Size>0</Size></Contents></ListBucketResult>)");
  REQUIRE(r);
  CHECK(r->truncated);
  CHECK(r->next_continuation_token == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
  REQUIRE(r->objects.size() == 2);
  CHECK(r->objects[0].key == "p/a & b");
  CHECK(r->objects[0].size == 12);
  CHECK(r->objects[0].etag == "\"abc\"");
  CHECK(r->objects[1].key == "p/é");
}

TEST_CASE("ListBucketResult: empty listing", "[xml]") {
  auto r = parse_list_result("<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>");
  REQUIRE(r);
  CHECK_FALSE(r->truncated);
  CHECK(r->objects.empty());
}

TEST_CASE("ListBucketResult: malformed input is an error, not a crash", "[xml]") {
  const char* bad[] = {
      "",
      "not xml at all",
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a</Key>",   // truncated
      "<Error><Code>NoSuchBucket</Code></Error>",                                     // wrong document
      "<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>",      // no IsTruncated
      "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",        // no token
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Size>1</Size></Contents></ListBucketResult>",
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a</Key><Size>99999999999999999999999</Size></Contents></ListBucketResult>",
  };
  for (const char* doc : bad) {
    INFO(doc);
    CHECK_FALSE(parse_list_result(doc));
  }
}

TEST_CASE("Error documents", "[xml]") {
  auto e = parse_error(R"(<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code>
<Message>The request signature we calculated does not match</Message><RequestId>tx1</RequestId></Error>)");
  REQUIRE(e);
  CHECK(e->code == "SignatureDoesNotMatch");
  CHECK(e->message == "The request signature we calculated does not match");
  CHECK(e->request_id == "tx1");
  CHECK_FALSE(parse_error(""));
  CHECK_FALSE(parse_error("<Error><Message>no code</Message></Error>"));
  CHECK_FALSE(parse_error("<Error><Code>Trunc"));
  CHECK_FALSE(parse_error("<html>502 Bad Gateway</html>"));
}

TEST_CASE("DeleteObjects request and result", "[xml]") {
  std::vector<std::string> keys{"a", "b & <c>", "é"};
  auto body = build_delete_request(keys);
  CHECK(body == "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>"
                "<Object><Key>a</Key></Object><Object><Key>b &amp; &lt;c&gt;</Key></Object>"
                "<Object><Key>é</Key></Object></Delete>");
  auto r = parse_delete_result("<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key><Code>AccessDenied</Code>"
                               "<Message>Access Denied</Message></Error></DeleteResult>");
  REQUIRE(r);
  CHECK(r->deleted == std::vector<std::string>{"a"});
  REQUIRE(r->failed.size() == 1);
  CHECK(r->failed[0].code == "AccessDenied");
  CHECK_FALSE(parse_delete_result("<DeleteResult><Deleted>"));
}

TEST_CASE("Error description and retry classification", "[error]") {
  Error e;
  e.kind = Error::Kind::http;
  e.http_status = 404;
  e.code = "NoSuchBucket";
  e.message = "The specified bucket does not exist";
  CHECK(e.describe() == "NoSuchBucket (HTTP 404): The specified bucket does not exist");
  CHECK_FALSE(e.retryable());
  e.http_status = 503;
  e.code = "SlowDown";
  CHECK(e.retryable());
  Error t;
  t.kind = Error::Kind::transport;
  t.code = "Timeout";
  CHECK(t.retryable());
}

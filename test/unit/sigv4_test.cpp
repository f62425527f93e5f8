// SigV4 against the examples AWS publishes for S3 ("Signature Calculations for the Authorization Header:
// Transferring Payload in a Single Chunk"): key AKIAIOSFODNN7EXAMPLE, 2013-05-24, us-east-1.
#include "s3/sigv4.hpp"
#include "util/crypto.hpp"

#include <catch2/catch.hpp>

using namespace hoshino::s3;

namespace {

const Credentials kExample{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "", "test"};
constexpr const char* kDate = "20130524T000000Z";
constexpr const char* kEmptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* kHost = "examplebucket.s3.amazonaws.com";

Signature sign(const char* method, const std::string& path, const QueryParams& q, Headers h, const std::string& hash) {
  Signer signer(kExample, "us-east-1");
  return signer.sign({method, path, &q, &h, hash}, kDate);
}

} // namespace

TEST_CASE("SigV4: GET object with Range (AWS example)", "[sigv4]") {
  auto sig = sign("GET", "/test.txt", {},
                  {{"Host", kHost}, {"Range", "bytes=0-9"}, {"x-amz-content-sha256", kEmptyHash}, {"x-amz-date", kDate}},
                  kEmptyHash);
  CHECK(sig.canonical_request ==
        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
        "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
        "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sig.string_to_sign ==
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  CHECK(sig.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  CHECK(sig.authorization ==
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST_CASE("SigV4: PUT object (AWS example)", "[sigv4]") {
  std::string body = "Welcome to Amazon S3.";
  std::string hash = hoshino::crypto::hex(hoshino::crypto::sha256(body));
  REQUIRE(hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  // The key is "test$file.text": '$' must be percent-encoded in the canonical path.
  auto sig = sign("PUT", "/" + uri_encode("test$file.text", true), {},
                  {{"Host", kHost},
                   {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                   {"x-amz-date", kDate},
                   {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                   {"x-amz-content-sha256", hash}},
                  hash);
  CHECK(sig.signed_headers == "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
  CHECK(sig.signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST_CASE("SigV4: GET bucket lifecycle (AWS example)", "[sigv4]") {
  auto sig = sign("GET", "/", {{"lifecycle", ""}},
                  {{"Host", kHost}, {"x-amz-date", kDate}, {"x-amz-content-sha256", kEmptyHash}}, kEmptyHash);
  CHECK(sig.canonical_request.starts_with("GET\n/\nlifecycle=\n"));
  CHECK(sig.signature == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST_CASE("SigV4: list objects ?max-keys=2&prefix=J (AWS example)", "[sigv4]") {
  // Given out of order on purpose: the canonical query must sort them.
  auto sig = sign("GET", "/", {{"prefix", "J"}, {"max-keys", "2"}},
                  {{"Host", kHost}, {"x-amz-date", kDate}, {"x-amz-content-sha256", kEmptyHash}}, kEmptyHash);
  CHECK(sig.canonical_request.starts_with("GET\n/\nmax-keys=2&prefix=J\n"));
  CHECK(sig.signature == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST_CASE("SigV4: session token is a signed header", "[sigv4]") {
  Headers h{{"Host", kHost}, {"x-amz-date", kDate}, {"x-amz-content-sha256", kEmptyHash},
            {"x-amz-security-token", "token/with+chars="}};
  auto with = sign("GET", "/", {}, h, kEmptyHash);
  CHECK(with.signed_headers == "host;x-amz-content-sha256;x-amz-date;x-amz-security-token");
  CHECK(with.canonical_request.find("x-amz-security-token:token/with+chars=\n") != std::string::npos);
  h.back().second = "another-token";
  CHECK(sign("GET", "/", {}, h, kEmptyHash).signature != with.signature);
}

TEST_CASE("SigV4: header values are trimmed and inner spaces folded", "[sigv4]") {
  auto a = sign("GET", "/", {}, {{"Host", kHost}, {"X-Custom", "  a   b  "}, {"x-amz-date", kDate}}, kEmptyHash);
  CHECK(a.canonical_request.find("x-custom:a b\n") != std::string::npos);
}

TEST_CASE("URI encoding of keys and query values", "[sigv4][encoding]") {
  CHECK(uri_encode("AZaz09-._~", false) == "AZaz09-._~");
  CHECK(uri_encode("dir/sub dir/file", true) == "dir/sub%20dir/file");
  CHECK(uri_encode("dir/sub", false) == "dir%2Fsub");
  CHECK(uri_encode("a+b", true) == "a%2Bb"); // '+' is not a space in S3 paths
  CHECK(uri_encode("100%", true) == "100%25");
  CHECK(uri_encode("é☃", true) == "%C3%A9%E2%98%83");
  CHECK(uri_encode("$&=?#", false) == "%24%26%3D%3F%23");
}

TEST_CASE("Canonical query sorts by encoded name and encodes values", "[sigv4][encoding]") {
  CHECK(canonical_query({}) == "");
  CHECK(canonical_query({{"list-type", "2"}, {"prefix", "hoshino/ab cd/"}, {"continuation-token", "x+y=="}}) ==
        "continuation-token=x%2By%3D%3D&list-type=2&prefix=hoshino%2Fab%20cd%2F");
  CHECK(canonical_query({{"delete", ""}}) == "delete=");
  // Sorting happens after encoding (byte order of the encoded names).
  CHECK(canonical_query({{"b", "1"}, {"a~", "2"}, {"a-", "3"}}) == "a-=3&a~=2&b=1");
}

TEST_CASE("amz_date formats UTC", "[sigv4]") {
  using namespace std::chrono;
  auto t = sys_days{year{2013} / 5 / 24} + hours{1} + minutes{2} + seconds{3};
  CHECK(amz_date(t) == "20130524T010203Z");
}

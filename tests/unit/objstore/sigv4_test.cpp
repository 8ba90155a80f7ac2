// Request signing, checked through libcurl itself: each request goes through perform() (curl's
// CURLOPT_AWS_SIGV4) to a scripted server on the loopback address, and the Authorization header
// it captured must equal AWS's published value. curl 7.88 takes the request time from an
// X-Amz-Date header the caller sets (http_aws_sigv4.c, make_headers()), which makes the
// signatures deterministic; the production requests set none and let curl stamp the time. (7.88
// then also sends the header twice, once as given and once from its own stamp: harmless here,
// and the reason production requests never set it.)

#include <gtest/gtest.h>

#include "s3_request.h"
#include "scripted_http_server.h"

namespace guestdump::objstore::detail {
namespace {

using test::ScriptedHttpServer;

// AWS's SigV4 test suite (docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html).
const Signer kSuite{
    "us-east-1", "service", {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""}};
// The S3 examples (docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html).
const Signer kS3Docs{
    "us-east-1", "s3", {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""}};

std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

struct Vector {
  const char* name;
  const char* method;
  const char* path; // decoded; uri_encode() makes the request path
  Headers query;    // decoded; canonical_query() makes the request query
  Headers headers;  // besides Host and X-Amz-Date
  const char* authorization;
};

const std::string kScope = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
                           "aws4_request, ";

const Vector kVectors[] = {
    {"get-vanilla",
     "GET",
     "/",
     {},
     {},
     "SignedHeaders=host;x-amz-date, "
     "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-vanilla-query-order-key-case",
     "GET",
     "/",
     {{"Param2", "value2"}, {"Param1", "value1"}},
     {},
     "SignedHeaders=host;x-amz-date, "
     "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
    {"get-vanilla-empty-query-key",
     "GET",
     "/",
     {{"Param1", "value1"}},
     {},
     "SignedHeaders=host;x-amz-date, "
     "Signature=a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
    {"get-vanilla-query-unreserved",
     "GET",
     "/",
     {{"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
       "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}},
     {},
     "SignedHeaders=host;x-amz-date, "
     "Signature=9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
    {"get-vanilla-utf8-query",
     "GET",
     "/",
     {{"\xe1\x88\xb4", "bar"}},
     {},
     "SignedHeaders=host;x-amz-date, "
     "Signature=2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
    {"get-utf8",
     "GET",
     "/\xe1\x88\xb4",
     {},
     {},
     "SignedHeaders=host;x-amz-date, "
     "Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
    {"get-unreserved",
     "GET",
     "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
     {},
     {},
     "SignedHeaders=host;x-amz-date, "
     "Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
    {"get-space",
     "GET",
     "/example space/",
     {},
     {},
     "SignedHeaders=host;x-amz-date, "
     "Signature=652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
    {"get-header-value-trim",
     "GET",
     "/",
     {},
     {{"My-Header1", "value1"}, {"My-Header2", "\"a   b   c\""}},
     "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
     "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
    {"post-vanilla",
     "POST",
     "/",
     {},
     {},
     "SignedHeaders=host;x-amz-date, "
     "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
    {"post-vanilla-query",
     "POST",
     "/",
     {{"Param1", "value1"}},
     {},
     "SignedHeaders=host;x-amz-date, "
     "Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
    {"post-vanilla-query-nonunreserved",
     "POST",
     "/",
     {{"@#$%^&+", "/,?><`\";:\\|][{}"}},
     {},
     "SignedHeaders=host;x-amz-date, "
     "Signature=88d3e39e4fa54b971f51c0a09140368e1a51aafb76c4652d9998f93cf3038074"},
    {"post-header-value-case",
     "POST",
     "/",
     {},
     {{"My-Header1", "VALUE1"}},
     "SignedHeaders=host;my-header1;x-amz-date, "
     "Signature=cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
};

ScriptedHttpServer::Reply ok(const ScriptedHttpServer::Request&) {
  return {};
}

ScriptedHttpServer::Request send_one(const Signer& signer, HttpRequest request) {
  ScriptedHttpServer server(ok);
  request.url = server.url() + request.url;
  auto reply = perform(signer, request);
  EXPECT_TRUE(reply) << reply.error().message;
  auto seen = server.requests();
  EXPECT_EQ(seen.size(), 1u);
  return seen.empty() ? ScriptedHttpServer::Request{} : seen.front();
}

TEST(SigV4, AwsTestSuiteThroughCurl) {
  for (const auto& v : kVectors) {
    SCOPED_TRACE(v.name);
    HttpRequest request;
    request.method = v.method;
    request.url = uri_encode(v.path, true);
    if (!v.query.empty()) request.url += "?" + canonical_query(v.query);
    request.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
    request.headers.insert(request.headers.end(), v.headers.begin(), v.headers.end());
    request.content_sha256 = false; // the generic suite signs no payload-hash header
    auto seen = send_one(kSuite, request);
    EXPECT_EQ(seen.header("Authorization"), kScope + v.authorization);
  }
}

// The S3 examples: x-amz-content-sha256 (added by perform()) is signed and is the payload hash.
const std::string kS3Scope = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
                             "s3/aws4_request, ";

TEST(SigV4, S3GetObjectWithRange) {
  HttpRequest request;
  request.url = "/" + uri_encode("test.txt", true);
  request.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                     {"Range", "bytes=0-9"},
                     {"x-amz-date", "20130524T000000Z"}};
  auto seen = send_one(kS3Docs, request);
  EXPECT_EQ(seen.header("x-amz-content-sha256"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(seen.header("Authorization"),
            kS3Scope +
                "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4, S3PutObjectHashesTheBody) {
  const std::string body = "Welcome to Amazon S3.";
  HttpRequest request;
  request.method = "PUT";
  request.url = "/" + uri_encode("test$file.text", true);
  request.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                     {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                     {"x-amz-date", "20130524T000000Z"},
                     {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
  request.body = bytes(body);
  auto seen = send_one(kS3Docs, request);
  EXPECT_EQ(seen.target, "/test%24file.text");
  EXPECT_EQ(seen.body, body);
  EXPECT_EQ(seen.header("x-amz-content-sha256"),
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  EXPECT_EQ(seen.header("Authorization"),
            kS3Scope +
                "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
                "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

// GET examplebucket/?QUERY of the S3 examples, its query made by canonical_query(): the URL
// query it gave and the Authorization header curl sent.
std::pair<std::string, std::string> s3_docs_bucket_get(const Headers& query) {
  HttpRequest request;
  const std::string sent = canonical_query(query);
  request.url = "/?" + sent;
  request.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                     {"x-amz-date", "20130524T000000Z"}};
  return {sent, send_one(kS3Docs, request).header("Authorization")};
}

TEST(SigV4, S3ValuelessParameterGetsItsEquals) {
  // GET ?lifecycle: curl 7.88 signs "lifecycle" unless the URL says "lifecycle=" (curl #10129).
  auto [query, authorization] = s3_docs_bucket_get({{"lifecycle", ""}});
  EXPECT_EQ(query, "lifecycle=");
  EXPECT_EQ(authorization,
            kS3Scope +
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4, S3QueryIsSortedBeforeCurlSignsIt) {
  // GET ?max-keys=2&prefix=J given in the other order: curl 7.88 signs the URL's order (#9717).
  auto [query, authorization] = s3_docs_bucket_get({{"prefix", "J"}, {"max-keys", "2"}});
  EXPECT_EQ(query, "max-keys=2&prefix=J");
  EXPECT_EQ(authorization,
            kS3Scope +
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4, UnstampedRequestGetsTodaysScopeAndSignedPayloadHash) {
  // What production sends: no X-Amz-Date of ours (curl stamps it, once), the body's hash signed.
  const std::string body(3u << 20, 'x'); // large enough for curl's Expect: 100-continue
  HttpRequest request;
  request.method = "PUT";
  request.url = "/bucket/" + uri_encode("host a/uuid/vmcore", true) + "?" +
                canonical_query({{"uploadId", "U"}, {"partNumber", "1"}});
  request.body = bytes(body);
  Signer signer{"eu-1", "s3", {"AKIDX", "secret", "SESSION"}};
  auto seen = send_one(signer, request);
  EXPECT_EQ(seen.target, "/bucket/host%20a/uuid/vmcore?partNumber=1&uploadId=U");
  EXPECT_EQ(seen.body.size(), body.size());
  EXPECT_EQ(seen.header("x-amz-content-sha256"), sha256_hex(bytes(body)));
  EXPECT_EQ(seen.count("x-amz-date"), 1);
  const std::string date = seen.header("x-amz-date");
  ASSERT_EQ(date.size(), 16u);
  const std::string auth = seen.header("Authorization");
  EXPECT_EQ(auth.rfind("AWS4-HMAC-SHA256 Credential=AKIDX/" + date.substr(0, 8) +
                           "/eu-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;"
                           "x-amz-date;x-amz-security-token, Signature=",
                       0),
            0u)
      << auth;
  EXPECT_EQ(seen.header("x-amz-security-token"), "SESSION");
  EXPECT_EQ(auth.find("secret"), std::string::npos);
}

TEST(SigV4, ErrorReplyIsReadFromItsXml) {
  ScriptedHttpServer server([](const ScriptedHttpServer::Request&) {
    return ScriptedHttpServer::Reply{
        403,
        {{"Content-Type", "application/xml"}},
        "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>bad\n"
        "forged line</Message></Error>",
        false};
  });
  HttpRequest request;
  request.url = server.url() + "/b/k";
  auto reply = perform(kS3Docs, request);
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->status, 403);
  auto checked = check_reply(*reply);
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().message, "HTTP 403 SignatureDoesNotMatch: bad\\nforged line");
}

TEST(SigV4, NoServerIsAnError) {
  int port;
  {
    ScriptedHttpServer server(ok);
    port = std::stoi(server.url().substr(server.url().rfind(':') + 1));
  }
  HttpRequest request;
  request.url = "http://127.0.0.1:" + std::to_string(port) + "/b/k";
  auto reply = perform(kS3Docs, request);
  ASSERT_FALSE(reply);
  EXPECT_EQ(
      reply.error().message.rfind("GET 'http://127.0.0.1:" + std::to_string(port) + "/b/k': ", 0),
      0u)
      << reply.error().message;
}

TEST(S3Encoding, Helpers) {
  EXPECT_EQ(uri_encode("a b/c+d~", true), "a%20b/c%2Bd~");
  EXPECT_EQ(uri_encode("a/b", false), "a%2Fb");
  EXPECT_EQ(canonical_query({{"uploads", ""}}), "uploads=");
  EXPECT_EQ(canonical_query({{"uploadId", "a/b"}, {"partNumber", "10"}}),
            "partNumber=10&uploadId=a%2Fb");
  EXPECT_EQ(
      xml_text("<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
               "<Bucket>b</Bucket><UploadId>2~abc</UploadId></InitiateMultipartUploadResult>",
               "InitiateMultipartUploadResult/UploadId"),
      "2~abc");
  EXPECT_EQ(xml_text("not xml", "Error/Code"), "");
  EXPECT_EQ(sha256_hex({}), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

} // namespace
} // namespace guestdump::objstore::detail

#pragma once
// One signed HTTP request to an S3-compatible server, through libcurl: CURLOPT_AWS_SIGV4 signs it
// (no signing code of ours), and this layer supplies what curl 7.88 leaves to the caller (see
// ../shared/docs/reference/fleet-store.md §2): the x-amz-content-sha256 header (curl hashes only
// POSTFIELDS and S3 demands the header), query parameters sorted by name (curl signs them in the
// given order, curl issue #9717) and `=` after a value-less parameter (`?uploads=`, curl issue
// #10129). Both are fixed upstream after 7.88; the workarounds are harmless there.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "guestdump/common/result.h"
#include "guestdump/objstore/config.h"

namespace guestdump::objstore::detail {

using Headers = std::vector<std::pair<std::string, std::string>>;

/// How a request is signed: the key pair and the scope's region and service.
struct Signer {
  std::string region;
  std::string service = "s3";
  Credentials credentials;
};

struct HttpRequest {
  std::string method = "GET"; // GET, HEAD, PUT, POST, DELETE
  std::string url;            // path already URI-encoded, query from canonical_query()
  Headers headers;            // sent and signed as given (names in any case)
  std::span<const std::byte> body;
  /// False only for AWS's generic SigV4 vectors, which sign no x-amz-content-sha256; S3 requires
  /// it, so every real request carries the body's SHA-256 in it and the server checks the body.
  bool content_sha256 = true;
  /// The body's hex SHA-256 when the caller has it already; computed otherwise.
  std::string payload_sha256;
  /// Largest body accepted in the reply; a longer one fails the request.
  std::size_t max_reply = 16u << 20;
  /// When set, a 2xx reply's body goes here chunk by chunk instead of into HttpResponse::body
  /// (max_reply then bounds only error bodies); returning false fails the request.
  std::function<bool(std::string_view)> on_body;
  /// Upper bound of the body's send rate in bytes per second; 0: none.
  std::uint64_t max_send_rate = 0;
  /// Polled while the request runs (about once a second, and as data moves); true aborts it.
  /// Empty: never.
  std::function<bool()> cancelled;
};

struct HttpResponse {
  long status = 0;
  Headers headers; // names lower-cased
  std::string body;
  /// The value of a header (name in lower case), empty if absent.
  std::string header(std::string_view name) const;
};

/// Sends the request; fails only when no HTTP reply came (connection refused, timeout, reply too
/// large). Any HTTP status is a value: see check_reply().
Result<HttpResponse> perform(const Signer& signer, const HttpRequest& request);

/// The reply as an error unless its status is 2xx: "HTTP 403 SignatureDoesNotMatch: <message>",
/// the code and message read from S3's XML error body when there is one.
Result<void> check_reply(const HttpResponse& reply);

/// S3's URI encoding: every byte but A-Z a-z 0-9 - . _ ~ (and '/' when keep_slash) as %XX.
std::string uri_encode(std::string_view text, bool keep_slash);

/// `a=1&b=&c=x%2Fy`: parameters encoded and sorted by name, each with its '=' (the form curl 7.88
/// must be given to sign what the server computes).
std::string canonical_query(Headers params);

/// Hex SHA-256 of bytes.
std::string sha256_hex(std::span<const std::byte> data);

/// The text of the first element at `path` (local names from the root, "Error/Code"), empty if
/// there is none or the body is not XML.
std::string xml_text(std::string_view xml, std::string_view path);

/// The child elements' texts of every element at `path` ("ListMultipartUploadsResult/Upload"):
/// one map (local name → text) per element, in document order.
std::vector<std::map<std::string, std::string>> xml_records(std::string_view xml,
                                                            std::string_view path);

/// `<CompleteMultipartUpload>` naming each part's number and ETag, in ascending order.
std::string complete_multipart_xml(const std::vector<std::pair<unsigned, std::string>>& parts);

/// The URL of an object (key empty: the bucket) with an optional query.
std::string object_url(const S3Config& config, std::string_view bucket, std::string_view key,
                       const Headers& query = {});

} // namespace guestdump::objstore::detail

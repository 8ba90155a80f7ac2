// The read side of S3Client: listings (ListObjectsV2, paged), HEAD, ranged and whole GETs, and
// downloads to a file. Replies are bounded before they are believed.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include <fcntl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <unistd.h>

#include "guestdump/common/io.h"
#include "guestdump/common/log.h"
#include "guestdump/common/text.h"
#include "guestdump/objstore/s3_client.h"
#include "s3_list.h"
#include "s3_request.h"

namespace guestdump::objstore {

struct S3Client::ReadCounters {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> bytes{0};
};

S3Client::S3Client(S3Config config)
    : config_(std::move(config)), counters_(std::make_shared<ReadCounters>()) {}

ReadStats S3Client::read_stats() const {
  return {counters_->requests.load(), counters_->bytes.load()};
}

namespace detail {
namespace {

struct XmlDocDeleter {
  void operator()(xmlDoc* d) const noexcept { xmlFreeDoc(d); }
};
using UniqueXmlDoc = std::unique_ptr<xmlDoc, XmlDocDeleter>;
struct XmlCharDeleter {
  void operator()(xmlChar* text) const noexcept { xmlFree(text); }
};

bool named(const xmlNode* n, std::string_view name) {
  return n->type == XML_ELEMENT_NODE && name == reinterpret_cast<const char*>(n->name);
}

std::string text_of(const xmlNode* node) {
  std::unique_ptr<xmlChar, XmlCharDeleter> text(xmlNodeGetContent(node));
  return text ? std::string(reinterpret_cast<const char*>(text.get())) : std::string();
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

} // namespace

Result<ListPage> parse_list_page(std::string_view xml) {
  auto bad = [](const std::string& why) {
    return make_error(ErrorCode::kProtocol, "listing reply: " + why);
  };
  if (xml.empty()) return bad("empty body");
  if (xml.size() > kMaxListReply) return bad("larger than " + std::to_string(kMaxListReply));
  xmlInitParser();
  UniqueXmlDoc doc(xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "list.xml", nullptr,
                                 XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (!doc) return bad("not well-formed XML (truncated or garbled)");
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (root == nullptr || !named(root, "ListBucketResult")) {
    return bad("root element is not ListBucketResult");
  }
  ListPage page;
  bool saw_truncated = false;
  for (const xmlNode* c = root->children; c != nullptr; c = c->next) {
    if (named(c, "IsTruncated")) {
      const std::string v = text_of(c);
      if (v != "true" && v != "false") return bad("IsTruncated is neither true nor false");
      page.truncated = v == "true";
      saw_truncated = true;
    } else if (named(c, "NextContinuationToken")) {
      page.next_token = text_of(c);
      if (page.next_token.size() > kMaxTokenLength) return bad("continuation token too long");
    } else if (named(c, "Contents")) {
      if (page.objects.size() >= kMaxKeysPerPage) {
        return bad("more than " + std::to_string(kMaxKeysPerPage) + " keys in one page");
      }
      ObjectInfo o;
      bool have_key = false, have_size = false;
      for (const xmlNode* f = c->children; f != nullptr; f = f->next) {
        if (named(f, "Key")) {
          o.key = text_of(f);
          have_key = true;
        } else if (named(f, "Size")) {
          auto v = parse_u64(text_of(f));
          if (!v) return bad("a Size is not a number");
          o.size = *v;
          have_size = true;
        } else if (named(f, "ETag")) {
          o.etag = text_of(f).substr(0, kMaxFieldLength);
        } else if (named(f, "LastModified")) {
          o.last_modified = text_of(f).substr(0, kMaxFieldLength);
        }
      }
      if (!have_key || o.key.empty() || o.key.size() > kMaxKeyLength) {
        return bad("an entry has no key or one longer than " + std::to_string(kMaxKeyLength) +
                   " bytes");
      }
      if (!have_size) return bad("key '" + escape_text(o.key) + "' has no Size");
      page.objects.push_back(std::move(o));
    }
  }
  if (!saw_truncated) return bad("no IsTruncated element");
  if (page.truncated && page.next_token.empty()) {
    return bad("truncated but without a NextContinuationToken");
  }
  return page;
}

} // namespace detail

namespace {

using detail::HttpRequest;
using detail::HttpResponse;

constexpr std::uint64_t kMaxRange = std::uint64_t{64} << 20;
constexpr unsigned kAttempts = 3;

bool is_hex_sha256(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// One read request, retried twice when no reply came or the server failed (5xx, 429). A
// streamed body (on_body) is not retried: its sink has already seen part of it.
Result<HttpResponse> fetch(const S3Config& config, const HttpRequest& request) {
  const std::string what = request.method + " '" + request.url + "'";
  detail::Signer signer{config.region, "s3", config.credentials};
  for (unsigned attempt = 1;; ++attempt) {
    GUESTDUMP_CHECK(check_cancel());
    auto reply = detail::perform(signer, request);
    if (reply && reply->status >= 200 && reply->status < 300) return reply;
    const bool transient = reply ? reply->status >= 500 || reply->status == 429
                                 : reply.error().code != ErrorCode::kProtocol;
    Error error = reply ? detail::check_reply(*reply).error().context(what) : reply.error();
    if (!transient || request.on_body || attempt >= kAttempts) return error;
    GUESTDUMP_LOG(kDebug, "objstore") << error.message << "; attempt " << attempt + 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(200 * attempt));
  }
}

// "bytes FIRST-LAST/TOTAL" → (first, last); nullopt for anything else.
std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_content_range(std::string_view v) {
  if (!v.starts_with("bytes ")) return std::nullopt;
  v.remove_prefix(6);
  auto dash = v.find('-'), slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) {
    return std::nullopt;
  }
  std::uint64_t first = 0, last = 0;
  auto a = std::from_chars(v.data(), v.data() + dash, first);
  auto b = std::from_chars(v.data() + dash + 1, v.data() + slash, last);
  if (a.ec != std::errc() || a.ptr != v.data() + dash || b.ec != std::errc() ||
      b.ptr != v.data() + slash || last < first) {
    return std::nullopt;
  }
  return std::pair(first, last);
}

} // namespace

Result<std::vector<ObjectInfo>> S3Client::list_objects(const std::string& bucket,
                                                       const std::string& prefix,
                                                       std::uint64_t max_keys) const {
  std::vector<ObjectInfo> out;
  std::set<std::string> tokens_seen;
  std::string token;
  const std::string what = "list 's3://" + bucket + "/" + prefix + "'";
  for (;;) {
    detail::Headers query = {{"list-type", "2"},
                             {"max-keys", std::to_string(detail::kMaxKeysPerPage)},
                             {"prefix", prefix}};
    if (!token.empty()) query.emplace_back("continuation-token", token);
    HttpRequest request;
    request.url = detail::object_url(config_, bucket, "", query);
    request.max_reply = detail::kMaxListReply;
    auto reply = fetch(config_, request);
    if (!reply) return std::move(reply).error().context(what);
    counters_->requests++;
    counters_->bytes += reply->body.size();
    auto page = detail::parse_list_page(reply->body);
    if (!page) return std::move(page).error().context(what);
    for (auto& o : page->objects) {
      // A listing answers for the prefix asked about; anything else is the server's mistake.
      if (!o.key.starts_with(prefix)) {
        return make_error(ErrorCode::kProtocol,
                          what + ": key '" + escape_text(o.key) + "' is outside the prefix");
      }
      if (out.size() >= max_keys) {
        return make_error(ErrorCode::kProtocol,
                          what + ": more than " + std::to_string(max_keys) + " keys");
      }
      out.push_back(std::move(o));
    }
    if (!page->truncated) return out;
    if (!tokens_seen.insert(page->next_token).second) {
      return make_error(ErrorCode::kProtocol, what + ": the server repeated a continuation token");
    }
    token = page->next_token;
  }
}

Result<ObjectInfo> S3Client::head_object(const std::string& bucket, const std::string& key) const {
  HttpRequest request;
  request.method = "HEAD";
  request.url = detail::object_url(config_, bucket, key);
  auto reply = fetch(config_, request);
  const std::string what = "HEAD 's3://" + bucket + "/" + key + "'";
  if (!reply) return std::move(reply).error().context(what);
  counters_->requests++;
  ObjectInfo info;
  info.key = key;
  auto size = detail::parse_u64(reply->header("content-length"));
  if (!size) {
    return make_error(ErrorCode::kProtocol, what + ": no valid Content-Length in the reply");
  }
  info.size = *size;
  info.etag = reply->header("etag").substr(0, detail::kMaxFieldLength);
  info.last_modified = reply->header("last-modified").substr(0, detail::kMaxFieldLength);
  if (auto sha = reply->header("x-amz-meta-sha256"); is_hex_sha256(sha)) info.sha256 = sha;
  return info;
}

Result<std::string> S3Client::get_range(const std::string& bucket, const std::string& key,
                                        std::uint64_t offset, std::uint64_t length) const {
  const std::string what = "GET 's3://" + bucket + "/" + key + "' bytes " + std::to_string(offset) +
                           "+" + std::to_string(length);
  if (length == 0 || length > kMaxRange || offset > UINT64_MAX - length) {
    return make_error(ErrorCode::kInvalidArgument, what + ": range out of bounds");
  }
  const std::uint64_t last = offset + length - 1;
  HttpRequest request;
  request.url = detail::object_url(config_, bucket, key);
  request.headers = {{"Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(last)}};
  request.max_reply = static_cast<std::size_t>(length);
  auto reply = fetch(config_, request);
  if (!reply) return std::move(reply).error().context(what);
  counters_->requests++;
  counters_->bytes += reply->body.size();
  if (reply->status != 206) {
    return make_error(ErrorCode::kProtocol,
                      what + ": HTTP " + std::to_string(reply->status) + " instead of 206");
  }
  auto range = parse_content_range(reply->header("content-range"));
  if (!range || range->first != offset || range->second != last) {
    return make_error(ErrorCode::kProtocol, what + ": Content-Range '" +
                                                escape_text(reply->header("content-range")) +
                                                "' is not the range asked for");
  }
  if (reply->body.size() != length) {
    return make_error(ErrorCode::kProtocol,
                      what + ": " + std::to_string(reply->body.size()) + " bytes in the reply");
  }
  return std::move(reply->body);
}

Result<std::string> S3Client::get_object(const std::string& bucket, const std::string& key,
                                         std::size_t max_bytes) const {
  HttpRequest request;
  request.url = detail::object_url(config_, bucket, key);
  request.max_reply = max_bytes;
  auto reply = fetch(config_, request);
  if (!reply) return std::move(reply).error().context("GET 's3://" + bucket + "/" + key + "'");
  counters_->requests++;
  counters_->bytes += reply->body.size();
  return std::move(reply->body);
}

Result<DownloadedObject> S3Client::download_object(const std::string& bucket,
                                                   const std::string& key, const std::string& path,
                                                   const std::string& expected_sha256) const {
  const std::string what = "download 's3://" + bucket + "/" + key + "'";
  GUESTDUMP_TRY(OutputFile out, OutputFile::create(path));
  struct DigestDeleter {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, DigestDeleter> digest(EVP_MD_CTX_new());
  if (!digest || EVP_DigestInit_ex(digest.get(), EVP_sha256(), nullptr) != 1) {
    return make_error(ErrorCode::kOs, what + ": SHA-256 unavailable");
  }
  std::uint64_t written = 0;
  std::optional<Error> write_error;
  HttpRequest request;
  request.url = detail::object_url(config_, bucket, key);
  request.on_body = [&](std::string_view chunk) {
    auto bytes = std::as_bytes(std::span(chunk.data(), chunk.size()));
    if (auto r = write_all(out.fd(), bytes, path); !r) {
      write_error = std::move(r).error();
      return false;
    }
    EVP_DigestUpdate(digest.get(), chunk.data(), chunk.size());
    written += chunk.size();
    counters_->bytes += chunk.size();
    return true;
  };
  auto reply = fetch(config_, request);
  counters_->requests++;
  if (write_error) return std::move(*write_error).context(what);
  if (!reply) return std::move(reply).error().context(what);
  if (auto length = detail::parse_u64(reply->header("content-length"));
      length && *length != written) {
    return make_error(ErrorCode::kProtocol, what + ": " + std::to_string(written) + " of " +
                                                std::to_string(*length) + " bytes received");
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_DigestFinal_ex(digest.get(), md, &md_len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string sha;
  for (unsigned int i = 0; i < md_len; ++i) {
    sha.push_back(kHex[md[i] >> 4]);
    sha.push_back(kHex[md[i] & 15]);
  }
  if (!expected_sha256.empty() && sha != expected_sha256) {
    return make_error(ErrorCode::kBadData, what + ": SHA-256 " + sha + " is not the expected " +
                                               escape_text(expected_sha256));
  }
  GUESTDUMP_CHECK(out.commit());
  return DownloadedObject{path, written, sha};
}

} // namespace guestdump::objstore

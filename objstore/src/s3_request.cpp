#include "s3_request.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "guestdump/common/text.h"

namespace guestdump::objstore::detail {
namespace {

struct CurlDeleter {
  void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
};
using UniqueCurl = std::unique_ptr<CURL, CurlDeleter>;
struct SlistDeleter {
  void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};
using UniqueSlist = std::unique_ptr<curl_slist, SlistDeleter>;
struct XmlDocDeleter {
  void operator()(xmlDoc* d) const noexcept { xmlFreeDoc(d); }
};
using UniqueXmlDoc = std::unique_ptr<xmlDoc, XmlDocDeleter>;
struct XmlCharDeleter {
  void operator()(xmlChar* text) const noexcept { xmlFree(text); }
};
using UniqueXmlChar = std::unique_ptr<xmlChar, XmlCharDeleter>;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    xmlInitParser();
  });
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

struct Transfer {
  const HttpRequest* request = nullptr;
  std::size_t sent = 0;
  HttpResponse* response = nullptr;
  bool too_large = false;
  bool sink_failed = false;
  CURL* curl = nullptr;
};

std::size_t read_body(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const auto body = t->request->body;
  const std::size_t n = std::min(size * count, body.size() - t->sent);
  std::memcpy(buffer, body.data() + t->sent, n);
  t->sent += n;
  return n;
}

// Rewinding lets curl resend the body after a redirect or a 100-continue refusal.
int seek_body(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 ||
      static_cast<std::size_t>(offset) > t->request->body.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  t->sent = static_cast<std::size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

std::size_t write_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  if (t->request->on_body) {
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
      if (t->request->on_body(std::string_view(data, n))) return n;
      t->sink_failed = true;
      return 0;
    }
  }
  if (t->response->body.size() + n > t->request->max_reply) {
    t->too_large = true;
    return 0; // curl fails the transfer with CURLE_WRITE_ERROR
  }
  t->response->body.append(data, n);
  return n;
}

std::size_t write_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    t->response->headers.clear(); // a new status line (after 100 Continue or a redirect)
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    t->response->headers.emplace_back(lower(trim(line.substr(0, colon))),
                                      std::string(trim(line.substr(colon + 1))));
  }
  return size * count;
}

const xmlNode* child_named(const xmlNode* node, std::string_view name) {
  for (const xmlNode* c = node; c != nullptr; c = c->next) {
    if (c->type == XML_ELEMENT_NODE && name == reinterpret_cast<const char*>(c->name)) return c;
  }
  return nullptr;
}

UniqueXmlDoc parse_xml(std::string_view xml) {
  global_init();
  if (xml.empty() || xml.size() > (std::size_t{1} << 30)) return nullptr;
  return UniqueXmlDoc(xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "reply.xml", nullptr,
                                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
}

std::string node_text(const xmlNode* node) {
  UniqueXmlChar text(xmlNodeGetContent(node));
  return text ? std::string(reinterpret_cast<const char*>(text.get())) : std::string();
}

} // namespace

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return {};
}

std::string uri_encode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string canonical_query(Headers params) {
  for (auto& [name, value] : params) {
    name = uri_encode(name, false);
    value = uri_encode(value, false);
  }
  // Sorted by encoded name, then value (SigV4's canonical query string).
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += name + "=" + value;
  }
  return out;
}

std::string sha256_hex(std::span<const std::byte> data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

std::string xml_text(std::string_view xml, std::string_view path) {
  auto doc = parse_xml(xml);
  if (!doc) return {};
  const xmlNode* node = xmlDocGetRootElement(doc.get());
  bool first = true;
  while (!path.empty() && node != nullptr) {
    auto slash = path.find('/');
    node = child_named(first ? node : node->children, path.substr(0, slash));
    first = false;
    path = slash == std::string_view::npos ? "" : path.substr(slash + 1);
  }
  return node == nullptr ? std::string() : node_text(node);
}

std::vector<std::map<std::string, std::string>> xml_records(std::string_view xml,
                                                            std::string_view path) {
  std::vector<std::map<std::string, std::string>> out;
  auto doc = parse_xml(xml);
  if (!doc) return out;
  auto slash = path.rfind('/');
  const std::string_view parent_path = slash == std::string_view::npos ? "" : path.substr(0, slash);
  const std::string_view name = path.substr(slash + 1);
  const xmlNode* parent = xmlDocGetRootElement(doc.get());
  bool first = true;
  for (std::string_view rest = parent_path; !rest.empty() && parent != nullptr;) {
    auto s = rest.find('/');
    parent = child_named(first ? parent : parent->children, rest.substr(0, s));
    first = false;
    rest = s == std::string_view::npos ? "" : rest.substr(s + 1);
  }
  if (parent == nullptr) return out;
  for (const xmlNode* c = parent->children; c != nullptr; c = c->next) {
    if (c->type != XML_ELEMENT_NODE || name != reinterpret_cast<const char*>(c->name)) continue;
    auto& record = out.emplace_back();
    for (const xmlNode* field = c->children; field != nullptr; field = field->next) {
      if (field->type == XML_ELEMENT_NODE) {
        record[reinterpret_cast<const char*>(field->name)] = node_text(field);
      }
    }
  }
  return out;
}

std::string complete_multipart_xml(const std::vector<std::pair<unsigned, std::string>>& parts) {
  global_init();
  UniqueXmlDoc doc(xmlNewDoc(BAD_CAST "1.0"));
  xmlNode* root = xmlNewNode(nullptr, BAD_CAST "CompleteMultipartUpload");
  xmlDocSetRootElement(doc.get(), root);
  for (const auto& [number, etag] : parts) {
    xmlNode* part = xmlNewChild(root, nullptr, BAD_CAST "Part", nullptr);
    // xmlNewTextChild escapes the text: an ETag is the server's, untrusted.
    xmlNewTextChild(part, nullptr, BAD_CAST "PartNumber", BAD_CAST std::to_string(number).c_str());
    xmlNewTextChild(part, nullptr, BAD_CAST "ETag", BAD_CAST etag.c_str());
  }
  xmlChar* text = nullptr;
  int size = 0;
  xmlDocDumpMemory(doc.get(), &text, &size);
  UniqueXmlChar owned(text);
  return owned ? std::string(reinterpret_cast<const char*>(owned.get()),
                             static_cast<std::size_t>(size))
               : std::string();
}

std::string object_url(const S3Config& config, std::string_view bucket, std::string_view key,
                       const Headers& query) {
  std::string url;
  if (config.addressing == Addressing::kPath) {
    url = config.endpoint + "/" + std::string(bucket);
    if (!key.empty()) url += "/" + uri_encode(key, true);
  } else {
    auto scheme_end = config.endpoint.find("://") + 3;
    url = config.endpoint.substr(0, scheme_end) + std::string(bucket) + "." +
          config.endpoint.substr(scheme_end) + "/" + uri_encode(key, true);
  }
  if (!query.empty()) url += "?" + canonical_query(query);
  return url;
}

namespace {

// CURLOPT_XFERINFOFUNCTION: a non-zero return aborts the transfer (CURLE_ABORTED_BY_CALLBACK).
int poll_cancel(void* data, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* cancelled = static_cast<const std::function<bool()>*>(data);
  return (*cancelled)() ? 1 : 0;
}

} // namespace

Result<HttpResponse> perform(const Signer& signer, const HttpRequest& request) {
  global_init();
  const std::string what = request.method + " '" + request.url + "'";
  UniqueCurl curl(curl_easy_init());
  if (!curl) return make_error(ErrorCode::kOs, what + ": curl_easy_init failed");
  CURL* c = curl.get();

  curl_slist* raw = nullptr;
  auto add = [&raw](const std::string& line) { raw = curl_slist_append(raw, line.c_str()); };
  for (const auto& [name, value] : request.headers) add(name + ": " + value);
  if (request.content_sha256) {
    add("x-amz-content-sha256: " +
        (request.payload_sha256.empty() ? sha256_hex(request.body) : request.payload_sha256));
  }
  if (!signer.credentials.session_token.empty()) {
    add("x-amz-security-token: " + signer.credentials.session_token);
  }
  UniqueSlist headers(raw);

  HttpResponse response;
  Transfer transfer{&request, 0, &response, false, false, c};
  const std::string sigv4 = "aws:amz:" + signer.region + ":" + signer.service;
  char error_text[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4.c_str());
  curl_easy_setopt(c, CURLOPT_USERNAME, signer.credentials.access_key_id.c_str());
  curl_easy_setopt(c, CURLOPT_PASSWORD, signer.credentials.secret_access_key.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_text);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  // A stalled server (no byte for 60 s) fails the request; a slow one does not.
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, write_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &transfer);
  if (request.cancelled) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, poll_cancel);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &request.cancelled);
  }
  if (request.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT" || request.method == "POST") {
    // Both go through the read callback, so curl never hashes or copies the body itself.
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_body);
    curl_easy_setopt(c, CURLOPT_READDATA, &transfer);
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, seek_body);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, &transfer);
    if (request.max_send_rate > 0) {
      curl_easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE,
                       static_cast<curl_off_t>(request.max_send_rate));
    }
    if (request.method == "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "POST");
  } else if (request.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  const CURLcode code = curl_easy_perform(c);
  if (transfer.sink_failed) {
    return make_error(ErrorCode::kOs, what + ": the reply's body could not be stored");
  }
  if (transfer.too_large) {
    return make_error(ErrorCode::kProtocol,
                      what + ": reply larger than " + std::to_string(request.max_reply) + " bytes");
  }
  if (code != CURLE_OK) {
    std::string detail = error_text[0] != '\0' ? error_text : curl_easy_strerror(code);
    return make_error(code == CURLE_OPERATION_TIMEDOUT ? ErrorCode::kTimeout : ErrorCode::kOs,
                      what + ": " + escape_text(detail));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

Result<void> check_reply(const HttpResponse& reply) {
  if (reply.status >= 200 && reply.status < 300) return {};
  std::string message = "HTTP " + std::to_string(reply.status);
  // Server text is untrusted: escaped and bounded before it joins a message.
  if (auto code = xml_text(reply.body, "Error/Code"); !code.empty()) {
    message += " " + escape_text(code.substr(0, 64));
  }
  if (auto text = xml_text(reply.body, "Error/Message"); !text.empty()) {
    message += ": " + escape_text(text.substr(0, 200));
  }
  return make_error(reply.status == 404 ? ErrorCode::kNotFound : ErrorCode::kProtocol, message);
}

} // namespace guestdump::objstore::detail

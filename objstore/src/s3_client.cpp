#include "guestdump/objstore/s3_client.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <sys/stat.h>

#include "guestdump/common/io.h"
#include "guestdump/common/log.h"
#include "guestdump/common/text.h"
#include "s3_request.h"

namespace guestdump::objstore {
namespace {

using detail::HttpRequest;
using detail::HttpResponse;
using json = nlohmann::json;

constexpr std::uint64_t kMaxParts = 10000; // S3's limit

detail::Signer signer_of(const S3Config& config) {
  return {config.region, "s3", config.credentials};
}

bool cancelled(const UploadOptions& options) {
  return options.cancelled ? options.cancelled() : cancel_requested();
}

// Sleeps `delay`, waking every 50 ms to see whether the upload was cancelled.
bool sleep_unless_cancelled(std::chrono::milliseconds delay, const UploadOptions& options) {
  const auto until = std::chrono::steady_clock::now() + delay;
  while (std::chrono::steady_clock::now() < until) {
    if (cancelled(options)) return false;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(50), until - std::chrono::steady_clock::now()));
  }
  return true;
}

// Whether another attempt may succeed: no reply at all, a server-side error, throttling, or a
// body that arrived damaged (the server's hash check failed).
bool transient(const Result<HttpResponse>& reply) {
  if (!reply) return reply.error().code != ErrorCode::kProtocol; // kProtocol: reply too large
  const long status = reply->status;
  if (status >= 500 || status == 429 || status == 408) return true;
  if (status == 400) {
    const auto code = detail::xml_text(reply->body, "Error/Code");
    return code == "BadDigest" || code == "XAmzContentSHA256Mismatch" || code == "RequestTimeout";
  }
  return false;
}

// One request, retried with doubling backoff while the failure is transient. The error names
// the request and, after retries, how many attempts were made.
Result<HttpResponse> send(const S3Config& config, const HttpRequest& request,
                          const UploadOptions& options) {
  const std::string what = request.method + " '" + request.url + "'";
  auto delay = options.backoff;
  for (unsigned attempt = 1;; ++attempt) {
    if (cancelled(options)) {
      return make_error(ErrorCode::kCancelled, what + ": cancelled");
    }
    // A running request is aborted by a cancel too: a slow part (upload-max-rate) must not hold
    // up a daemon's shutdown.
    HttpRequest r = request;
    r.max_send_rate = options.max_bytes_per_second;
    r.cancelled = [&options] { return cancelled(options); };
    Result<HttpResponse> reply = detail::perform(signer_of(config), r);
    if (!reply && cancelled(options)) {
      return make_error(ErrorCode::kCancelled, what + ": cancelled");
    }
    if (reply && reply->status >= 200 && reply->status < 300) return reply;
    Error error = reply ? detail::check_reply(*reply).error() : reply.error();
    if (reply) error.context(what);
    if (!transient(reply) || attempt >= std::max(1u, options.attempts)) {
      if (attempt > 1) error.message += " (after " + std::to_string(attempt) + " attempts)";
      return error;
    }
    GUESTDUMP_LOG(kWarn, "objstore")
        << error.message << "; attempt " << attempt + 1 << " in " << delay.count() << " ms";
    if (!sleep_unless_cancelled(delay, options)) {
      return make_error(ErrorCode::kCancelled, what + ": cancelled");
    }
    delay = std::min(delay * 2, options.max_backoff);
  }
}

std::span<const std::byte> as_bytes(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

std::string file_sha256(std::span<const std::byte> data) {
  return detail::sha256_hex(data);
}

// The record of a multipart upload in progress, kept next to the dump so a restarted process
// finishes it instead of starting another.
struct UploadState {
  std::string bucket, key, upload_id, sha256;
  std::uint64_t size = 0, mtime_ns = 0, part_size = 0;
  std::map<unsigned, std::pair<std::string, std::string>> parts; // number → ETag, SHA-256

  json to_json() const {
    json j = {{"version", 1},     {"bucket", bucket},       {"key", key},
              {"size", size},     {"mtime_ns", mtime_ns},   {"part_size", part_size},
              {"sha256", sha256}, {"upload_id", upload_id}, {"parts", json::array()}};
    for (const auto& [n, p] : parts) {
      j["parts"].push_back({{"number", n}, {"etag", p.first}, {"sha256", p.second}});
    }
    return j;
  }
  // nullopt for anything that is not a state file this code wrote.
  static std::optional<UploadState> from_json(const json& j) {
    if (!j.is_object() || j.value("version", 0) != 1) return std::nullopt;
    UploadState s;
    auto str = [&](const char* k, std::string& out) {
      auto it = j.find(k);
      if (it == j.end() || !it->is_string()) return false;
      out = it->get<std::string>();
      return true;
    };
    auto num = [&](const char* k, std::uint64_t& out) {
      auto it = j.find(k);
      if (it == j.end() || !it->is_number_unsigned()) return false;
      out = it->get<std::uint64_t>();
      return true;
    };
    if (!str("bucket", s.bucket) || !str("key", s.key) || !str("upload_id", s.upload_id) ||
        !str("sha256", s.sha256) || !num("size", s.size) || !num("mtime_ns", s.mtime_ns) ||
        !num("part_size", s.part_size)) {
      return std::nullopt;
    }
    auto parts = j.find("parts");
    if (parts == j.end() || !parts->is_array()) return std::nullopt;
    for (const auto& p : *parts) {
      if (!p.is_object() || !p.contains("number") || !p["number"].is_number_unsigned() ||
          !p.contains("etag") || !p["etag"].is_string() || !p.contains("sha256") ||
          !p["sha256"].is_string()) {
        return std::nullopt;
      }
      const auto n = p["number"].get<std::uint64_t>();
      if (n == 0 || n > kMaxParts) return std::nullopt;
      s.parts[static_cast<unsigned>(n)] = {p["etag"].get<std::string>(),
                                           p["sha256"].get<std::string>()};
    }
    return s;
  }
};

Result<void> save_state(const std::string& path, const UploadState& state) {
  GUESTDUMP_TRY(auto out, OutputFile::create(path));
  const std::string text = state.to_json().dump() + "\n";
  GUESTDUMP_CHECK(write_all(out.fd(), as_bytes(text), path));
  return out.commit();
}

std::optional<UploadState> load_state(const std::string& path) {
  auto file = MappedFile::open(path);
  if (!file) return std::nullopt;
  auto bytes = file->bytes();
  auto j = json::parse(reinterpret_cast<const char*>(bytes.data()),
                       reinterpret_cast<const char*>(bytes.data()) + bytes.size(), nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return UploadState::from_json(j);
}

void remove_state(const std::string& path) {
  if (std::remove(path.c_str()) != 0 && errno != ENOENT) {
    GUESTDUMP_LOG(kWarn, "objstore") << "remove '" << path << "': " << std::strerror(errno);
  }
}

Result<void> abort_multipart(const S3Config& config, const std::string& bucket,
                             const std::string& key, const std::string& upload_id,
                             const UploadOptions& options) {
  HttpRequest request;
  request.method = "DELETE";
  request.url = detail::object_url(config, bucket, key, {{"uploadId", upload_id}});
  UploadOptions retry = options;
  retry.attempts = std::min(options.attempts, 3u);
  retry.cancelled = [] { return false; }; // an abort runs to its end, even during shutdown
  auto reply = send(config, request, retry);
  // Already gone (completed, aborted, expired) is what was asked for.
  if (!reply && reply.error().code != ErrorCode::kNotFound) return std::move(reply).error();
  return {};
}

Result<void> put_bytes(const S3Config& config, const std::string& bucket, const std::string& key,
                       std::span<const std::byte> data, const std::string& sha256,
                       const UploadOptions& options) {
  HttpRequest put;
  put.method = "PUT";
  put.url = detail::object_url(config, bucket, key);
  put.body = data;
  put.payload_sha256 = sha256;
  put.headers = {{"x-amz-meta-sha256", sha256}};
  GUESTDUMP_TRY(auto reply, send(config, put, options));
  (void)reply;
  return {};
}

} // namespace

Result<std::string> S3Client::put_object(const std::string& bucket, const std::string& key,
                                         std::string_view body,
                                         const UploadOptions& options) const {
  const auto data = std::as_bytes(std::span(body.data(), body.size()));
  std::string sha256 = detail::sha256_hex(data);
  if (auto put = put_bytes(config_, bucket, key, data, sha256, options); !put) {
    return std::move(put).error().context("upload to 's3://" + bucket + "/" + key + "'");
  }
  return sha256;
}

Result<std::vector<PendingUpload>> S3Client::pending_uploads(const std::string& bucket,
                                                             const std::string& prefix) const {
  HttpRequest request;
  request.url = detail::object_url(config_, bucket, "", {{"prefix", prefix}, {"uploads", ""}});
  UploadOptions once;
  once.attempts = 1;
  GUESTDUMP_TRY(auto reply, send(config_, request, once));
  std::vector<PendingUpload> out;
  for (auto& record : detail::xml_records(reply.body, "ListMultipartUploadsResult/Upload")) {
    out.push_back({record["Key"], record["UploadId"]});
  }
  return out;
}

Result<void> S3Client::abort_upload(const std::string& bucket, const std::string& key,
                                    const std::string& upload_id) const {
  return abort_multipart(config_, bucket, key, upload_id, UploadOptions{});
}

Result<UploadedObject> S3Client::upload_file(const std::string& path, const std::string& bucket,
                                             const std::string& key, const std::string& state_path,
                                             const UploadOptions& options) const {
  const std::string target = "'s3://" + bucket + "/" + key + "'";
  const std::string what = "upload '" + path + "' to " + target;
  GUESTDUMP_TRY(auto file, MappedFile::open(path));
  struct stat st {};
  if (fstat(file.fd(), &st) != 0) return errno_error("stat", path).context(what);
  const auto mtime_ns = static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1000000000u +
                        static_cast<std::uint64_t>(st.st_mtim.tv_nsec);
  const std::span<const std::byte> data = file.bytes();
  const std::uint64_t size = data.size();
  file.advise_sequential();

  UploadedObject result{key, size, "", 0};
  const std::uint64_t part_size =
      std::max({options.part_size, (size + kMaxParts - 1) / kMaxParts, std::uint64_t{1}});

  // A state file of this very file: resume it, and trust its whole-file hash (the file has the
  // same size and modification time). Any other state file is an upload of an older file.
  std::optional<UploadState> state = load_state(state_path);
  if (state && (state->bucket != bucket || state->key != key || state->size != size ||
                state->mtime_ns != mtime_ns || state->part_size != part_size)) {
    GUESTDUMP_LOG(kWarn, "objstore")
        << what << ": state '" << state_path << "' is of another upload; aborting that one";
    (void)abort_multipart(config_, state->bucket, state->key, state->upload_id, options);
    state.reset();
    remove_state(state_path);
  }
  result.sha256 = state ? state->sha256 : file_sha256(data);

  if (size <= part_size) {
    auto put = put_bytes(config_, bucket, key, data, result.sha256, options);
    if (!put) return std::move(put).error().context(what);
    remove_state(state_path);
    return result;
  }

  const auto part_count = static_cast<unsigned>((size + part_size - 1) / part_size);
  result.parts = part_count;
  const std::string object = detail::object_url(config_, bucket, key);
  bool resumed = state.has_value();
  for (;;) {
    if (!state) {
      HttpRequest create;
      create.method = "POST";
      create.url = detail::object_url(config_, bucket, key, {{"uploads", ""}});
      create.headers = {{"x-amz-meta-sha256", result.sha256}};
      GUESTDUMP_TRY(auto reply, send(config_, create, options));
      std::string id = detail::xml_text(reply.body, "InitiateMultipartUploadResult/UploadId");
      if (id.empty()) {
        return make_error(ErrorCode::kProtocol, what + ": no UploadId in the server's reply");
      }
      state = UploadState{bucket, key, id, result.sha256, size, mtime_ns, part_size, {}};
      // Recorded before the first part, so a crash from here on leaves a resumable upload.
      if (auto saved = save_state(state_path, *state); !saved) {
        (void)abort_multipart(config_, bucket, key, id, options);
        return std::move(saved).error().context(what);
      }
    }

    std::vector<unsigned> missing;
    for (unsigned n = 1; n <= part_count; ++n) {
      if (!state->parts.contains(n)) missing.push_back(n);
    }
    if (resumed) {
      GUESTDUMP_LOG(kInfo, "objstore") << what << ": resuming upload, " << missing.size() << " of "
                                       << part_count << " parts left";
    }
    std::mutex mutex;
    std::optional<Error> failure;
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
      for (;;) {
        {
          std::lock_guard lock(mutex);
          if (failure) return;
        }
        const std::size_t index = next.fetch_add(1);
        if (index >= missing.size()) return;
        const unsigned n = missing[index];
        const std::uint64_t offset = std::uint64_t{n - 1} * part_size;
        HttpRequest put;
        put.method = "PUT";
        put.url =
            detail::object_url(config_, bucket, key,
                               {{"partNumber", std::to_string(n)}, {"uploadId", state->upload_id}});
        put.body = data.subspan(offset, std::min(part_size, size - offset));
        put.payload_sha256 = detail::sha256_hex(put.body);
        auto reply = send(config_, put, options);
        std::lock_guard lock(mutex);
        if (reply && reply->header("etag").empty()) {
          reply = make_error(ErrorCode::kProtocol, "PUT '" + put.url + "': no ETag in the reply");
        }
        if (!reply) {
          if (!failure) failure = std::move(reply).error().context("part " + std::to_string(n));
          return;
        }
        state->parts[n] = {reply->header("etag"), put.payload_sha256};
        if (auto saved = save_state(state_path, *state); !saved && !failure) {
          failure = std::move(saved).error();
        }
      }
    };
    std::vector<std::thread> threads;
    const auto workers =
        std::clamp<std::size_t>(options.parallel, 1, std::max<std::size_t>(1, missing.size()));
    for (std::size_t i = 0; i < workers; ++i) threads.emplace_back(worker);
    for (auto& t : threads) t.join();

    if (failure && failure->code == ErrorCode::kCancelled) {
      // Shutdown: the state stays, and the next run resumes from it.
      return std::move(*failure).context(what);
    }
    if (failure && failure->code == ErrorCode::kNotFound && resumed) {
      // The recorded upload is gone (aborted, or expired by a lifecycle rule): start over once.
      GUESTDUMP_LOG(kWarn, "objstore") << what << ": recorded upload " << state->upload_id
                                       << " is gone (" << failure->message << "); starting again";
      remove_state(state_path);
      state.reset();
      resumed = false;
      continue;
    }
    if (failure) {
      if (abort_multipart(config_, bucket, key, state->upload_id, options))
        remove_state(state_path);
      return std::move(*failure).context(what);
    }
    break;
  }

  std::vector<std::pair<unsigned, std::string>> parts;
  for (const auto& [n, p] : state->parts) parts.emplace_back(n, p.first);
  HttpRequest complete;
  complete.method = "POST";
  complete.url = detail::object_url(config_, bucket, key, {{"uploadId", state->upload_id}});
  const std::string body = detail::complete_multipart_xml(parts);
  complete.body = as_bytes(body);
  complete.headers = {{"Content-Type", "application/xml"}};
  auto reply = send(config_, complete, options);
  // S3 may answer 200 and still fail the completion, with an <Error> body.
  if (reply && !detail::xml_text(reply->body, "Error/Code").empty()) {
    reply = make_error(ErrorCode::kProtocol,
                       "POST '" + complete.url + "': " +
                           detail::check_reply(HttpResponse{500, {}, reply->body}).error().message);
  }
  if (!reply && reply.error().code == ErrorCode::kNotFound) {
    // NoSuchUpload after a lost reply: an earlier attempt (or run) completed it. The object says.
    HttpRequest head;
    head.method = "HEAD";
    head.url = object;
    auto object_reply = send(config_, head, options);
    if (object_reply && object_reply->header("x-amz-meta-sha256") == result.sha256 &&
        object_reply->header("content-length") == std::to_string(size)) {
      reply = std::move(object_reply);
    }
  }
  if (!reply) {
    if (reply.error().code != ErrorCode::kCancelled &&
        abort_multipart(config_, bucket, key, state->upload_id, options)) {
      remove_state(state_path);
    }
    return std::move(reply).error().context(what);
  }
  remove_state(state_path);
  // An upload of this key left open by a run that died between creating it and recording it:
  // keys are unique per dump, so any other open upload of it is ours and now useless.
  if (auto open = pending_uploads(bucket, key)) {
    for (const auto& pending : *open) {
      if (pending.key == key)
        (void)abort_multipart(config_, bucket, key, pending.upload_id, options);
    }
  }
  return result;
}

} // namespace guestdump::objstore

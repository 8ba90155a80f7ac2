#pragma once
// A client of one S3-compatible store: uploads of whole files (one PUT, or a multipart upload in
// parallel parts that survives a restart), and the housekeeping requests around them.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "guestdump/common/result.h"
#include "guestdump/objstore/config.h"

namespace guestdump::objstore {

struct UploadOptions {
  /// Bytes per part (S3 and RGW refuse parts under 5 MiB but the last); grown for files that
  /// would need more than 10000 parts. A file no larger than one part goes in a single PUT.
  std::uint64_t part_size = std::uint64_t{64} << 20;
  unsigned parallel = 4;                       // parts in flight at once
  unsigned attempts = 6;                       // per request, the first included
  std::chrono::milliseconds backoff{500};      // before the 2nd attempt; doubled after each
  std::chrono::milliseconds max_backoff{8000}; // cap of the doubling
  /// Upper bound of each request body's send rate in bytes per second (so uploads leave the
  /// host's network to its guests); 0: none. With `parallel` parts in flight the total is up to
  /// `parallel` times this.
  std::uint64_t max_bytes_per_second = 0;
  /// Polled between requests and while one runs (a running request is aborted): true stops the
  /// upload, keeping its state file for a resume (daemon shutdown). Defaults to the process's
  /// cancel flag.
  std::function<bool()> cancelled;
};

struct UploadedObject {
  std::string key;
  std::uint64_t bytes = 0;
  std::string sha256; // hex SHA-256 of the whole object
  unsigned parts = 0; // 0: a single PUT
};

/// One object as a listing or a HEAD request describes it. Everything here is the server's word:
/// keys are at most 1024 bytes, sha256 is empty unless it is 64 hex digits.
struct ObjectInfo {
  std::string key;
  std::uint64_t size = 0;
  std::string etag;
  std::string last_modified; // as the server wrote it (ISO 8601 in listings, RFC 1123 in HEAD)
  std::string sha256;        // x-amz-meta-sha256 (HEAD only)
};

/// How much the read requests of a client (and its copies) fetched: what `--stats` prints.
struct ReadStats {
  std::uint64_t requests = 0;
  std::uint64_t bytes = 0; // reply bodies received
};

/// A file download_object() stored.
struct DownloadedObject {
  std::string path;
  std::uint64_t bytes = 0;
  std::string sha256; // of the bytes written, computed while they streamed in
};

/// A multipart upload the server holds open (not completed, not aborted).
struct PendingUpload {
  std::string key;
  std::string upload_id;
};

class S3Client {
public:
  explicit S3Client(S3Config config);
  const S3Config& config() const { return config_; }

  /// Uploads the file at `path` to bucket/key, its SHA-256 sent with every request body (the
  /// server checks it) and stored as the object's x-amz-meta-sha256. A file larger than one part
  /// goes as a multipart upload whose upload id and finished parts are recorded in `state_path`
  /// after every part: if that file exists (an earlier run was cut short), the upload resumes
  /// from it, sending only the parts still missing, so nothing is uploaded twice and no upload is
  /// left open. A request failing `attempts` times, or refused by the server, aborts the
  /// multipart upload and removes the state; a cancel keeps both for the next run.
  Result<UploadedObject> upload_file(const std::string& path, const std::string& bucket,
                                     const std::string& key, const std::string& state_path,
                                     const UploadOptions& options) const;

  /// Stores a small object from memory in one PUT (retried like a part); its SHA-256 is sent for
  /// the server to check and kept as x-amz-meta-sha256. Returns that SHA-256.
  Result<std::string> put_object(const std::string& bucket, const std::string& key,
                                 std::string_view body, const UploadOptions& options) const;

  /// Multipart uploads still open under a key prefix.
  Result<std::vector<PendingUpload>> pending_uploads(const std::string& bucket,
                                                     const std::string& prefix) const;
  /// Aborts one open multipart upload.
  Result<void> abort_upload(const std::string& bucket, const std::string& key,
                            const std::string& upload_id) const;

  // Reads (s3_read.cpp). Every reply is bounded: a listing page's XML, its keys and their count,
  // a ranged GET's length, an object read into memory.

  /// Largest listing accepted by list_objects() unless the caller says otherwise.
  static constexpr std::uint64_t kMaxListedKeys = 1'000'000;
  /// Every object under `prefix` (ListObjectsV2, following continuation tokens page by page),
  /// in the server's (key) order. Fails past `max_keys`, on a page that is not a well-formed
  /// ListBucketResult, or on a continuation token that repeats.
  Result<std::vector<ObjectInfo>> list_objects(const std::string& bucket, const std::string& prefix,
                                               std::uint64_t max_keys = kMaxListedKeys) const;
  /// HEAD of one object: its size, ETag and x-amz-meta-sha256. kNotFound when there is none.
  Result<ObjectInfo> head_object(const std::string& bucket, const std::string& key) const;
  /// `length` bytes at `offset` (a ranged GET; at most 64 MiB). The reply must be a 206 whose
  /// Content-Range names exactly that range and whose body has exactly that length.
  Result<std::string> get_range(const std::string& bucket, const std::string& key,
                                std::uint64_t offset, std::uint64_t length) const;
  /// A whole small object (meta.json) into memory; one larger than `max_bytes` is refused.
  Result<std::string> get_object(const std::string& bucket, const std::string& key,
                                 std::size_t max_bytes) const;
  /// Downloads an object to `path`: written under a hidden temporary name in the same
  /// directory (mode 0600), its SHA-256 computed as it streams in, fsynced and renamed to
  /// `path` only when complete and, if `expected_sha256` is given, equal to it. On any failure
  /// the temporary file is removed and nothing is left at `path`.
  Result<DownloadedObject> download_object(const std::string& bucket, const std::string& key,
                                           const std::string& path,
                                           const std::string& expected_sha256 = {}) const;
  /// What the read requests of this client and its copies fetched so far.
  ReadStats read_stats() const;

private:
  struct ReadCounters;
  S3Config config_;
  std::shared_ptr<ReadCounters> counters_;
};

} // namespace guestdump::objstore

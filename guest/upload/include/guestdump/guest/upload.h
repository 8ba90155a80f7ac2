#pragma once
// `guestdump-guest upload` (docs/guest.md, "upload"): on the normal system after a crash, the
// dumps the capture kernel saved are copied to the fleet's S3 store (the layout of
// objstore::upload_dump) or to an SSH server (sftp into a temporary directory, checked with
// sha256sum, then renamed), and a local dump is deleted beyond keep-local only once its upload
// is confirmed. This library is the dynamically linked helper's (it needs libcurl); the static
// guestdump-guest only execs that helper.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "guestdump/common/result.h"

namespace guestdump::guest {

/// The settings file of the guestdump-guest package (a shell fragment, also read by the kernel
/// hook): GUESTDUMP_UPLOAD, GUESTDUMP_DUMP_DIR, GUESTDUMP_SSH_KEY, GUESTDUMP_SSH_KNOWN_HOSTS,
/// GUESTDUMP_KEEP_LOCAL.
inline constexpr const char* kGuestDefaultsFile = "/etc/default/guestdump-guest";

/// Where `guestdump-guest upload` writes its metrics by default (node-exporter's textfile
/// collector directory, as guestdumpd's).
inline constexpr const char* kGuestMetricsFile =
    "/var/lib/prometheus/node-exporter/guestdump-guest.prom";

/// `ssh://[user@]host[:port]/path`, split. `path` is absolute, without a trailing '/'.
struct SshTarget {
  std::string user;  // empty: ssh's own default
  std::string host;  // a name, an IPv4 address or an IPv6 address (without brackets)
  unsigned port = 0; // 0: ssh's own default
  std::string path;
};

enum class UploadKind { kS3, kSsh };

struct UploadTarget {
  UploadKind kind = UploadKind::kS3;
  std::string url; // s3://BUCKET/PREFIX as given; ssh:// rebuilt from `ssh`
  SshTarget ssh;   // kSsh only
};

/// Parses an upload URL: `s3://BUCKET[/PREFIX]` (objstore::parse_s3_url's rules) or
/// `ssh://[user@]host[:port]/path`. The ssh user, host and path are refused unless they are
/// plain (user [A-Za-z0-9._-], host a DNS name, IPv4 or [IPv6] address, path characters
/// [A-Za-z0-9._/+,=@:%~-], no leading '-'): they end up on ssh's command line, in sftp batch
/// lines and in a remote shell command.
Result<UploadTarget> parse_upload_target(std::string_view url);

/// "ssh://user@host:port/path" (user and port only when set; IPv6 hosts in brackets).
std::string ssh_url(const SshTarget& target);

/// True when `path` holds only characters that need no quoting in an sftp batch line or a
/// single-quoted shell word: [A-Za-z0-9._/+,=@:%~-], not empty.
bool is_plain_path(std::string_view path);

struct UploadSettings {
  std::string target;                  // GUESTDUMP_UPLOAD, --target; empty: nothing to do
  std::string dump_dir = "/var/crash"; // GUESTDUMP_DUMP_DIR, --dump-dir
  std::string ssh_key;                 // GUESTDUMP_SSH_KEY, --ssh-key: a private key file
  std::string ssh_known_hosts;         // GUESTDUMP_SSH_KNOWN_HOSTS, --ssh-known-hosts
  /// GUESTDUMP_KEEP_LOCAL, --keep-local: the newest N complete dumps stay on the local disk,
  /// older ones are deleted once uploaded; nullopt ("all", the default) deletes nothing.
  std::optional<unsigned> keep_local;
  /// GUESTDUMP_METRICS_FILE, --metrics-file: the last run's numbers in node-exporter's textfile
  /// format. The default is written only when its directory exists (node-exporter installed);
  /// empty: none.
  std::string metrics_file = kGuestMetricsFile;
};

/// "all" → nullopt, else a count. Errors name `source`.
Result<std::optional<unsigned>> parse_keep_local(std::string_view text, std::string_view source);

/// Applies the upload keys of the settings file's text (a shell fragment; `source` names it in
/// errors). Unset and empty keys leave the setting as it is.
Result<void> apply_upload_defaults(UploadSettings& settings, const std::string& text,
                                   const std::string& source);

/// One dump directory of the guest's one-guest store, as upload sees it.
struct LocalDump {
  std::string name; // the timestamp directory name
  std::string path;
  std::int64_t time = 0; // when it was taken (meta.json, else the name)
  bool complete = false; // finished with status "complete" and a vmcore
  bool uploaded = false; // meta.json records a completed upload
};

/// The finished dump directories of `dir` (never a `.<stamp>.partial` one), newest first;
/// none when `dir` does not exist (it is never created).
Result<std::vector<LocalDump>> list_local_dumps(const std::string& dir);

/// The dumps to upload, oldest first: complete and not yet uploaded. Failure records (no
/// vmcore) stay local.
std::vector<LocalDump> dumps_to_upload(const std::vector<LocalDump>& dumps);

/// The dumps to delete locally: the complete ones beyond the `keep_local` newest complete
/// dumps, and of those only the uploaded ones. nullopt keeps everything; failure records and
/// dumps whose upload is not confirmed are never deleted.
std::vector<LocalDump> local_deletions(const std::vector<LocalDump>& dumps,
                                       std::optional<unsigned> keep_local);

/// The machine's identity for the remote layout's <uuid> level: the SMBIOS system UUID
/// (`/sys/class/dmi/id/product_uuid` under `root`, the libvirt domain's UUID on QEMU/KVM),
/// else `/etc/machine-id` written as a UUID; lowercase; "" when neither is readable.
std::string machine_uuid(const std::string& root = "/");

/// Uploads one finished dump. Implementations record the upload in the dump's meta.json
/// (checksums and `upload`) only once the remote copy is confirmed.
class DumpUploader {
public:
  virtual ~DumpUploader() = default;
  /// The target, for messages ("ssh://user@host/path", "s3://bucket/prefix").
  virtual std::string describe() const = 0;
  /// Returns the dump's remote URL. A failure leaves the local dump as it was.
  virtual Result<std::string> upload(const std::string& dump_dir) const = 0;
};

struct UploadOutcome {
  std::vector<std::pair<std::string, std::string>> uploaded; // {dump dir, remote URL}
  std::vector<std::string> failures;                         // one message per failed dump
  std::vector<std::string> deleted;                          // dump dirs deleted locally
  std::uint64_t bytes = 0;                                   // bytes of the uploaded dumps' files
  std::size_t backlog = 0; // complete dumps still not uploaded after the run
};

/// One run of `guestdump-guest upload`, for its metrics file.
struct UploadRunMetrics {
  std::int64_t finished_at = 0; // Unix time
  double seconds = 0;           // wall time of the run
  std::size_t uploaded = 0;
  std::size_t failed = 0;
  std::size_t deleted = 0;
  std::size_t backlog = 0;
  std::uint64_t bytes = 0;
};

/// The metrics file's text (node-exporter textfile format; every series a gauge of the last
/// run, since each run is a new process): guestdump_guest_upload_last_run_timestamp_seconds,
/// _last_run_seconds, _last_run_dumps{outcome="uploaded|failed|deleted"}, _last_run_bytes,
/// _last_run_success (1 when no dump failed), _backlog.
std::string upload_metrics_text(const UploadRunMetrics& m);

/// Uploads every dump of `dump_dir` that dumps_to_upload() names (oldest first; a failure is
/// recorded and the next dump tried), then deletes what local_deletions() names on a fresh
/// listing. A dump without a UUID in its meta.json gets `uuid` (and "uuid_source" in `extra`)
/// first, so that it has a remote place of its own. An error only when the directory cannot be
/// listed.
Result<UploadOutcome> upload_and_prune(const std::string& dump_dir, const DumpUploader& uploader,
                                       std::optional<unsigned> keep_local, const std::string& uuid);

struct SshOptions {
  SshTarget target;
  std::string key;         // private key file (-i), "" for ssh's defaults
  std::string known_hosts; // UserKnownHostsFile, "" for ssh's default
  std::string ssh = "ssh"; // the OpenSSH client programs
  std::string sftp = "sftp";
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds transfer_timeout{24 * 3600}; // the whole sftp transfer of one dump
  std::chrono::seconds command_timeout{3600};       // sha256sum, rename
};

/// The SSH uploader: sftp puts vmcore, dmesg.txt and meta.json (with checksums and the upload
/// recorded) into `<path>/<host>/<uuid>/.<stamp>.part/` (0700 directory, 0600 files), `ssh ...
/// sha256sum` must then report the local SHA-256 of every file, and sftp renames the directory
/// to `<stamp>`. Runs with BatchMode, StrictHostKeyChecking=yes and no agent: never a prompt.
std::unique_ptr<DumpUploader> make_ssh_uploader(SshOptions options);

/// The S3 uploader: objstore::upload_dump() with the AWS CLI's configuration of this process's
/// environment. Fails when no credentials are found.
Result<std::unique_ptr<DumpUploader>> make_s3_uploader(const std::string& url);

/// Hex SHA-256 of a file's contents.
Result<std::string> file_sha256(const std::string& path);

} // namespace guestdump::guest

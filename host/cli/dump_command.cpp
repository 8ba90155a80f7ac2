// guestdump dump: on-demand capture of a running, hung or crashed guest into the dump store.
//   guestdump dump --qmp SOCKET [-o DIR] [-d LEVEL] [-c CODEC] [-j N] [--name NAME]
//   guestdump dump DOMAIN [-c URI] [-o DIR] [-d LEVEL] [--compress CODEC]
// `-c` takes a codec name or a libvirt URI: codec names never contain ':' and URIs always do,
// so both spellings of design.md and the capture issue work.

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <sys/un.h>

#include "cli_support.h"
#include "commands.h"
#include "guestdump/common/log.h"
#include "guestdump/common/text.h"
#include "guestdump/host/capture.h"
#include "guestdump/host/libvirt_capture.h"
#include "guestdump/kernel/convert.h"
#include "guestdump/objstore/dump_upload.h"
#include "guestdump/qmp/client.h"
#include "guestdump/store/dump_store.h"

namespace po = boost::program_options;

namespace guestdump::cli {

namespace {

constexpr const char* kDumpUsage =
    "usage: guestdump dump --qmp SOCKET [-o DIR] [-d LEVEL] [-c CODEC] [-j N] [--name NAME]\n"
    "                      [--path auto|selective|stream] [--copy-memory SIZE]\n"
    "                      [--upload s3://BUCKET/PREFIX]\n"
    "       guestdump dump DOMAIN [-c URI] [-o DIR] [-d LEVEL] [--compress CODEC]\n"
    "                      [--path auto|selective|stream] [--copy-memory SIZE]\n"
    "                      [--upload s3://BUCKET/PREFIX]";

} // namespace

int run_dump(const std::vector<std::string>& args) {
  std::string qmp_socket, domain, dir = kDefaultDumpDir, c_value, codec_name, uri, name;
  std::string path_name = "auto", upload, part_size_text, copy_memory_text;
  int level = 31;
  unsigned threads = 0;
  po::options_description desc("dump options");
  desc.add_options()("help,h", "show this help")("qmp", po::value<std::string>(&qmp_socket),
                                                 "QEMU's QMP UNIX socket (unmanaged QEMU)")(
      "output,o", po::value<std::string>(&dir),
      "dump store directory (default /var/lib/guestdump/dumps)")(
      "dump-level,d", po::value<int>(&level), "makedumpfile dump level 0-31 (default 31)")(
      ",c", po::value<std::string>(&c_value), "codec name, or libvirt URI if it contains ':'")(
      "compress", po::value<std::string>(&codec_name),
      "codec: zstd (default), zlib, lzo, snappy, none")("connect", po::value<std::string>(&uri),
                                                        "libvirt URI (default qemu:///system)")(
      "threads,j", po::value<unsigned>(&threads), "compression threads (default: online CPUs)")(
      "name", po::value<std::string>(&name),
      "guest name in the store (default: QEMU's -name, else 'qemu')")(
      "path", po::value<std::string>(&path_name),
      "how to read guest memory: auto (default), selective, stream")(
      "copy-memory", po::value<std::string>(&copy_memory_text),
      "selective: kept pages copied in memory up to SIZE (default 32MiB), more to a spool file")(
      "upload", po::value<std::string>(&upload),
      "then upload the dump to s3://BUCKET/PREFIX (AWS CLI endpoint, region and credentials)")(
      "upload-part-size", po::value<std::string>(&part_size_text),
      "bytes per multipart upload part, at least 5MiB (default 64MiB)")(
      "domain", po::value<std::string>(&domain), "libvirt domain name or UUID");
  po::positional_options_description pos;
  pos.add("domain", 1);
  int code = 0;
  if (!parse_args(args, desc, pos, kDumpUsage, code)) return code;
  if (!c_value.empty()) {
    (c_value.find(':') != std::string::npos ? uri : codec_name) = c_value;
  }
  auto codec = formats::parse_codec(codec_name.empty() ? "zstd" : codec_name);
  if (!codec) return usage_error("unknown codec '" + codec_name + "'");
  if (auto r = kernel::check_dump_level(level); !r) return usage_error(r.error().message);
  if (qmp_socket.empty() == domain.empty()) {
    return usage_error("give either --qmp SOCKET or a DOMAIN");
  }
  // The remote store is checked before the guest is touched: a typo must not cost a capture.
  std::optional<objstore::S3Url> upload_url;
  std::optional<objstore::S3Client> upload_client;
  objstore::UploadOptions upload_options;
  if (!part_size_text.empty()) {
    auto bytes = parse_byte_size(part_size_text);
    // S3 and Ceph RGW refuse parts under 5 MiB (but the last).
    if (!bytes || *bytes < (std::uint64_t{5} << 20)) {
      return usage_error("--upload-part-size must be a size of at least 5MiB");
    }
    upload_options.part_size = *bytes;
  }
  if (!upload.empty()) {
    auto url = objstore::parse_s3_url(upload);
    if (!url) return usage_error(url.error().message);
    auto config = objstore::resolve_s3_config(objstore::process_environment());
    if (!config) return fail("dump: " + config.error().message);
    upload_url = *url;
    upload_client.emplace(std::move(*config));
  }
  auto store = store::DumpStore::open(dir);
  if (!store) return fail("dump: " + store.error().message);

  host::CaptureOptions opts;
  if (path_name == "auto") {
    opts.path = host::CapturePath::kAuto;
  } else if (path_name == "selective") {
    opts.path = host::CapturePath::kSelective;
  } else if (path_name == "stream") {
    opts.path = host::CapturePath::kStream;
  } else {
    return usage_error("--path must be auto, selective or stream");
  }
  if (!copy_memory_text.empty()) {
    auto bytes = parse_byte_size(copy_memory_text);
    if (!bytes) return usage_error("--copy-memory must be a size such as 32MiB or 0");
    opts.snapshot_memory = *bytes;
  }
  opts.domain = name;
  opts.dump_level = level;
  opts.codec = *codec;
  opts.threads = threads;
  // Only receiving guest memory takes long; filtering and writing are reported when done.
  Progress bar("dump: receiving guest memory", 1, /*lines=*/true);
  opts.progress = [&](const char* phase, std::uint64_t done, std::uint64_t total) {
    if (std::string_view(phase) == "receive") bar.update(done, total);
  };

  Result<host::CaptureResult> res = make_error(ErrorCode::kInvalidArgument, "no source");
  if (!domain.empty()) {
    res = host::capture_libvirt(uri.empty() ? "qemu:///system" : uri, domain, *store, opts);
  } else {
    // Connect ourselves first: the socket's peer credentials name the QEMU process, which
    // the selective path reads.
    opts.qmp_socket = qmp_socket;
    auto sock = host::connect_qmp_socket(qmp_socket);
    if (!sock) return fail("dump: " + sock.error().message);
    auto pid = host::qemu_pid_of(sock->get());
    auto client = qmp::Client::from_fd(std::move(*sock), qmp_socket, std::chrono::seconds(10));
    if (!client) return fail("dump: " + client.error().message);
    res = host::capture_qmp_auto(**client, pid, *store, opts);
  }
  if (!res) return fail("dump: " + res.error().message);
  bar.phase("", 1);
  const auto& m = res->meta;
  std::printf("%s: %s, %llu pages, dump level %d, %s; guest paused %.1f s (%s -> %s)\n",
              escape_text(res->dir).c_str(),
              format_bytes(static_cast<double>(m.vmcore_bytes)).c_str(),
              static_cast<unsigned long long>(m.pages_dumped), m.dump_level, m.codec.c_str(),
              m.pause_seconds, res->run_state_before.c_str(), res->run_state_after.c_str());
  if (upload_client) {
    // A failed upload leaves the local dump complete (the line above named it).
    auto uploaded = objstore::upload_dump(*upload_client, *upload_url, res->dir, upload_options);
    if (!uploaded) return fail("dump: " + uploaded.error().message);
    std::printf("uploaded to %s\n", escape_text(*uploaded).c_str());
  }
  return 0;
}

int run_list(const std::vector<std::string>& args) {
  std::string dir = kDefaultDumpDir, domain, store_url;
  StoreFilter filter;
  bool json = false;
  po::options_description desc("list options");
  desc.add_options()("help,h", "show this help")("output,o", po::value<std::string>(&dir),
                                                 "dump store directory")(
      "domain", po::value<std::string>(&domain), "only this guest's dumps (name, or UUID)")(
      "store", po::value<std::string>(&store_url),
      "list the remote store s3://BUCKET/PREFIX (every host) instead of a directory")(
      "host", po::value<std::string>(&filter.host), "--store: only dumps of this host")(
      "trigger", po::value<std::string>(&filter.trigger),
      "--store: only dumps of this trigger (manual, panic, ...)")(
      "since", po::value<std::string>(&filter.since),
      "--store: only dumps taken at or after TIME (YYYY-MM-DD[THH:MM[:SS]] UTC, or @UNIX)")(
      "until", po::value<std::string>(&filter.until),
      "--store: only dumps taken at or before TIME")("json", po::bool_switch(&json),
                                                     "--store: print a JSON array");
  po::positional_options_description pos;
  pos.add("domain", 1);
  int code = 0;
  if (!parse_args(args, desc, pos,
                  "usage: guestdump list [-o DIR] [DOMAIN]\n"
                  "       guestdump list --store s3://BUCKET/PREFIX [--host H] [--domain D]\n"
                  "                      [--trigger T] [--since TIME] [--until TIME] [--json]",
                  code)) {
    return code;
  }
  if (!store_url.empty()) {
    filter.domain = domain;
    return run_list_store(store_url, filter, json);
  }
  if (json || !filter.host.empty() || !filter.trigger.empty() || !filter.since.empty() ||
      !filter.until.empty()) {
    return usage_error("--host, --trigger, --since, --until and --json go with --store");
  }
  auto store = store::DumpStore::open(dir);
  if (!store) return fail("list: " + store.error().message);
  auto dumps = store->list(domain.empty() ? std::nullopt : std::optional(domain));
  if (!dumps) return fail("list: " + dumps.error().message);
  std::printf("%-20s %-20s %10s %-8s %s\n", "DOMAIN", "TIME", "SIZE", "TRIGGER", "STATUS");
  for (const auto& d : *dumps) {
    std::string status = d.partial ? (d.in_use ? "in progress" : "interrupted (its writer is gone)")
                         : d.meta  ? d.meta->status
                                   : "no meta.json";
    // Directory names are guest domain names and meta.json is a file anyone may have edited.
    std::printf("%-20s %-20s %10s %-8s %s\n", escape_text(d.domain).c_str(),
                escape_text(d.name).c_str(), format_bytes(static_cast<double>(d.bytes)).c_str(),
                d.meta ? escape_text(d.meta->trigger).c_str() : "-", escape_text(status).c_str());
  }
  return 0;
}

} // namespace guestdump::cli

// Capture through libvirt's memory-only core dump: QEMU's compressed kdump format into a file,
// re-filtered, or its ELF core through a FIFO; see libvirt_capture.h.

#include "guestdump/host/libvirt_capture.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture_internal.h"
#include "guestdump/common/io.h"
#include "guestdump/common/log.h"
#include "guestdump/common/unique_fd.h"
#include "guestdump/host/libvirt_dump_method.h"
#include "libvirt_api.h"
#include "libvirt_selective.h"
#include "xen_capture.h"

namespace guestdump::host {

namespace {

using Connection = LibvirtConnection;
using Domain = LibvirtDomain;

// Asks libvirt for QEMU's compressed kdump format into `.libvirt-core` of `pending`: snappy,
// else LZO, else zlib. Returns the format's name; kUnsupported when neither is available (nothing
// was dumped), any other error when the dump itself failed.
Result<std::string> libvirt_compressed_core(virDomainPtr dom, const std::string& where,
                                            store::PendingDump& pending, store::DumpMeta& meta) {
  const std::string core = pending.file(".libvirt-core");
  // Ours (0600) before libvirtd opens it: it keeps its owner, so we can read it back even
  // when we are not root.
  {
    UniqueFd f(::open(core.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!f.valid()) return errno_error("create", core);
  }
  struct Format {
    unsigned flag;
    const char* name;
  };
  // Fastest first; zlib (what `virsh dump --format kdump-zlib` takes) when QEMU was built
  // without the others (Debian 12's has no LZO).
  static constexpr Format kFormats[] = {{VIR_DOMAIN_CORE_DUMP_FORMAT_KDUMP_SNAPPY, "kdump-snappy"},
                                        {VIR_DOMAIN_CORE_DUMP_FORMAT_KDUMP_LZO, "kdump-lzo"},
                                        {VIR_DOMAIN_CORE_DUMP_FORMAT_KDUMP_ZLIB, "kdump-zlib"}};
  std::string refused;
  for (const Format& f : kFormats) {
    // A memory-only dump pauses a running guest for its length (libvirt resumes it).
    const auto start = std::chrono::steady_clock::now();
    const int rc =
        lv().virDomainCoreDumpWithFormat(dom, core.c_str(), f.flag, VIR_DUMP_MEMORY_ONLY);
    meta.pause_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rc == 0) {
      GUESTDUMP_LOG(kInfo, "capture")
          << where << ": libvirt wrote a " << f.name << " core in " << meta.pause_seconds << " s";
      return std::string(f.name);
    }
    const int code = libvirt_last_error_code();
    const std::string error = libvirt_last_error();
    // This QEMU or libvirt lacks the format: try the next one. Anything else is the dump's end.
    // (libvirt 9.0 says "invalid argument: unsupported dumpformat '…' for this QEMU binary".)
    if (code != VIR_ERR_OPERATION_UNSUPPORTED && code != VIR_ERR_ARGUMENT_UNSUPPORTED &&
        code != VIR_ERR_CONFIG_UNSUPPORTED && code != VIR_ERR_INVALID_ARG) {
      (void)::unlink(core.c_str());
      return make_error(ErrorCode::kOs, where + ": libvirt core dump (" + f.name + "): " + error);
    }
    refused += std::string(refused.empty() ? "" : "; ") + f.name + ": " + error;
  }
  (void)::unlink(core.c_str());
  return make_error(ErrorCode::kUnsupported, "no compressed core dump format (" + refused + ")");
}

} // namespace

Result<CaptureResult> capture_libvirt(const std::string& uri, const std::string& domain,
                                      const store::DumpStore& store, const CaptureOptions& opts) {
  const std::string where = "capture '" + domain + "' on " + uri;
  if (auto r = load_libvirt(); !r) return std::move(r).error().context(where);
  if (opts.path == CapturePath::kSelective) {
    // A remote URI or a Xen one is refused before connecting (the connection may take long).
    if (auto no = libvirt_selective_refusal(uri, ""); no) {
      return make_error(ErrorCode::kUnsupported, where + ": no selective path: " + *no);
    }
  }
  Connection conn(lv().virConnectOpen(uri.c_str()));
  if (!conn) return make_error(ErrorCode::kNotFound, where + ": " + libvirt_last_error());
  Domain dom(lv().virDomainLookupByName(conn.get(), domain.c_str()));
  if (!dom) dom.reset(lv().virDomainLookupByUUIDString(conn.get(), domain.c_str()));
  if (!dom) return make_error(ErrorCode::kNotFound, where + ": no such domain");
  const char* name = lv().virDomainGetName(dom.get());
  char uuid[VIR_UUID_STRING_BUFLEN] = {};
  (void)lv().virDomainGetUUIDString(dom.get(), uuid);

  CaptureResult res;
  res.meta = detail::initial_meta(opts, opts.domain.empty() ? std::string(name) : opts.domain, uuid,
                                  "libvirt-coredump");
  store::DumpMeta& meta = res.meta;
  res.run_state_before = libvirt_state_text(dom.get());
  int active = lv().virDomainIsActive(dom.get());
  if (active != 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      where + ": the domain is not running (" + res.run_state_before + ")");
  }
  // Xen (libxl) writes xc_core, not a stream we can convert as it arrives.
  const char* conn_type = lv().virConnectGetType(conn.get());
  if (libvirt_dump_method(uri, conn_type != nullptr ? conn_type : "") ==
      LibvirtDumpMethod::kXenCoreFile) {
    return detail::capture_libvirt_xen(dom.get(), uri, where, std::move(res), store, opts);
  }

  // The selective path first (reads the QEMU process, pauses briefly); libvirt's core dump
  // when it cannot run, saying why.
  meta.extra["libvirt_uri"] = uri;
  if (opts.path != CapturePath::kStream) {
    auto refusal = libvirt_selective_refusal(uri, conn_type != nullptr ? conn_type : "");
    if (!refusal) {
      auto r = detail::capture_libvirt_selective(dom.get(), uri, res, store, opts);
      // A domain that died meanwhile (QEMU killed, destroyed) has nothing left to dump; a
      // cancelled capture (SIGTERM, Ctrl-C) must not start another one.
      if (r || opts.path == CapturePath::kSelective || detail::was_cancelled(r.error()) ||
          lv().virDomainIsActive(dom.get()) != 1) {
        return r ? std::move(r) : Result<CaptureResult>(std::move(r).error().context(where));
      }
      refusal = r.error().message;
    } else if (opts.path == CapturePath::kSelective) {
      return make_error(ErrorCode::kUnsupported, where + ": no selective path: " + *refusal);
    }
    GUESTDUMP_LOG(kWarn, "capture")
        << where << ": " << *refusal << "; using libvirt's core dump instead";
    meta.extra["selective_fallback"] = *refusal;
  }

  GUESTDUMP_TRY(store::PendingDump pending, store.begin(meta));
  // First choice: QEMU's own compressed format (kdump with LZO or snappy: zero pages skipped,
  // the rest compressed as it is written), the quickest core dump libvirt can take, into a file
  // of our private dump directory, re-filtered at the dump level asked for once the guest runs
  // again. The file holds the guest's non-zero memory, compressed: far less than its RAM.
  auto compressed = libvirt_compressed_core(dom.get(), where, pending, meta);
  if (compressed) {
    meta.extra["libvirt_format"] = *compressed;
    res.run_state_after = libvirt_state_text(dom.get());
    meta.extra["run_state_before"] = res.run_state_before;
    meta.extra["run_state_after"] = res.run_state_after;
    auto dir = store_core_file(pending.file(".libvirt-core"), pending, meta, opts);
    if (!dir) return std::move(dir).error().context(where);
    res.dir = *dir;
    return res;
  }
  if (compressed.error().code != ErrorCode::kUnsupported) {
    return detail::record_failure(pending, meta, std::move(compressed).error());
  }
  GUESTDUMP_LOG(kInfo, "capture") << where << ": " << compressed.error().message
                                  << "; streaming libvirt's ELF core instead";
  // libvirtd opens the path itself and hands the descriptor to QEMU: a FIFO in our private
  // dump directory (0700) makes that a stream we read, not a RAM-sized file.
  const std::string fifo = pending.file(".memory-stream");
  if (::mkfifo(fifo.c_str(), 0600) != 0) return errno_error("create FIFO", fifo);

  // The read end is opened non-blocking, so it never waits for a writer: a blocking open()
  // would hang this worker for ever if libvirt failed before it opened the FIFO. We wait for
  // the first bytes (or QEMU closing it) and for the libvirt call ending, whichever comes first.
  int rfd = -1;
  do {
    rfd = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  } while (rfd < 0 && errno == EINTR);
  if (rfd < 0) return detail::record_failure(pending, meta, errno_error("open FIFO", fifo));
  UniqueFd done_fd(::eventfd(0, EFD_CLOEXEC));
  if (!done_fd.valid()) {
    ::close(rfd);
    return detail::record_failure(pending, meta, errno_error("create eventfd for", fifo));
  }
  std::atomic<int> rc{-1};
  std::atomic<bool> finished{false};
  std::string dump_error;
  const auto pause_start = std::chrono::steady_clock::now();
  std::thread dumper([&] {
    const int r = lv().virDomainCoreDumpWithFormat(
        dom.get(), fifo.c_str(), VIR_DOMAIN_CORE_DUMP_FORMAT_RAW, VIR_DUMP_MEMORY_ONLY);
    if (r != 0) dump_error = libvirt_last_error();
    rc.store(r);
    finished.store(true);
    const std::uint64_t one = 1;
    (void)!::write(done_fd.get(), &one, sizeof one);
  });
  for (;;) {
    pollfd fds[2] = {{rfd, POLLIN, 0}, {done_fd.get(), POLLIN, 0}};
    const int n = ::poll(fds, 2, 200);
    if (n < 0 && errno != EINTR) break;
    // Data (or a writer that came and went): the stream has begun. libvirt returned: there is
    // nothing more to wait for (its error, if any, is reported below).
    if (n > 0 && (fds[0].revents != 0 || fds[1].revents != 0)) break;
    if (cancel_requested()) break;
  }
  // From here on the stream is read blocking, as SpooledDump expects.
  (void)::fcntl(rfd, F_SETFL, ::fcntl(rfd, F_GETFL) & ~O_NONBLOCK);
  UniqueFd rd(rfd);
  Result<std::unique_ptr<formats::SpooledDump>> spool =
      finished.load() && rc.load() != 0
          ? Result<std::unique_ptr<formats::SpooledDump>>(
                make_error(ErrorCode::kOs, "libvirt failed before the stream began"))
          : formats::SpooledDump::receive(
                detail::stream_options(rd.get(), pending, opts, "libvirt's dump stream"));
  // Closing our end makes a still-writing QEMU fail the dump and libvirt resume the guest.
  rd.reset();
  dumper.join();
  ::unlink(fifo.c_str());
  meta.pause_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - pause_start).count();
  auto ctx = [&](Error e) { return std::move(e).context(where); };
  if (rc.load() != 0) {
    return detail::record_failure(
        pending, meta, make_error(ErrorCode::kOs, where + ": libvirt core dump: " + dump_error));
  }
  if (!spool) return detail::record_failure(pending, meta, ctx(std::move(spool).error()));
  GUESTDUMP_TRY(auto written, detail::write_capture(**spool, pending, meta, opts));
  (void)written;
  res.run_state_after = libvirt_state_text(dom.get());
  return detail::commit_capture(pending, std::move(res), domain);
}

} // namespace guestdump::host

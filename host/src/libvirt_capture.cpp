// Capture through libvirt's memory-only core dump into a FIFO; see libvirt_capture.h.

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
#include "libvirt_api.h"
#include "libvirt_selective.h"
#include "xen_capture.h"

namespace guestdump::host {

namespace {

using Connection = LibvirtConnection;
using Domain = LibvirtDomain;

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
      if (r || opts.path == CapturePath::kSelective) {
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

// Xen capture through libvirt's libxl driver; see xen_capture.h and libvirt_dump_method.h.

#include "xen_capture.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <string_view>

#include <unistd.h>

#include "capture_internal.h"
#include "guestdump/common/log.h"
#include "guestdump/common/text.h"
#include "guestdump/kernel/convert.h"
#include "libvirt_api.h"

namespace guestdump::host {

LibvirtDumpMethod libvirt_dump_method(std::string_view uri, std::string_view driver_type) {
  if (!driver_type.empty()) {
    // libvirt's libxl driver reports itself as "Xen".
    return iequals(driver_type, "Xen") || iequals(driver_type, "libxl")
               ? LibvirtDumpMethod::kXenCoreFile
               : LibvirtDumpMethod::kMemoryOnlyStream;
  }
  const auto colon = uri.find(':');
  if (colon == std::string_view::npos) return LibvirtDumpMethod::kMemoryOnlyStream;
  std::string_view scheme = uri.substr(0, colon);
  scheme = scheme.substr(0, scheme.find('+')); // xen+ssh, xen+unix, ...
  return iequals(scheme, "xen") || iequals(scheme, "libxl") ? LibvirtDumpMethod::kXenCoreFile
                                                            : LibvirtDumpMethod::kMemoryOnlyStream;
}

Result<std::string> store_core_file(const std::string& core, store::PendingDump& pending,
                                    store::DumpMeta& meta, const CaptureOptions& opts) {
  struct Remove {
    const std::string& path;
    ~Remove() { (void)::unlink(path.c_str()); }
  } remove{core};
  auto failed = [&](Error e) { return detail::record_failure(pending, meta, std::move(e)); };
  kernel::ConvertOptions co;
  co.input = core;
  co.output = pending.file("vmcore");
  co.dump_level = opts.dump_level;
  co.codec = opts.codec;
  co.threads = opts.threads;
  co.extract_dmesg = true;
  if (opts.progress) {
    co.progress = [p = opts.progress](std::uint64_t done, std::uint64_t total) {
      p("write", done, total);
    };
  }
  co.locate.hint_pa = opts.vmcoreinfo_hint; // the agent's address, tried first
  auto conv = kernel::convert(co);
  if (!conv) return failed(std::move(conv).error());
  (void)::unlink(core.c_str()); // before the commit: only the dump is renamed into place
  meta.guest_ram_bytes = conv->pages_ram * 4096;
  meta.vmcore_bytes = conv->stats.file_size;
  meta.pages_dumped = conv->stats.pages_dumped;
  meta.dump_level = conv->dump_level;
  if (!conv->filter_fallback.empty()) meta.extra["filter_fallback"] = conv->filter_fallback;
  meta.extra["input_format"] = conv->input_format;
  meta.extra["temporary_core_file"] = true;
  auto summary = kernel::inspect(co.output);
  if (!summary) return failed(std::move(summary).error());
  meta.vmcoreinfo_source = summary->vmcoreinfo_origin; // "guest memory at PA 0x…" or "none"
  if (summary->has_vmcoreinfo) meta.kernel_release = summary->release;
  if (conv->dmesg) {
    if (auto w = pending.write_text("dmesg.txt", *conv->dmesg); !w) {
      return failed(std::move(w).error());
    }
  } else {
    meta.extra["dmesg_error"] = conv->dmesg_error;
  }
  meta.finished_at = static_cast<std::int64_t>(std::time(nullptr));
  return pending.commit(meta);
}

namespace detail {

namespace {

// Removes the temporary core file on every path out of the capture.
struct TempCore {
  std::string path;
  ~TempCore() { (void)::unlink(path.c_str()); }
};

} // namespace

Result<CaptureResult> capture_libvirt_xen(virDomainPtr dom, const std::string& uri,
                                          const std::string& where, CaptureResult res,
                                          const store::DumpStore& store,
                                          const CaptureOptions& opts) {
  if (opts.path == CapturePath::kSelective) {
    return make_error(ErrorCode::kUnsupported,
                      where + ": selective capture needs the QEMU driver (this is Xen)");
  }
  store::DumpMeta& meta = res.meta;
  meta.path = "libvirt-xen-coredump";
  GUESTDUMP_TRY(store::PendingDump pending, store.begin(meta));
  auto failed = [&](Error e) { return record_failure(pending, meta, std::move(e)); };
  TempCore core{pending.file(".xen-core")};
  // xc_core puts the PFN index after the pages it describes, so pages cannot be placed while
  // they stream in: libxl writes the whole file and we convert it afterwards.
  GUESTDUMP_LOG(kInfo, "capture") << "'" << meta.domain << "': Xen writes xc_core, which cannot "
                                  << "be converted as it streams; dumping guest RAM to the "
                                  << "temporary file '" << core.path << "' first";
  if (opts.progress) opts.progress("receive", 0, 0);
  const auto start = std::chrono::steady_clock::now();
  // No flags: libxl pauses a running guest for the dump and unpauses it afterwards. (LIVE and
  // CRASH are the only flags it accepts; MEMORY_ONLY and the format API are QEMU's.)
  const int rc = lv().virDomainCoreDump(dom, core.path.c_str(), 0);
  const double dump_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // libxl pauses a running guest for its dump; a guest that had stopped already (crashed and
  // preserved, paused) was not paused by the dump (real Xen: 'guest paused 32.7 s' was reported
  // for a crashed PV domain).
  meta.pause_seconds =
      res.run_state_before == to_string(DomainRunState::kRunning) ? dump_seconds : 0.0;
  meta.extra["core_dump_seconds"] = dump_seconds;
  if (rc != 0) {
    return failed(
        make_error(ErrorCode::kOs, where + ": libvirt core dump (Xen): " + libvirt_last_error()));
  }
  res.run_state_after = libvirt_state_text(dom);
  meta.extra["libvirt_uri"] = uri;
  meta.extra["run_state_before"] = res.run_state_before;
  meta.extra["run_state_after"] = res.run_state_after;
  auto dir = store_core_file(core.path, pending, meta, opts);
  if (!dir) return std::move(dir).error().context(where);
  res.dir = *dir;
  return res;
}

} // namespace detail
} // namespace guestdump::host

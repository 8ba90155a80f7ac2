// The selective capture of a libvirt QEMU/KVM domain (see libvirt_selective.h): the fast path of
// selective_capture.cpp, with every question to QEMU asked through libvirt's monitor
// passthrough and none of them a dump. libvirtd 9.0 dereferences a job that does not exist when
// QEMU reports DUMP_COMPLETED for a dump libvirt did not start, and crashes; so the CPU state
// comes from HMP `info registers -a` and the few guest bytes we need before the process memory
// is located (the probe page, firmware ROMs) from HMP `xp`.

#include "libvirt_selective.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <sys/uio.h>

#include "capture_internal.h"
#include "guestdump/common/log.h"
#include "guestdump/host/libvirt_dump_method.h"
#include "guestdump/host/resume_guard.h"
#include "guestdump/kernel/vmcoreinfo_locator.h"
#include "hmp_cpu_state.h"
#include "live_monitor.h"

namespace guestdump::host {

namespace {

using Clock = std::chrono::steady_clock;

Result<std::string> monitor(virDomainPtr dom, const std::string& command, bool hmp) {
  char* out = nullptr;
  const unsigned flags = hmp ? VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP : 0;
  if (lv().virDomainQemuMonitorCommand(dom, command.c_str(), &out, flags) != 0) {
    return make_error(ErrorCode::kProtocol,
                      "monitor command '" + command + "': " + libvirt_last_error());
  }
  std::string text = out != nullptr ? out : "";
  std::free(out);
  // HMP reports its own errors as text, not as a QMP error.
  if (hmp && (text.starts_with("unknown command") || text.starts_with("Error") ||
              text.starts_with("Cannot access memory"))) {
    const auto nl = text.find('\n');
    return make_error(ErrorCode::kProtocol,
                      "monitor command '" + command + "': " + text.substr(0, nl));
  }
  return text;
}

detail::MonitorFn libvirt_monitor(virDomainPtr dom) {
  return [dom](const std::string& command, bool hmp) { return monitor(dom, command, hmp); };
}

// The QEMU process: the thread group of its vCPU threads (QMP query-cpus-fast "thread-id").
Result<pid_t> qemu_pid(virDomainPtr dom) {
  GUESTDUMP_TRY(auto text, monitor(dom, R"({"execute":"query-cpus-fast"})", false));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.contains("return") || !j["return"].is_array() || j["return"].empty() ||
      !j["return"][0].is_object() || !j["return"][0].contains("thread-id") ||
      !j["return"][0]["thread-id"].is_number_integer()) {
    return make_error(ErrorCode::kProtocol, "query-cpus-fast: no vCPU thread id in the reply");
  }
  const auto tid = j["return"][0]["thread-id"].get<long long>();
  const std::string status = "/proc/" + std::to_string(tid) + "/status";
  std::ifstream in(status);
  if (!in) return errno_error("open", status);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("Tgid:")) continue;
    pid_t pid = 0;
    std::string_view v(line);
    v.remove_prefix(5);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), pid);
    (void)p;
    if (ec == std::errc() && pid > 0) return pid;
  }
  return make_error(ErrorCode::kBadData, "'" + status + "' has no Tgid");
}

} // namespace

std::optional<std::string> libvirt_selective_refusal(std::string_view uri,
                                                     std::string_view driver_type) {
  if (libvirt_dump_method(uri, driver_type) == LibvirtDumpMethod::kXenCoreFile) {
    return "Xen domains have no QEMU process to read";
  }
  if (!driver_type.empty() && driver_type != "QEMU") {
    return "the '" + std::string(driver_type) + "' driver is not QEMU";
  }
  // "qemu:///system", "qemu+unix:///session": the QEMU process is on this host. A host part
  // ("qemu+ssh://host/system", "qemu://host/") puts it elsewhere.
  const auto sep = uri.find("://");
  if (sep == std::string_view::npos || uri.substr(sep + 3).starts_with("/") == false) {
    return "the URI '" + std::string(uri) + "' is remote: its QEMU process is on another host";
  }
  return std::nullopt;
}

namespace detail {

// Whether we may read the QEMU process's memory (ptrace rights; an LSM may forbid them).
Result<void> check_access(pid_t pid) {
  const std::string maps_path = "/proc/" + std::to_string(pid) + "/maps";
  std::ifstream in(maps_path);
  std::string line;
  if (!in || !std::getline(in, line)) return errno_error("read", maps_path);
  std::uint64_t start = 0;
  auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), start, 16);
  (void)p;
  if (ec != std::errc()) return make_error(ErrorCode::kBadData, "'" + maps_path + "' unreadable");
  char byte = 0;
  iovec l{&byte, 1};
  iovec r{reinterpret_cast<void*>(start), 1};
  if (::process_vm_readv(pid, &l, 1, &r, 1, 0) != 1) {
    return errno_error("read the memory of QEMU process", std::to_string(pid));
  }
  return {};
}

Result<CaptureResult> capture_libvirt_selective(virDomainPtr dom, const std::string& uri,
                                                CaptureResult res, const store::DumpStore& store,
                                                const CaptureOptions& opts) {
  store::DumpMeta& meta = res.meta;
  meta.path = "libvirt-selective";
  const std::string guest = meta.domain;
  auto ctx = [&](Error e) { return std::move(e).context("selective capture '" + guest + "'"); };

  int state = 0;
  int reason = 0;
  if (lv().virDomainGetState(dom, &state, &reason, 0) != 0) {
    return make_error(ErrorCode::kOs,
                      "selective capture '" + guest + "': domain state: " + libvirt_last_error());
  }
  const bool running = state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_BLOCKED;
  // Everything that needs no pause first: the memory map, the process and our rights over it.
  auto mtree = monitor(dom, "info mtree -f", true);
  if (!mtree) return ctx(std::move(mtree).error());
  auto ranges = detail::parse_mtree_flat(*mtree);
  if (!ranges) return ctx(std::move(ranges).error());
  auto pid = qemu_pid(dom);
  if (!pid) return ctx(std::move(pid).error());
  if (auto a = check_access(*pid); !a) {
    return ctx(std::move(a).error().context(
        "no access to the memory of QEMU process " + std::to_string(*pid) +
        " (needs ptrace rights, which an AppArmor or SELinux policy may withhold)"));
  }

  // Where RAM is in the process and where VMCOREINFO is do not change while the guest runs:
  // found before the pause, which then only covers the CPU state, the filter and the copy.
  auto opened = detail::open_live_memory(libvirt_monitor(dom), *pid, std::move(*ranges),
                                         opts.vmcoreinfo_hint);
  if (!opened) return ctx(std::move(opened).error());

  // From here until `resume` the domain is suspended by us; every exit path resumes it, and a
  // guard process resumes it should we die (SIGKILL included) while it is suspended.
  std::optional<ResumeGuard> guard;
  if (running) {
    auto g = ResumeGuard::start(libvirt_guard_target(uri, meta.uuid));
    if (!g) return ctx(std::move(g).error());
    guard.emplace(std::move(g).value());
  }
  const auto pause_start = Clock::now();
  bool we_suspended = false;
  if (running) {
    guard->paused(); // before the call: a death right after it is covered too
    if (lv().virDomainSuspend(dom) != 0) {
      return make_error(ErrorCode::kOs,
                        "selective capture '" + guest + "': suspend: " + libvirt_last_error());
    }
    we_suspended = true;
  }
  bool resumed = false;
  auto resume = [&]() {
    if (resumed) return;
    resumed = true;
    // The pause ends when libvirt has resumed the guest, not when we ask it to.
    const detail::OnScopeExit measured([&] {
      meta.pause_seconds = std::chrono::duration<double>(Clock::now() - pause_start).count();
    });
    if (we_suspended && lv().virDomainResume(dom) != 0) {
      // Our connection may have died with a libvirtd that restarted meanwhile (the domain
      // lives on in its QEMU process): resume it over a new one once libvirtd is back.
      const std::string first = libvirt_last_error();
      auto again = resume_paused_libvirt_domain(uri, meta.uuid, std::chrono::seconds(60));
      if (!again) {
        GUESTDUMP_LOG(kError, "capture") << "'" << guest << "': cannot resume the domain: " << first
                                         << "; then " << again.error().message;
      } else {
        GUESTDUMP_LOG(kWarn, "capture")
            << "'" << guest << "': resume failed (" << first << "); over a new connection: "
            << (*again ? "resumed" : "no longer paused by us, left as it is");
      }
    }
    if (guard) guard->resumed();
  };
  const detail::OnScopeExit resumer(resume);
  const auto since = [&] {
    return std::chrono::duration<double>(Clock::now() - pause_start).count();
  };

  if (we_suspended) {
    // The CPU notes of the stopped guest (those above were taken while it ran).
    auto regs = monitor(dom, "info registers -a", true);
    if (!regs) return ctx(std::move(regs).error());
    auto cpus = detail::parse_info_registers(*regs);
    if (!cpus) return ctx(std::move(cpus).error());
    opened->memory->set_cpu_notes(detail::cpu_notes(*cpus), static_cast<int>(cpus->size()));
    GUESTDUMP_LOG(kDebug, "capture") << "selective: CPU state read at " << since() << " s";
  }
  const detail::LiveGuestMemory& live = *opened->memory;
  GUESTDUMP_LOG(kInfo, "capture") << "'" << guest << "': selective capture from QEMU process "
                                  << *pid << " (" << live.metadata().ram.count() << " RAM pages)";
  return detail::finish_selective(res, live, store, opts, opened->vmcoreinfo_origin, resume,
                                  [&] { return libvirt_state_text(dom); });
}

Result<LiveMemoryView> open_libvirt_live_memory(const std::string& uri, const std::string& domain) {
  const std::string where = "'" + domain + "' on " + uri;
  if (auto r = load_libvirt(); !r) return std::move(r).error().context(where);
  if (auto no = libvirt_selective_refusal(uri, ""); no) {
    return make_error(ErrorCode::kUnsupported, where + ": " + *no);
  }
  LibvirtConnection conn(lv().virConnectOpen(uri.c_str()));
  if (!conn) return make_error(ErrorCode::kNotFound, where + ": " + libvirt_last_error());
  const char* type = lv().virConnectGetType(conn.get());
  if (auto no = libvirt_selective_refusal(uri, type != nullptr ? type : ""); no) {
    return make_error(ErrorCode::kUnsupported, where + ": " + *no);
  }
  LibvirtDomain dom(lv().virDomainLookupByName(conn.get(), domain.c_str()));
  if (!dom) dom.reset(lv().virDomainLookupByUUIDString(conn.get(), domain.c_str()));
  if (!dom) return make_error(ErrorCode::kNotFound, where + ": no such domain");
  if (lv().virDomainIsActive(dom.get()) != 1) {
    return make_error(ErrorCode::kInvalidArgument, where + ": the domain is not running");
  }
  auto ctx = [&](Error e) { return std::move(e).context(where); };
  auto mtree = monitor(dom.get(), "info mtree -f", true);
  if (!mtree) return ctx(std::move(mtree).error());
  auto ranges = parse_mtree_flat(*mtree);
  if (!ranges) return ctx(std::move(ranges).error());
  auto pid = qemu_pid(dom.get());
  if (!pid) return ctx(std::move(pid).error());
  if (auto a = check_access(*pid); !a) return ctx(std::move(a).error());
  auto view = open_live_memory(libvirt_monitor(dom.get()), *pid, std::move(*ranges), std::nullopt);
  if (!view) return ctx(std::move(view).error());
  return view;
}

} // namespace detail

} // namespace guestdump::host

// guestdumpd's libvirt watcher: event loop thread, event registration, keepalive, close
// callback and reconnection; see watcher.h.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "guestdump/common/log.h"
#include "guestdump/host/domain_xml.h"
#include "guestdump/host/guest_agent.h"
#include "guestdump/host/libvirt_capture.h"
#include "guestdump/host/watcher.h"
#include "libvirt_api.h"

namespace guestdump::host {

namespace {

constexpr const char* kLog = "watch";

using ConnRef = LibvirtConnection;
using DomRef = LibvirtDomain;

// The event loop thread.
std::mutex g_loop_mu;
bool g_loop_started = false;
std::atomic<bool> g_loop_stop{false};
std::thread g_loop_thread;

std::string uuid_of(virDomainPtr d) {
  char buf[VIR_UUID_STRING_BUFLEN] = {};
  if (lv().virDomainGetUUIDString(d, buf) != 0) return {};
  return buf;
}

std::string name_of(virDomainPtr d) {
  const char* n = lv().virDomainGetName(d);
  return n != nullptr ? n : "";
}

// Fills what virDomainGetState/Info/XML give; vCPU time is filled by the caller.
DomainStatus status_of(virDomainPtr d) {
  DomainStatus s;
  s.name = name_of(d);
  s.uuid = uuid_of(d);
  const unsigned id = lv().virDomainGetID(d);
  s.id = id == static_cast<unsigned>(-1) ? -1 : static_cast<int>(id);
  int state = 0, reason = 0;
  if (lv().virDomainGetState(d, &state, &reason, 0) == 0) {
    s.state = libvirt_run_state(state);
    s.reason = reason;
    // The third case is Xen: libvirt's libxl driver keeps a domain whose on_crash is preserve
    // as "shut off (crashed)" with its id and its memory (a real Xen 4.17 PV guest), and it can
    // be dumped; a QEMU domain shut off by a crash has no process left (id -1).
    s.panicked = (state == VIR_DOMAIN_CRASHED && reason == VIR_DOMAIN_CRASHED_PANICKED) ||
                 (state == VIR_DOMAIN_PAUSED && reason == VIR_DOMAIN_PAUSED_CRASHED) ||
                 (state == VIR_DOMAIN_SHUTOFF && reason == VIR_DOMAIN_SHUTOFF_CRASHED && s.id >= 0);
    s.watchdog = state == VIR_DOMAIN_PAUSED && reason == VIR_DOMAIN_PAUSED_WATCHDOG;
    s.migrating = state == VIR_DOMAIN_PAUSED &&
                  (reason == VIR_DOMAIN_PAUSED_MIGRATION || reason == VIR_DOMAIN_PAUSED_POSTCOPY);
  }
  s.persistent = lv().virDomainIsPersistent(d) == 1;
  virDomainInfo info{};
  if (lv().virDomainGetInfo(d, &info) == 0) {
    s.memory_bytes = static_cast<std::uint64_t>(std::max(info.memory, info.maxMem)) * 1024;
    s.vcpus = std::max<unsigned>(1, info.nrVirtCpu);
  }
  if (s.id >= 0) {
    virDomainJobInfo job{};
    if (lv().virDomainGetJobInfo(d, &job) == 0) s.job_active = job.type != VIR_DOMAIN_JOB_NONE;
  }
  if (char* xml = lv().virDomainGetXMLDesc(d, 0)) {
    s.has_agent_channel = has_agent_channel(xml);
    std::free(xml);
  }
  if (char* md = lv().virDomainGetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, kMetadataNamespace,
                                           VIR_DOMAIN_AFFECT_CURRENT)) {
    s.watch = parse_watch_metadata(md);
    std::free(md);
  }
  return s;
}

std::optional<std::uint64_t> vcpu_time(const virDomainStatsRecordPtr rec) {
  std::uint64_t sum = 0;
  bool any = false;
  for (int i = 0; i < rec->nparams; ++i) {
    const virTypedParameter& p = rec->params[i];
    const std::string_view f(p.field);
    if (f.substr(0, 5) == "vcpu." && f.size() > 5 && f.substr(f.size() - 5) == ".time" &&
        p.type == VIR_TYPED_PARAM_ULLONG) {
      sum += p.value.ul;
      any = true;
    }
  }
  if (!any) return std::nullopt;
  return sum;
}

} // namespace

std::string_view to_string(WatchEventKind kind) {
  switch (kind) {
  case WatchEventKind::kConnected:
    return "connected";
  case WatchEventKind::kDisconnected:
    return "disconnected";
  case WatchEventKind::kPanicked:
    return "crashed/panicked";
  case WatchEventKind::kCrashLoaded:
    return "crashed/crashloaded";
  case WatchEventKind::kWatchdog:
    return "watchdog";
  case WatchEventKind::kSuspended:
    return "suspended";
  case WatchEventKind::kStarted:
    return "started";
  case WatchEventKind::kResumed:
    return "resumed";
  case WatchEventKind::kStopped:
    return "stopped";
  case WatchEventKind::kShutdown:
    return "shutdown";
  case WatchEventKind::kReboot:
    return "reboot";
  case WatchEventKind::kAgentConnected:
    return "agent-connected";
  case WatchEventKind::kAgentDisconnected:
    return "agent-disconnected";
  case WatchEventKind::kUndefined:
    return "undefined";
  case WatchEventKind::kRecheck:
    return "recheck";
  }
  return "?";
}

std::string_view to_string(DomainRunState state) {
  switch (state) {
  case DomainRunState::kRunning:
    return "running";
  case DomainRunState::kPaused:
    return "paused";
  case DomainRunState::kShuttingDown:
    return "shutting-down";
  case DomainRunState::kShutOff:
    return "shut-off";
  case DomainRunState::kCrashed:
    return "crashed";
  case DomainRunState::kPmSuspended:
    return "pm-suspended";
  case DomainRunState::kOther:
    return "other";
  }
  return "?";
}

struct LibvirtWatcher::Impl {
  Options opt;
  Sink sink;
  mutable std::mutex mu;
  std::condition_variable cv;
  ConnRef conn; // replaced on reconnect
  std::vector<int> callbacks;
  bool lost = false;
  bool stopping = false;
  std::thread reconnector;

  void emit(WatchEventKind kind, virDomainPtr d, bool crashed = false) {
    WatchEvent e;
    e.uri = opt.uri;
    e.kind = kind;
    if (d != nullptr) {
      e.name = name_of(d);
      e.uuid = uuid_of(d);
    }
    e.crashed = crashed;
    sink(std::move(e));
  }

  // --- callbacks (event loop thread): translate and hand over, nothing else ---------------

  static int on_lifecycle(virConnectPtr, virDomainPtr d, int event, int detail, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    WatchEventKind k;
    switch (event) {
    case VIR_DOMAIN_EVENT_CRASHED:
      k = detail == VIR_DOMAIN_EVENT_CRASHED_CRASHLOADED ? WatchEventKind::kCrashLoaded
                                                         : WatchEventKind::kPanicked;
      break;
    case VIR_DOMAIN_EVENT_SUSPENDED:
      k = detail == VIR_DOMAIN_EVENT_SUSPENDED_WATCHDOG ? WatchEventKind::kWatchdog
                                                        : WatchEventKind::kSuspended;
      break;
    case VIR_DOMAIN_EVENT_STARTED:
      k = WatchEventKind::kStarted;
      break;
    case VIR_DOMAIN_EVENT_RESUMED:
      k = WatchEventKind::kResumed;
      break;
    case VIR_DOMAIN_EVENT_STOPPED:
      k = WatchEventKind::kStopped;
      break;
    case VIR_DOMAIN_EVENT_SHUTDOWN:
      k = WatchEventKind::kShutdown;
      break;
    case VIR_DOMAIN_EVENT_UNDEFINED:
      k = WatchEventKind::kUndefined;
      break;
    default:
      return 0;
    }
    self->emit(k, d,
               event == VIR_DOMAIN_EVENT_STOPPED && detail == VIR_DOMAIN_EVENT_STOPPED_CRASHED);
    return 0;
  }

  static void on_reboot(virConnectPtr, virDomainPtr d, void* opaque) {
    static_cast<Impl*>(opaque)->emit(WatchEventKind::kReboot, d, 0);
  }

  static void on_watchdog(virConnectPtr, virDomainPtr d, int action, void* opaque) {
    static_cast<Impl*>(opaque)->emit(WatchEventKind::kWatchdog, d, action);
  }

  static void on_agent(virConnectPtr, virDomainPtr d, int state, int reason, void* opaque) {
    static_cast<Impl*>(opaque)->emit(
        state == VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED
            ? WatchEventKind::kAgentConnected
            : WatchEventKind::kAgentDisconnected,
        d, reason);
  }

  static void on_close(virConnectPtr c, int reason, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    {
      std::lock_guard lock(self->mu);
      if (c != self->conn.get() || self->stopping) return; // an old connection, or we closed it
      self->lost = true;
    }
    self->cv.notify_all();
    GUESTDUMP_LOG(kWarn, kLog) << "connection to " << self->opt.uri << " closed ("
                               << (reason == VIR_CONNECT_CLOSE_REASON_EOF ? "libvirtd went away"
                                   : reason == VIR_CONNECT_CLOSE_REASON_KEEPALIVE
                                       ? "keepalive timeout"
                                   : reason == VIR_CONNECT_CLOSE_REASON_CLIENT ? "closed by client"
                                                                               : "error")
                               << "); reconnecting";
    self->emit(WatchEventKind::kDisconnected, nullptr, reason);
  }

  // --- connection management --------------------------------------------------------------

  Result<void> open_and_register() {
    if (auto r = load_libvirt(); !r)
      return std::move(r).error().context("connect to '" + opt.uri + "'");
    ConnRef owned(lv().virConnectOpen(opt.uri.c_str()));
    virConnectPtr c = owned.get();
    if (c == nullptr) {
      return make_error(ErrorCode::kNotFound,
                        "cannot connect to libvirt at '" + opt.uri + "': " + libvirt_last_error());
    }
    std::vector<int> ids;
    auto fail = [&](const char* what) {
      Error e = make_error(ErrorCode::kOs, "register " + std::string(what) + " events on '" +
                                               opt.uri + "': " + libvirt_last_error());
      for (int id : ids) (void)lv().virConnectDomainEventDeregisterAny(c, id);
      return e;
    };
    const struct {
      int id;
      virConnectDomainEventGenericCallback cb;
      const char* what;
    } regs[] = {
        {VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), "lifecycle"},
        {VIR_DOMAIN_EVENT_ID_REBOOT, VIR_DOMAIN_EVENT_CALLBACK(on_reboot), "reboot"},
        {VIR_DOMAIN_EVENT_ID_WATCHDOG, VIR_DOMAIN_EVENT_CALLBACK(on_watchdog), "watchdog"},
        {VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(on_agent),
         "agent-lifecycle"},
    };
    for (const auto& r : regs) {
      int id = lv().virConnectDomainEventRegisterAny(c, nullptr, r.id, r.cb, this, nullptr);
      if (id < 0) {
        // Agent lifecycle events need libvirt 1.2.11 and a QEMU driver; other drivers (Xen)
        // may not have them: carry on without.
        if (r.id == VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE) {
          GUESTDUMP_LOG(kWarn, kLog)
              << opt.uri << ": no agent lifecycle events: " << libvirt_last_error();
          continue;
        }
        return fail(r.what);
      }
      ids.push_back(id);
    }
    if (opt.keepalive_interval.count() > 0 &&
        lv().virConnectSetKeepAlive(c, static_cast<int>(opt.keepalive_interval.count()),
                                    opt.keepalive_count) < 0) {
      // Local (unix socket) URIs to some drivers do not support keepalive: the close
      // callback still reports EOF.
      GUESTDUMP_LOG(kDebug, kLog) << opt.uri << ": no keepalive: " << libvirt_last_error();
    }
    {
      std::lock_guard lock(mu);
      conn = std::move(owned);
      callbacks = ids;
      lost = false;
    }
    if (lv().virConnectRegisterCloseCallback(c, on_close, this, nullptr) < 0) {
      GUESTDUMP_LOG(kWarn, kLog) << opt.uri << ": no close callback: " << libvirt_last_error();
    }
    // A close between virConnectOpen and the registration above would go unnoticed.
    if (lv().virConnectIsAlive(c) != 1) {
      std::lock_guard lock(mu);
      lost = true;
    }
    return {};
  }

  void teardown() {
    ConnRef owned;
    std::vector<int> ids;
    {
      std::lock_guard lock(mu);
      owned = std::move(conn);
      ids.swap(callbacks);
    }
    if (!owned) return;
    for (int id : ids) (void)lv().virConnectDomainEventDeregisterAny(owned.get(), id);
    (void)lv().virConnectUnregisterCloseCallback(owned.get(), on_close);
  }

  void reconnect_main() {
    for (;;) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return lost || stopping; });
        if (stopping) return;
      }
      teardown();
      auto backoff = std::chrono::seconds(1);
      for (int attempt = 1;; ++attempt) {
        {
          std::lock_guard lock(mu);
          if (stopping) return;
        }
        auto r = open_and_register();
        if (r) {
          GUESTDUMP_LOG(kInfo, kLog)
              << "reconnected to " << opt.uri << " (attempt " << attempt << ")";
          emit(WatchEventKind::kConnected, nullptr, 0);
          break;
        }
        GUESTDUMP_LOG(kWarn, kLog)
            << r.error().message << "; retrying in " << backoff.count() << "s";
        std::unique_lock lock(mu);
        if (cv.wait_for(lock, backoff, [&] { return stopping; })) return;
        backoff = std::min(backoff * 2, opt.reconnect_max);
      }
    }
  }

  ConnRef ref() const {
    std::lock_guard lock(mu);
    if (conn == nullptr) return nullptr;
    (void)lv().virConnectRef(conn.get());
    return ConnRef(conn.get());
  }

  Result<std::pair<ConnRef, DomRef>> lookup(const std::string& uuid) const {
    ConnRef c = ref();
    if (!c) {
      return make_error(ErrorCode::kOs, "not connected to '" + opt.uri + "' (reconnecting)");
    }
    DomRef d(lv().virDomainLookupByUUIDString(c.get(), uuid.c_str()));
    if (!d) {
      return make_error(ErrorCode::kNotFound,
                        "domain " + uuid + " on '" + opt.uri + "': " + libvirt_last_error());
    }
    return std::make_pair(std::move(c), std::move(d));
  }

  Result<void> domain_call(const std::string& uuid, const char* what,
                           const std::function<int(virDomainPtr)>& call) const {
    GUESTDUMP_TRY(auto cd, lookup(uuid));
    if (call(cd.second.get()) < 0) {
      return make_error(ErrorCode::kOs, std::string(what) + " '" + name_of(cd.second.get()) +
                                            "' on '" + opt.uri + "': " + libvirt_last_error());
    }
    return {};
  }
};

Result<void> LibvirtWatcher::start_event_loop() {
  std::lock_guard lock(g_loop_mu);
  if (g_loop_started) return {};
  if (auto r = load_libvirt(); !r) return std::move(r).error().context("libvirt event loop");
  if (lv().virEventRegisterDefaultImpl() < 0) {
    return make_error(ErrorCode::kOs, "libvirt event loop: " + libvirt_last_error());
  }
  g_loop_stop = false;
  g_loop_thread = std::thread([] {
    while (!g_loop_stop.load()) {
      if (lv().virEventRunDefaultImpl() < 0) {
        GUESTDUMP_LOG(kError, kLog) << "libvirt event loop: " << libvirt_last_error();
      }
    }
  });
  g_loop_started = true;
  return {};
}

void LibvirtWatcher::stop_event_loop() {
  std::lock_guard lock(g_loop_mu);
  if (!g_loop_started) return;
  g_loop_stop = true;
  // A zero timeout fires on the next iteration, which wakes the loop so it sees the flag.
  int t = lv().virEventAddTimeout(
      0, [](int, void*) {}, nullptr, nullptr);
  g_loop_thread.join();
  if (t >= 0) (void)lv().virEventRemoveTimeout(t);
  g_loop_started = false;
}

LibvirtWatcher::LibvirtWatcher(Options options, Sink sink)
    : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  impl_->opt = options_;
  impl_->sink = std::move(sink);
}

LibvirtWatcher::~LibvirtWatcher() {
  stop();
}

Result<void> LibvirtWatcher::start() {
  GUESTDUMP_CHECK(start_event_loop());
  GUESTDUMP_CHECK(impl_->open_and_register());
  GUESTDUMP_LOG(kInfo, kLog) << "connected to " << options_.uri;
  impl_->reconnector = std::thread([this] { impl_->reconnect_main(); });
  impl_->emit(WatchEventKind::kConnected, nullptr, 0);
  return {};
}

void LibvirtWatcher::stop() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->reconnector.joinable()) impl_->reconnector.join();
  impl_->teardown();
}

bool LibvirtWatcher::connected() const {
  ConnRef c = impl_->ref();
  return c && lv().virConnectIsAlive(c.get()) == 1;
}

Result<std::vector<DomainStatus>> LibvirtWatcher::domains(bool with_stats) const {
  ConnRef c = impl_->ref();
  if (!c) return make_error(ErrorCode::kOs, "not connected to '" + options_.uri + "'");
  virDomainPtr* list = nullptr;
  int n = lv().virConnectListAllDomains(c.get(), &list, 0);
  if (n < 0) {
    return make_error(ErrorCode::kOs,
                      "list domains on '" + options_.uri + "': " + libvirt_last_error());
  }
  std::vector<DomainStatus> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(status_of(list[i]));
  }
  if (with_stats && n > 0) {
    virDomainStatsRecordPtr* recs = nullptr;
    int m = lv().virDomainListGetStats(list, VIR_DOMAIN_STATS_VCPU, &recs,
                                       VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE);
    for (int i = 0; i < m; ++i) {
      const std::string u = uuid_of(recs[i]->dom);
      for (DomainStatus& s : out) {
        if (s.uuid == u) s.vcpu_time_ns = vcpu_time(recs[i]);
      }
    }
    if (recs != nullptr) lv().virDomainStatsRecordListFree(recs);
  }
  for (int i = 0; i < n; ++i) lv().virDomainFree(list[i]);
  std::free(list);
  return out;
}

Result<DomainStatus> LibvirtWatcher::domain(const std::string& uuid, bool with_stats) const {
  GUESTDUMP_TRY(auto cd, impl_->lookup(uuid));
  DomainStatus s = status_of(cd.second.get());
  if (with_stats && s.id >= 0) {
    virDomainPtr doms[2] = {cd.second.get(), nullptr};
    virDomainStatsRecordPtr* recs = nullptr;
    int m = lv().virDomainListGetStats(doms, VIR_DOMAIN_STATS_VCPU, &recs, 0);
    if (m > 0) s.vcpu_time_ns = vcpu_time(recs[0]);
    if (recs != nullptr) lv().virDomainStatsRecordListFree(recs);
  }
  return s;
}

Result<AgentPing> LibvirtWatcher::ping_agent(const std::string& uuid, int timeout_seconds) const {
  GUESTDUMP_TRY(auto cd, impl_->lookup(uuid));
  char* xml = lv().virDomainGetXMLDesc(cd.second.get(), 0);
  const bool channel = xml != nullptr && std::strstr(xml, "org.qemu.guest_agent.0") != nullptr;
  std::free(xml);
  if (!channel) return AgentPing::kNotInstalled;
  char* reply = lv().virDomainQemuAgentCommand(cd.second.get(), R"({"execute":"guest-ping"})",
                                               timeout_seconds, 0);
  if (reply != nullptr) {
    std::free(reply);
    return AgentPing::kAnswered;
  }
  const int code = libvirt_last_error_code();
  const std::string msg = libvirt_last_error();
  if (code == VIR_ERR_AGENT_UNRESPONSIVE && msg.find("not connected") != std::string::npos) {
    return AgentPing::kNotConnected;
  }
  if (code == VIR_ERR_AGENT_UNRESPONSIVE || code == VIR_ERR_AGENT_UNSYNCED ||
      code == VIR_ERR_OPERATION_TIMEOUT) {
    return AgentPing::kFailed;
  }
  return make_error(ErrorCode::kOs, "guest-ping '" + name_of(cd.second.get()) + "': " + msg);
}

Result<std::uint64_t> LibvirtWatcher::read_vmcoreinfo_address(const std::string& uuid,
                                                              int timeout_seconds) const {
  GUESTDUMP_TRY(auto cd, impl_->lookup(uuid));
  virDomainPtr d = cd.second.get();
  const std::string what = "'" + name_of(d) + "': agent read of " + std::string(kSysfsVmcoreinfo);
  auto command = [&](const std::string& cmd) -> Result<std::string> {
    char* reply = lv().virDomainQemuAgentCommand(d, cmd.c_str(), timeout_seconds, 0);
    if (reply == nullptr) return make_error(ErrorCode::kOs, what + ": " + libvirt_last_error());
    std::string r(reply);
    std::free(reply);
    return r;
  };
  GUESTDUMP_TRY(std::string opened, command(agent_file_open_command(kSysfsVmcoreinfo)));
  auto handle = parse_agent_file_handle(opened);
  if (!handle) return make_error(ErrorCode::kProtocol, what + ": unexpected guest-file-open reply");
  // The file is one short line ("0x... 1024\n"); one read holds it.
  auto read = command(agent_file_read_command(*handle, 256));
  (void)command(agent_file_close_command(*handle));
  if (!read) return std::move(read).error();
  auto text = parse_agent_file_read(*read);
  if (!text) return make_error(ErrorCode::kProtocol, what + ": unexpected guest-file-read reply");
  auto pa = vmcoreinfo_address(*text);
  if (!pa) return make_error(ErrorCode::kBadData, what + ": malformed '" + *text + "'");
  return *pa;
}

Result<void> LibvirtWatcher::inject_nmi(const std::string& uuid) const {
  return impl_->domain_call(uuid, "inject NMI into",
                            [](virDomainPtr d) { return lv().virDomainInjectNMI(d, 0); });
}

Result<void> LibvirtWatcher::resume(const std::string& uuid) const {
  return impl_->domain_call(uuid, "resume", [](virDomainPtr d) { return lv().virDomainResume(d); });
}

Result<void> LibvirtWatcher::reset(const std::string& uuid) const {
  return impl_->domain_call(uuid, "reset",
                            [](virDomainPtr d) { return lv().virDomainReset(d, 0); });
}

Result<void> LibvirtWatcher::destroy(const std::string& uuid) const {
  return impl_->domain_call(uuid, "destroy",
                            [](virDomainPtr d) { return lv().virDomainDestroy(d); });
}

Result<void> LibvirtWatcher::create(const std::string& uuid) const {
  return impl_->domain_call(uuid, "start", [](virDomainPtr d) { return lv().virDomainCreate(d); });
}

Result<CaptureResult> LibvirtWatcher::capture(const std::string& uuid,
                                              const store::DumpStore& store,
                                              const CaptureOptions& opts) const {
  return capture_libvirt(options_.uri, uuid, store, opts);
}

HypervisorDriver libvirt_driver() {
  HypervisorDriver d;
  d.open = [](const HypervisorOptions& o, HypervisorSink sink) -> std::unique_ptr<Hypervisor> {
    return std::make_unique<LibvirtWatcher>(o, std::move(sink));
  };
  d.after_stop = [] { LibvirtWatcher::stop_event_loop(); };
  return d;
}

} // namespace guestdump::host

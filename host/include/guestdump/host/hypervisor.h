#pragma once
// What guestdumpd needs of one hypervisor connection (one URI), whatever its driver: events,
// domain states, the guest agent, the after-dump steps and the capture itself. LibvirtWatcher
// (watcher.h) is the real one; the daemon's unit tests drive the daemon through a fake. No
// libvirt type appears here.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <guestdump/common/result.h>
#include <guestdump/host/capture.h>
#include <guestdump/store/dump_store.h>

namespace guestdump::host {

enum class WatchEventKind {
  kConnected,    // (re)connected and registered: reconcile now
  kDisconnected, // the connection closed; reconnecting
  kPanicked,     // CRASHED/PANICKED
  kCrashLoaded,  // CRASHED/CRASHLOADED
  kWatchdog,     // watchdog event, or SUSPENDED/WATCHDOG
  kSuspended,    // other SUSPENDED details (maybe the pause before CRASHED/PANICKED)
  kStarted,      // STARTED
  kResumed,      // RESUMED
  kStopped,      // STOPPED (any detail; detail kept)
  kShutdown,     // SHUTDOWN (guest is shutting down)
  kReboot,       // the guest reset itself
  kAgentConnected,
  kAgentDisconnected,
  kUndefined, // the domain's definition was removed
  kRecheck,   // not from the hypervisor: the daemon looks at a guest again (a crash that came
              // while its previous dump job still ran)
};

std::string_view to_string(WatchEventKind kind);

struct WatchEvent {
  std::string uri;
  WatchEventKind kind = WatchEventKind::kConnected;
  std::string name; // empty for connection events
  std::string uuid;
  bool crashed = false; // kStopped: the domain was stopped because it crashed (on_crash destroy)
};

/// Coarse domain state as libvirt reports it (virDomainGetState).
enum class DomainRunState {
  kRunning,
  kPaused,
  kShuttingDown,
  kShutOff,
  kCrashed,
  kPmSuspended,
  kOther,
};

struct DomainStatus {
  std::string name;
  std::string uuid;
  int id = -1; // libvirt's id of the running QEMU process; -1 when not running
  DomainRunState state = DomainRunState::kOther;
  int reason = 0;          // libvirt's state reason
  bool panicked = false;   // CRASHED/PANICKED, or PAUSED/CRASHED (reset after a panic)
  bool watchdog = false;   // PAUSED/WATCHDOG
  bool migrating = false;  // PAUSED/MIGRATION or a migration job
  bool job_active = false; // a libvirt job (dump, save, migration, snapshot) holds it
  bool persistent = true;
  std::uint64_t memory_bytes = 0;            // current (or max, if larger) memory
  std::optional<std::uint64_t> vcpu_time_ns; // summed vcpu.N.time
  std::uint32_t vcpus = 1;
  bool has_agent_channel = false;
  std::optional<bool> watch; // our metadata element's watch="yes|no" (domain_xml.h)
};

std::string_view to_string(DomainRunState state);

enum class AgentPing { kAnswered, kNotInstalled, kNotConnected, kFailed };

/// Namespace of guestdumpd's libvirt metadata element:
/// <guestdumpd xmlns="https://guestdump.dev/xmlns/guestdumpd/1" watch="yes|no"/>.
inline constexpr const char* kMetadataNamespace = "https://guestdump.dev/xmlns/guestdumpd/1";

struct HypervisorOptions {
  std::string uri;
  std::chrono::seconds keepalive_interval{5};
  std::uint32_t keepalive_count = 3;
  std::chrono::seconds reconnect_max{60};
};

/// Receives events on the hypervisor's event thread: must queue, never block.
using HypervisorSink = std::function<void(WatchEvent)>;

class Hypervisor {
public:
  virtual ~Hypervisor() = default;

  /// First connection; fails (naming the URI) if it cannot be reached. Afterwards the
  /// connection is kept (reconnecting on its own) and reports kConnected through the sink.
  virtual Result<void> start() = 0;
  virtual void stop() = 0;

  virtual const std::string& uri() const = 0;
  virtual bool connected() const = 0;

  /// Every domain (active or not) with its state; with_stats adds vCPU time.
  virtual Result<std::vector<DomainStatus>> domains(bool with_stats) const = 0;
  virtual Result<DomainStatus> domain(const std::string& uuid, bool with_stats) const = 0;

  virtual Result<AgentPing> ping_agent(const std::string& uuid, int timeout_seconds) const = 0;
  /// The physical address of the guest's VMCOREINFO note as its agent reports it.
  virtual Result<std::uint64_t> read_vmcoreinfo_address(const std::string& uuid,
                                                        int timeout_seconds) const = 0;
  virtual Result<void> inject_nmi(const std::string& uuid) const = 0;
  virtual Result<void> resume(const std::string& uuid) const = 0;
  virtual Result<void> reset(const std::string& uuid) const = 0;
  virtual Result<void> destroy(const std::string& uuid) const = 0;
  virtual Result<void> create(const std::string& uuid) const = 0;

  /// Dumps the domain into `store` (meta.json, vmcore, dmesg.txt); on failure the store holds a
  /// failure record or nothing, never a dump that looks complete.
  virtual Result<CaptureResult> capture(const std::string& uuid, const store::DumpStore& store,
                                        const CaptureOptions& opts) const = 0;
};

/// How the daemon opens its connections, and what it does once every one has stopped.
struct HypervisorDriver {
  std::function<std::unique_ptr<Hypervisor>(const HypervisorOptions&, HypervisorSink)> open;
  std::function<void()> after_stop;
};

/// libvirt: LibvirtWatcher per URI, libvirt's event loop stopped after the last one.
HypervisorDriver libvirt_driver();

} // namespace guestdump::host

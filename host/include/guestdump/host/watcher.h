#pragma once
// The libvirt side of guestdumpd: one LibvirtWatcher per URI.
//
// libvirt's default event loop runs on one thread of its own (start_event_loop); every domain
// event, keepalive and close callback runs there and does nothing but hand a WatchEvent to the
// sink, which must not block (the daemon queues it for its dispatcher thread). The watcher
// registers lifecycle, reboot, watchdog and agent-lifecycle events for all domains, keeps a
// client keepalive, and when the connection closes (libvirtd restarted, keepalive timeout)
// reconnects on its own thread with exponential backoff, registers again and reports
// kConnected, upon which the daemon reconciles (events that fired meanwhile are lost).
// libvirt types never leave host/src.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <guestdump/common/result.h>

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
};

std::string_view to_string(WatchEventKind kind);

struct WatchEvent {
  std::string uri;
  WatchEventKind kind = WatchEventKind::kConnected;
  std::string name; // empty for connection events
  std::string uuid;
  int detail = 0; // libvirt's event detail (or watchdog action)
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
  std::string metadata; // our metadata element's XML, empty if absent
};

std::string_view to_string(DomainRunState state);

enum class AgentPing { kAnswered, kNotInstalled, kNotConnected, kFailed };

/// Namespace of guestdumpd's libvirt metadata element:
/// <guestdumpd xmlns="https://guestdump.dev/xmlns/guestdumpd/1" watch="yes|no"/>.
inline constexpr const char* kMetadataNamespace = "https://guestdump.dev/xmlns/guestdumpd/1";

class LibvirtWatcher {
public:
  struct Options {
    std::string uri;
    std::chrono::seconds keepalive_interval{5};
    std::uint32_t keepalive_count = 3;
    std::chrono::seconds reconnect_max{60};
  };
  using Sink = std::function<void(WatchEvent)>;

  /// Registers libvirt's default event implementation and starts its thread. Call before any
  /// connection is opened (also capture's). Idempotent.
  static Result<void> start_event_loop();
  /// Stops the event thread (after every watcher stopped).
  static void stop_event_loop();

  LibvirtWatcher(Options options, Sink sink);
  ~LibvirtWatcher();
  LibvirtWatcher(const LibvirtWatcher&) = delete;
  LibvirtWatcher& operator=(const LibvirtWatcher&) = delete;

  /// First connection; fails (naming the URI) if libvirt cannot be reached. Then starts the
  /// reconnect thread and reports kConnected.
  Result<void> start();
  /// Deregisters, closes, joins the reconnect thread.
  void stop();

  const std::string& uri() const { return options_.uri; }
  bool connected() const;

  /// Every domain (active or not) with its state; with_stats adds vCPU time (one
  /// virConnectGetAllDomainStats call).
  Result<std::vector<DomainStatus>> domains(bool with_stats) const;
  /// One domain by UUID.
  Result<DomainStatus> domain(const std::string& uuid, bool with_stats) const;

  Result<AgentPing> ping_agent(const std::string& uuid, int timeout_seconds) const;
  /// The physical address of the guest's VMCOREINFO note, from /sys/kernel/vmcoreinfo read
  /// through the guest agent (guest-file-open/read/close, each within `timeout_seconds`). Fails
  /// when the agent is absent or silent, or the file is missing or malformed.
  Result<std::uint64_t> read_vmcoreinfo_address(const std::string& uuid, int timeout_seconds) const;
  Result<void> inject_nmi(const std::string& uuid) const;
  Result<void> resume(const std::string& uuid) const;
  Result<void> reset(const std::string& uuid) const;
  Result<void> destroy(const std::string& uuid) const;
  Result<void> create(const std::string& uuid) const;

  struct Impl;

private:
  Options options_;
  std::unique_ptr<Impl> impl_;
};

} // namespace guestdump::host

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
#include <guestdump/host/hypervisor.h>

namespace guestdump::host {

class LibvirtWatcher final : public Hypervisor {
public:
  using Options = HypervisorOptions;
  using Sink = HypervisorSink;

  /// Registers libvirt's default event implementation and starts its thread. Call before any
  /// connection is opened (also capture's). Idempotent.
  static Result<void> start_event_loop();
  /// Stops the event thread (after every watcher stopped).
  static void stop_event_loop();

  LibvirtWatcher(Options options, Sink sink);
  ~LibvirtWatcher() override;
  LibvirtWatcher(const LibvirtWatcher&) = delete;
  LibvirtWatcher& operator=(const LibvirtWatcher&) = delete;

  /// First connection; fails (naming the URI) if libvirt cannot be reached. Then starts the
  /// reconnect thread and reports kConnected.
  Result<void> start() override;
  /// Deregisters, closes, joins the reconnect thread.
  void stop() override;

  const std::string& uri() const override { return options_.uri; }
  bool connected() const override;

  /// Every domain (active or not) with its state; with_stats adds vCPU time (one
  /// virConnectGetAllDomainStats call).
  Result<std::vector<DomainStatus>> domains(bool with_stats) const override;
  /// One domain by UUID.
  Result<DomainStatus> domain(const std::string& uuid, bool with_stats) const override;

  Result<AgentPing> ping_agent(const std::string& uuid, int timeout_seconds) const override;
  /// The physical address of the guest's VMCOREINFO note, from /sys/kernel/vmcoreinfo read
  /// through the guest agent (guest-file-open/read/close, each within `timeout_seconds`). Fails
  /// when the agent is absent or silent, or the file is missing or malformed.
  Result<std::uint64_t> read_vmcoreinfo_address(const std::string& uuid,
                                                int timeout_seconds) const override;
  Result<void> inject_nmi(const std::string& uuid) const override;
  Result<void> resume(const std::string& uuid) const override;
  Result<void> reset(const std::string& uuid) const override;
  Result<void> destroy(const std::string& uuid) const override;
  Result<void> create(const std::string& uuid) const override;
  /// capture_libvirt() of the domain on this URI.
  Result<CaptureResult> capture(const std::string& uuid, const store::DumpStore& store,
                                const CaptureOptions& opts) const override;

  struct Impl;

private:
  Options options_;
  std::unique_ptr<Impl> impl_;
};

} // namespace guestdump::host

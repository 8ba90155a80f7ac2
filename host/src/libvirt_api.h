#pragma once
// libvirt's functions, resolved from libvirt.so.0 and libvirt-qemu.so.0 on first use (dlopen).
// The commands that never talk to libvirt (convert, info, verify, dmesg, dump --qmp, ...) then
// neither need the library installed nor pay for loading it and its ~50 dependencies (glib,
// gnutls, curl, ICU...): 30 of the 35 ms each `guestdump` start took, measured.
//
// Call libvirt as lv().virConnectOpen(...) after load_libvirt() succeeded; every libvirt path
// starts by opening a connection or the event loop, which loads it.

#include <memory>
#include <string>

#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "guestdump/common/result.h"
#include "guestdump/host/hypervisor.h"

// Every libvirt function guestdump calls; X(name) per function.
#define GUESTDUMP_LIBVIRT_FUNCTIONS(X)                                                             \
  X(virConnectClose)                                                                               \
  X(virConnectDomainEventDeregisterAny)                                                            \
  X(virConnectDomainEventRegisterAny)                                                              \
  X(virConnectGetType)                                                                             \
  X(virConnectIsAlive)                                                                             \
  X(virConnectListAllDomains)                                                                      \
  X(virConnectOpen)                                                                                \
  X(virConnectRef)                                                                                 \
  X(virConnectRegisterCloseCallback)                                                               \
  X(virConnectSetKeepAlive)                                                                        \
  X(virConnectUnregisterCloseCallback)                                                             \
  X(virDomainCoreDump)                                                                             \
  X(virDomainCoreDumpWithFormat)                                                                   \
  X(virDomainCreate)                                                                               \
  X(virDomainDestroy)                                                                              \
  X(virDomainFree)                                                                                 \
  X(virDomainGetID)                                                                                \
  X(virDomainGetInfo)                                                                              \
  X(virDomainGetJobInfo)                                                                           \
  X(virDomainGetMetadata)                                                                          \
  X(virDomainGetName)                                                                              \
  X(virDomainGetState)                                                                             \
  X(virDomainGetUUIDString)                                                                        \
  X(virDomainGetXMLDesc)                                                                           \
  X(virDomainInjectNMI)                                                                            \
  X(virDomainIsActive)                                                                             \
  X(virDomainIsPersistent)                                                                         \
  X(virDomainListGetStats)                                                                         \
  X(virDomainLookupByName)                                                                         \
  X(virDomainLookupByUUIDString)                                                                   \
  X(virDomainReset)                                                                                \
  X(virDomainResume)                                                                               \
  X(virDomainStatsRecordListFree)                                                                  \
  X(virDomainSuspend)                                                                              \
  X(virEventAddTimeout)                                                                            \
  X(virEventRegisterDefaultImpl)                                                                   \
  X(virEventRemoveTimeout)                                                                         \
  X(virEventRunDefaultImpl)                                                                        \
  X(virGetLastError)                                                                               \
  X(virSetErrorFunc)

// The same for libvirt-qemu.so.0.
#define GUESTDUMP_LIBVIRT_QEMU_FUNCTIONS(X)                                                        \
  X(virDomainQemuAgentCommand)                                                                     \
  X(virDomainQemuMonitorCommand)

namespace guestdump::host {

struct LibvirtApi {
#define GUESTDUMP_LIBVIRT_MEMBER(fn) decltype(&::fn) fn = nullptr;
  GUESTDUMP_LIBVIRT_FUNCTIONS(GUESTDUMP_LIBVIRT_MEMBER)
  GUESTDUMP_LIBVIRT_QEMU_FUNCTIONS(GUESTDUMP_LIBVIRT_MEMBER)
#undef GUESTDUMP_LIBVIRT_MEMBER
};

/// Loads both libraries and resolves every function, once per process (thread-safe); later
/// calls return the same result. Also silences libvirt's default error printing (errors are
/// returned, never printed by libvirt). The error names the library, the missing symbol and the
/// Debian package.
Result<void> load_libvirt();

/// The resolved functions. Only after load_libvirt() succeeded: aborts with a message otherwise
/// (a programming error, not an operator's).
const LibvirtApi& lv();

/// The message of the calling thread's last libvirt error ("unknown libvirt error" if none).
std::string libvirt_last_error();
/// Its virErrorNumber, 0 if none.
int libvirt_last_error_code();

/// A virDomainState as the daemon's coarse state (BLOCKED counts as running).
DomainRunState libvirt_run_state(int state);
/// The domain's state for meta.json and messages: "running", "paused", "crashed (panicked)",
/// ...; "unknown" when libvirt cannot say.
std::string libvirt_state_text(virDomainPtr d);

/// Owned libvirt handles: a connection reference (virConnectClose) and a domain
/// (virDomainFree).
struct LibvirtConnectionCloser {
  // virConnectClose returns the remaining reference count; nothing to do with it here.
  void operator()(virConnectPtr c) const noexcept { (void)lv().virConnectClose(c); }
};
struct LibvirtDomainFreer {
  void operator()(virDomainPtr d) const noexcept { lv().virDomainFree(d); }
};
using LibvirtConnection = std::unique_ptr<virConnect, LibvirtConnectionCloser>;
using LibvirtDomain = std::unique_ptr<virDomain, LibvirtDomainFreer>;

} // namespace guestdump::host

// libvirt loaded on first use: see libvirt_api.h.

#include "libvirt_api.h"

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include <dlfcn.h>

namespace guestdump::host {
namespace {

LibvirtApi g_api;
bool g_loaded = false;

Result<void> resolve(void* lib, const char* lib_name, const char* symbol, void** slot) {
  dlerror();
  void* p = dlsym(lib, symbol);
  if (p == nullptr) {
    const char* why = dlerror();
    return make_error(ErrorCode::kUnsupported, std::string(lib_name) + " has no " + symbol +
                                                   (why != nullptr ? std::string(": ") + why : "") +
                                                   " (libvirt too old?)");
  }
  *slot = p;
  return {};
}

Result<void> load_once() {
  // RTLD_NOW: a missing symbol shows up here, with its name, not as a crash mid-capture.
  // Never closed: libvirt keeps threads and handlers for the life of the process.
  void* lib = dlopen("libvirt.so.0", RTLD_NOW | RTLD_GLOBAL);
  if (lib == nullptr) {
    return make_error(ErrorCode::kUnsupported,
                      std::string("cannot load libvirt (install Debian's libvirt0): ") + dlerror());
  }
  void* qemu = dlopen("libvirt-qemu.so.0", RTLD_NOW | RTLD_GLOBAL);
  if (qemu == nullptr) {
    return make_error(ErrorCode::kUnsupported,
                      std::string("cannot load libvirt-qemu (install Debian's libvirt0): ") +
                          dlerror());
  }
  LibvirtApi api;
#define GUESTDUMP_LIBVIRT_RESOLVE(fn)                                                              \
  GUESTDUMP_CHECK(resolve(lib, "libvirt.so.0", #fn, reinterpret_cast<void**>(&api.fn)));
  GUESTDUMP_LIBVIRT_FUNCTIONS(GUESTDUMP_LIBVIRT_RESOLVE)
#undef GUESTDUMP_LIBVIRT_RESOLVE
#define GUESTDUMP_LIBVIRT_RESOLVE(fn)                                                              \
  GUESTDUMP_CHECK(resolve(qemu, "libvirt-qemu.so.0", #fn, reinterpret_cast<void**>(&api.fn)));
  GUESTDUMP_LIBVIRT_QEMU_FUNCTIONS(GUESTDUMP_LIBVIRT_RESOLVE)
#undef GUESTDUMP_LIBVIRT_RESOLVE
  // libvirt prints every error to stderr unless told otherwise; we return errors instead.
  api.virSetErrorFunc(nullptr, [](void*, virErrorPtr) {});
  g_api = api;
  g_loaded = true;
  return {};
}

} // namespace

Result<void> load_libvirt() {
  static std::once_flag once;
  static Result<void> result;
  std::call_once(once, [] { result = load_once(); });
  return result;
}

const LibvirtApi& lv() {
  if (!g_loaded) {
    std::fputs("guestdump: internal error: libvirt called before load_libvirt()\n", stderr);
    std::abort();
  }
  return g_api;
}

std::string libvirt_last_error() {
  virErrorPtr e = lv().virGetLastError();
  return e != nullptr && e->message != nullptr ? e->message : "unknown libvirt error";
}

int libvirt_last_error_code() {
  virErrorPtr e = lv().virGetLastError();
  return e != nullptr ? e->code : 0;
}

DomainRunState libvirt_run_state(int state) {
  switch (state) {
  case VIR_DOMAIN_RUNNING:
  case VIR_DOMAIN_BLOCKED:
    return DomainRunState::kRunning;
  case VIR_DOMAIN_PAUSED:
    return DomainRunState::kPaused;
  case VIR_DOMAIN_SHUTDOWN:
    return DomainRunState::kShuttingDown;
  case VIR_DOMAIN_SHUTOFF:
    return DomainRunState::kShutOff;
  case VIR_DOMAIN_CRASHED:
    return DomainRunState::kCrashed;
  case VIR_DOMAIN_PMSUSPENDED:
    return DomainRunState::kPmSuspended;
  default:
    return DomainRunState::kOther;
  }
}

std::string libvirt_state_text(virDomainPtr d) {
  int state = 0;
  int reason = 0;
  if (lv().virDomainGetState(d, &state, &reason, 0) != 0) return "unknown";
  std::string text(to_string(libvirt_run_state(state)));
  if (state == VIR_DOMAIN_CRASHED && reason == VIR_DOMAIN_CRASHED_PANICKED) text += " (panicked)";
  return text;
}

} // namespace guestdump::host

// See kexec.h. Errno cases from the kernel's kexec_file_load path: kexec_load_permitted
// (EPERM), flag checks and the cmdline NUL (EINVAL), kexec_trylock (EBUSY), the image loaders
// (ENOEXEC), kimage_validate_signature (EPERM or the verification error under lockdown),
// kexec_locate_mem_hole inside the crash reservation (EADDRNOTAVAIL), control-page allocation
// from the reservation (ENOMEM).

#include "guestdump/guest/kexec.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <linux/kexec.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guestdump/common/unique_fd.h"

namespace guestdump::guest {

namespace {

std::string mib(std::uint64_t b) {
  return std::to_string(b >> 20) + " MiB";
}

std::string reservation_text(const KexecContext& ctx) {
  if (!ctx.crash_size) return "the crashkernel reservation (size unknown)";
  return "the crashkernel reservation (" + mib(*ctx.crash_size) + ", /sys/kernel/kexec_crash_size)";
}

} // namespace

std::string explain_kexec_errno(int err, const KexecContext& ctx) {
  const bool locked = ctx.lockdown && *ctx.lockdown != "none";
  const std::string kernel = "'" + ctx.kernel_path + "'";
  switch (err) {
  case EPERM:
    if (ctx.load_disabled == true)
      return "kernel.kexec_load_disabled is 1: loading is switched off until the next reboot";
    if (locked || ctx.secure_boot == true)
      return "refused by kernel lockdown (" + (ctx.lockdown ? *ctx.lockdown : "Secure Boot") +
             "): the kernel " + kernel +
             " must carry a signature the running kernel trusts; use the distro-signed "
             "/boot/vmlinuz of the running release";
    return "not permitted: needs root (CAP_SYS_BOOT); also given when "
           "kernel.kexec_load_limit_panic is used up or an LSM refuses the image";
  case EKEYREJECTED:
  case ENOKEY:
  case EBADMSG:
  case ENODATA:
  case ENOPKG:
  case ELIBBAD:
  case EMSGSIZE:
    return "signature check of " + kernel + " failed (" + std::strerror(err) +
           "): with Secure Boot or lockdown only a kernel signed by a key in the platform or "
           "secondary keyring loads; use the distro-signed kernel";
  case EACCES:
    return "refused by the integrity policy (IMA appraisal) for " + kernel +
           "; the image must be signed for IMA";
  case EADDRNOTAVAIL:
    if (ctx.crash_size == 0ull)
      return "no crashkernel memory is reserved (/sys/kernel/kexec_crash_size is 0): add the "
             "crashkernel= value from 'guestdump-guest plan' to the kernel command line and "
             "reboot";
    return "kernel and initramfs do not fit into " + reservation_text(ctx) +
           ": raise crashkernel= (see 'guestdump-guest plan') or use a smaller initramfs";
  case ENOMEM:
    if (ctx.crash_size == 0ull)
      return "no crashkernel memory is reserved (/sys/kernel/kexec_crash_size is 0): add "
             "crashkernel= and reboot";
    return "out of memory while loading: " + reservation_text(ctx) +
           " is too small for the image, initramfs and control pages; raise crashkernel=";
  case EBUSY:
    return "another kexec load or unload is in progress (or a crash kexec is running); "
           "retry when it has finished";
  case EINVAL:
    return "the kernel rejected the request: a flag it does not support, a command line "
           "that is not NUL-terminated, or an image it cannot place";
  case ENOSYS:
    return "this kernel has no kexec_file_load (built without CONFIG_KEXEC_FILE): use the "
           "distro's kdump tooling (kexec_load) or a kernel with CONFIG_KEXEC_FILE=y";
  case ENOEXEC:
    return kernel + " is not a kernel image this kernel can load (x86: a bzImage such as "
                    "/boot/vmlinuz-*; a vmlinux ELF or gzip-compressed file is refused)";
  case EFBIG:
    return "kernel or initramfs is larger than kexec_file_load accepts (4 GiB)";
  case ENOENT:
    if (ctx.unload) return "no capture kernel is loaded";
    return "a kernel or initramfs file is missing";
  default:
    return std::strerror(err);
  }
}

Result<void> load_crash_kernel(const std::string& cmdline, const KexecContext& ctx) {
  if (ctx.crash_size == 0ull)
    return make_error(ErrorCode::kUnsupported,
                      "load '" + ctx.kernel_path + "': " + explain_kexec_errno(EADDRNOTAVAIL, ctx));
  auto kernel = UniqueFd::open(ctx.kernel_path, O_RDONLY);
  if (!kernel)
    return std::move(kernel).error().context("capture kernel (choose one with --kernel)");
  auto initrd = UniqueFd::open(ctx.initrd_path, O_RDONLY);
  if (!initrd)
    return std::move(initrd).error().context(
        "capture initramfs (build it with 'guestdump-guest initramfs' or pass --initrd)");
  // The length counts the terminating NUL, which the kernel checks.
  const long rc = ::syscall(SYS_kexec_file_load, kernel->get(), initrd->get(),
                            static_cast<unsigned long>(cmdline.size() + 1), cmdline.c_str(),
                            static_cast<unsigned long>(KEXEC_FILE_ON_CRASH));
  if (rc != 0) {
    const int err = errno;
    Error e = make_error(ErrorCode::kOs, "kexec_file_load '" + ctx.kernel_path + "' + '" +
                                             ctx.initrd_path + "': " + std::strerror(err) + ": " +
                                             explain_kexec_errno(err, ctx));
    e.sys_errno = err;
    return e;
  }
  return {};
}

Result<void> unload_crash_kernel(const KexecContext& ctx) {
  const long rc = ::syscall(SYS_kexec_file_load, -1, -1, 0ul, nullptr,
                            static_cast<unsigned long>(KEXEC_FILE_UNLOAD | KEXEC_FILE_ON_CRASH));
  if (rc != 0) {
    const int err = errno;
    Error e =
        make_error(ErrorCode::kOs, std::string("kexec_file_load unload: ") + std::strerror(err) +
                                       ": " + explain_kexec_errno(err, ctx));
    e.sys_errno = err;
    return e;
  }
  return {};
}

} // namespace guestdump::guest

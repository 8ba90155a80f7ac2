// The kexec_file_load errno explanations (a pure function) and the checks done before the
// syscall is ever made.

#include <cerrno>

#include <gtest/gtest.h>

#include "guestdump/guest/kexec.h"

namespace guestdump::guest {
namespace {

bool says(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

KexecContext ctx(std::uint64_t crash_size = 256ull << 20) {
  KexecContext c;
  c.kernel_path = "/boot/vmlinuz-6.1.0";
  c.initrd_path = "/var/lib/guestdump/capture-initrd.img";
  c.crash_size = crash_size;
  c.lockdown = "none";
  c.load_disabled = false;
  return c;
}

TEST(KexecErrno, ReservationProblems) {
  EXPECT_TRUE(says(explain_kexec_errno(EADDRNOTAVAIL, ctx(0)), "no crashkernel memory"));
  const std::string small = explain_kexec_errno(EADDRNOTAVAIL, ctx(64ull << 20));
  EXPECT_TRUE(says(small, "do not fit")) << small;
  EXPECT_TRUE(says(small, "64 MiB")) << small;
  EXPECT_TRUE(says(explain_kexec_errno(ENOMEM, ctx(64ull << 20)), "raise crashkernel="));
  EXPECT_TRUE(says(explain_kexec_errno(ENOMEM, ctx(0)), "no crashkernel memory"));
}

TEST(KexecErrno, LockdownAndSignatures) {
  KexecContext locked = ctx();
  locked.lockdown = "integrity";
  const std::string eperm = explain_kexec_errno(EPERM, locked);
  EXPECT_TRUE(says(eperm, "lockdown (integrity)")) << eperm;
  EXPECT_TRUE(says(eperm, "'/boot/vmlinuz-6.1.0'")) << eperm;
  EXPECT_TRUE(says(explain_kexec_errno(EPERM, ctx()), "CAP_SYS_BOOT"));
  KexecContext disabled = ctx();
  disabled.load_disabled = true;
  EXPECT_TRUE(says(explain_kexec_errno(EPERM, disabled), "kexec_load_disabled"));
  for (int err : {EKEYREJECTED, ENOKEY, EBADMSG, ENODATA, ENOPKG, ELIBBAD, EMSGSIZE})
    EXPECT_TRUE(says(explain_kexec_errno(err, locked), "signature check")) << err;
  EXPECT_TRUE(says(explain_kexec_errno(EACCES, ctx()), "IMA"));
}

TEST(KexecErrno, OtherCases) {
  EXPECT_TRUE(says(explain_kexec_errno(EBUSY, ctx()), "another kexec load"));
  EXPECT_TRUE(says(explain_kexec_errno(EINVAL, ctx()), "flag"));
  EXPECT_TRUE(says(explain_kexec_errno(ENOSYS, ctx()), "CONFIG_KEXEC_FILE"));
  EXPECT_TRUE(says(explain_kexec_errno(ENOEXEC, ctx()), "bzImage"));
  EXPECT_TRUE(says(explain_kexec_errno(EFBIG, ctx()), "4 GiB"));
  EXPECT_TRUE(says(explain_kexec_errno(EIO, ctx()), "Input/output error"));
}

TEST(KexecLoad, RefusesWithoutReservationBeforeTheSyscall) {
  auto r = load_crash_kernel("irqpoll", ctx(0));
  ASSERT_FALSE(r);
  EXPECT_TRUE(says(r.error().what(), "no crashkernel memory")) << r.error().what();
  EXPECT_TRUE(says(r.error().what(), "/boot/vmlinuz-6.1.0")) << r.error().what();
}

TEST(KexecLoad, MissingKernelFileIsNamed) {
  KexecContext c = ctx();
  c.kernel_path = "/nonexistent/vmlinuz-guestdump-test";
  auto r = load_crash_kernel("irqpoll", c);
  ASSERT_FALSE(r);
  EXPECT_TRUE(says(r.error().what(), "/nonexistent/vmlinuz-guestdump-test")) << r.error().what();
  EXPECT_EQ(r.error().sys_errno, ENOENT);
}

} // namespace
} // namespace guestdump::guest

#include "guestdump/host/libvirt_dump_method.h"

#include <gtest/gtest.h>

namespace guestdump::host {
namespace {

constexpr auto kXen = LibvirtDumpMethod::kXenCoreFile;
constexpr auto kStream = LibvirtDumpMethod::kMemoryOnlyStream;

TEST(LibvirtDumpMethod, DriverTypeDecides) {
  EXPECT_EQ(libvirt_dump_method("xen:///system", "Xen"), kXen);
  EXPECT_EQ(libvirt_dump_method("qemu:///system", "QEMU"), kStream);
  // The driver type wins over the URI: an alias or a remote URI can name either driver.
  EXPECT_EQ(libvirt_dump_method("qemu:///system", "Xen"), kXen);
  EXPECT_EQ(libvirt_dump_method("xen:///system", "QEMU"), kStream);
  EXPECT_EQ(libvirt_dump_method("", "xen"), kXen);
  EXPECT_EQ(libvirt_dump_method("", "LIBXL"), kXen);
  EXPECT_EQ(libvirt_dump_method("xen:///system", "Xenon"), kStream);
}

TEST(LibvirtDumpMethod, UriSchemeWhenTheDriverIsUnknown) {
  EXPECT_EQ(libvirt_dump_method("xen:///system", ""), kXen);
  EXPECT_EQ(libvirt_dump_method("xen:///", ""), kXen);
  EXPECT_EQ(libvirt_dump_method("XEN:///system", ""), kXen);
  EXPECT_EQ(libvirt_dump_method("xen+ssh://root@host/system", ""), kXen);
  EXPECT_EQ(libvirt_dump_method("xen+unix:///system", ""), kXen);
  EXPECT_EQ(libvirt_dump_method("libxl:///system", ""), kXen);
  EXPECT_EQ(libvirt_dump_method("qemu:///system", ""), kStream);
  EXPECT_EQ(libvirt_dump_method("qemu+ssh://host/system", ""), kStream);
  EXPECT_EQ(libvirt_dump_method("xenfoo:///system", ""), kStream);
  EXPECT_EQ(libvirt_dump_method("test:///default", ""), kStream);
  EXPECT_EQ(libvirt_dump_method("", ""), kStream);
  EXPECT_EQ(libvirt_dump_method("xen", ""), kStream); // no scheme at all
}

TEST(LibvirtSelectiveRefusal, LocalQemuOnly) {
  EXPECT_FALSE(libvirt_selective_refusal("qemu:///system", "QEMU"));
  EXPECT_FALSE(libvirt_selective_refusal("qemu:///session", ""));
  EXPECT_FALSE(libvirt_selective_refusal("qemu+unix:///system", "QEMU"));
  auto remote = libvirt_selective_refusal("qemu+ssh://root@host/system", "QEMU");
  ASSERT_TRUE(remote);
  EXPECT_NE(remote->find("is remote"), std::string::npos) << *remote;
  EXPECT_TRUE(libvirt_selective_refusal("qemu://host/system", ""));
  EXPECT_TRUE(libvirt_selective_refusal("qemu", ""));
  auto xen = libvirt_selective_refusal("xen:///system", "Xen");
  ASSERT_TRUE(xen);
  EXPECT_NE(xen->find("Xen"), std::string::npos) << *xen;
  EXPECT_TRUE(libvirt_selective_refusal("qemu:///system", "LXC"));
}

} // namespace
} // namespace guestdump::host

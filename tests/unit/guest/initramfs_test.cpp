#include "guestdump/guest/initramfs.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include <gtest/gtest.h>
#include <zlib.h>

#include "temp_dir.h"

namespace guestdump::guest {
namespace {

std::vector<std::byte> bytes_of(std::string_view s) {
  std::vector<std::byte> b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}

// A minimal ELF64 relocatable file with a .modinfo section, like a .ko.
std::vector<std::byte> fake_ko(const std::string& modinfo) {
  std::string shstr = std::string("\0.shstrtab\0.modinfo\0", 20);
  std::vector<std::byte> f(64);
  auto put = [&](std::size_t off, auto v) { std::memcpy(f.data() + off, &v, sizeof v); };
  std::memcpy(f.data(),
              "\x7f"
              "ELF\x02\x01\x01",
              7);
  std::size_t shstr_off = f.size();
  auto s = bytes_of(shstr);
  f.insert(f.end(), s.begin(), s.end());
  std::size_t info_off = f.size();
  auto m = bytes_of(modinfo);
  f.insert(f.end(), m.begin(), m.end());
  f.resize((f.size() + 7) & ~std::size_t{7});
  std::size_t shoff = f.size();
  f.resize(shoff + 3 * 64);
  put(0x28, std::uint64_t{shoff});
  put(0x3a, std::uint16_t{64});
  put(0x3c, std::uint16_t{3});
  put(0x3e, std::uint16_t{1});
  auto section = [&](unsigned i, std::uint32_t name, std::uint64_t off, std::uint64_t size) {
    std::size_t h = shoff + i * 64;
    put(h, name);
    put(h + 4, std::uint32_t{3});
    put(h + 24, off);
    put(h + 32, size);
  };
  section(1, 1, shstr_off, shstr.size());
  section(2, 11, info_off, modinfo.size());
  return f;
}

void write_file(const std::string& path, const std::vector<std::byte>& data) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

struct CpioEntry {
  unsigned mode = 0, rmajor = 0, rminor = 0;
  std::string data;
};

// An independent newc reader: checks magic, alignment and the trailer.
std::map<std::string, CpioEntry> parse_cpio(const std::vector<std::byte>& a) {
  std::map<std::string, CpioEntry> out;
  std::size_t pos = 0;
  auto hex = [&](std::size_t field) {
    return static_cast<unsigned>(
        std::stoul(std::string(reinterpret_cast<const char*>(a.data()) + pos + 6 + field * 8, 8),
                   nullptr, 16));
  };
  for (;;) {
    EXPECT_LE(pos + 110, a.size());
    if (pos + 110 > a.size()) return out;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(a.data()) + pos, 6), "070701");
    EXPECT_EQ(pos % 4, 0u);
    unsigned mode = hex(1), size = hex(6), rmaj = hex(9), rmin = hex(10), namesize = hex(11);
    std::string name(reinterpret_cast<const char*>(a.data()) + pos + 110, namesize - 1);
    std::size_t data = (pos + 110 + namesize + 3) & ~std::size_t{3};
    if (name == "TRAILER!!!") {
      EXPECT_EQ(a.size(), (data + 3) & ~std::size_t{3});
      return out;
    }
    EXPECT_EQ(out.count(name), 0u) << name;
    out[name] = {mode, rmaj, rmin,
                 std::string(reinterpret_cast<const char*>(a.data()) + data, size)};
    pos = (data + size + 3) & ~std::size_t{3};
  }
}

std::vector<std::byte> gunzip(const std::vector<std::byte>& gz) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  std::vector<std::byte> out(64 << 20);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(gz.data()));
  zs.avail_in = static_cast<uInt>(gz.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

TEST(Initramfs, ModuleNames) {
  EXPECT_EQ(module_name("virtio-blk"), "virtio_blk");
  EXPECT_EQ(module_name("kernel/drivers/block/virtio_blk.ko"), "virtio_blk");
  EXPECT_EQ(module_name("/x/hv-vmbus.ko.xz"), "hv_vmbus");
}

TEST(Initramfs, ModinfoDepends) {
  auto ko = fake_ko(std::string("license=GPL\0depends=virtio,virtio_ring\0name=virtio_blk\0", 54));
  auto d = modinfo_depends(ko, "virtio_blk");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(*d, (std::vector<std::string>{"virtio", "virtio_ring"}));
  auto none = modinfo_depends(fake_ko(std::string("depends=\0", 9)), "virtio_ring");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  auto bad = modinfo_depends(bytes_of("\x28\xb5\x2f\xfd compressed"), "x");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "module 'x': not an ELF file (compressed modules need modules.dep: run depmod)");
  auto truncated = fake_ko("depends=a");
  truncated.resize(100);
  EXPECT_FALSE(modinfo_depends(truncated, "t"));
}

TEST(Initramfs, ResolvesDependenciesFirstAndBuiltins) {
  test::TempDir dir;
  std::string md = dir.file("6.1.0-test");
  write_file(md + "/kernel/drivers/virtio/virtio_ring.ko", fake_ko(std::string("depends=\0", 9)));
  write_file(md + "/kernel/drivers/virtio/virtio.ko",
             fake_ko(std::string("depends=virtio_ring\0", 20)));
  write_file(md + "/kernel/drivers/block/virtio_blk.ko",
             fake_ko(std::string("depends=virtio,virtio_ring\0", 27)));
  write_file(md + "/kernel/drivers/a.ko", fake_ko(std::string("depends=b\0", 10)));
  write_file(md + "/kernel/drivers/b.ko", fake_ko(std::string("depends=a\0", 10)));
  write_file(md + "/kernel/drivers/needs-missing.ko", fake_ko(std::string("depends=nosuch\0", 15)));
  write_file(md + "/modules.builtin", bytes_of("kernel/fs/ext4/ext4.ko\nkernel/fs/jbd2/jbd2.ko\n"));
  auto idx = load_module_index(md);
  ASSERT_TRUE(idx) << idx.error().message;
  EXPECT_FALSE(idx->have_modules_dep);
  auto r = resolve_modules(*idx, {"virtio-blk", "ext4", "virtio_ring"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->load_order, (std::vector<std::string>{"virtio_ring", "virtio", "virtio_blk"}));
  EXPECT_EQ(r->builtin, std::vector<std::string>{"ext4"});

  auto unknown = resolve_modules(*idx, {"nvme"});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message,
            "module 'nvme' is neither in '" + md + "' nor built into the kernel");
  auto dep = resolve_modules(*idx, {"needs_missing"});
  ASSERT_FALSE(dep);
  EXPECT_NE(dep.error().message.find("module 'nosuch' (needed by 'needs_missing')"),
            std::string::npos);
  auto cycle = resolve_modules(*idx, {"a"});
  ASSERT_FALSE(cycle);
  EXPECT_NE(cycle.error().message.find("dependency cycle"), std::string::npos);

  // modules.dep, when depmod wrote one, wins over .modinfo.
  write_file(md + "/modules.dep",
             bytes_of("kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko\n"
                      "kernel/drivers/virtio/virtio.ko:\n"));
  auto idx2 = load_module_index(md);
  ASSERT_TRUE(idx2);
  EXPECT_TRUE(idx2->have_modules_dep);
  auto r2 = resolve_modules(*idx2, {"virtio_blk"});
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->load_order, (std::vector<std::string>{"virtio", "virtio_blk"}));
}

TEST(Initramfs, BuildsANewcArchiveWithInitModulesAndConfig) {
  test::TempDir dir;
  std::string md = dir.file("6.1.0-test");
  write_file(md + "/kernel/drivers/virtio/virtio.ko", fake_ko(std::string("depends=\0", 9)));
  write_file(md + "/kernel/drivers/block/virtio_blk.ko",
             fake_ko(std::string("depends=virtio\0", 15)));
  write_file(dir.file("bin"), bytes_of("#!fake static binary"));
  InitramfsSpec spec;
  spec.output = dir.file("out/capture.img");
  spec.binary = dir.file("bin");
  spec.modules_dir = md;
  spec.modules = {"virtio_blk"};
  spec.config_text = "device=LABEL=x\n";
  auto rep = build_initramfs(spec);
  ASSERT_TRUE(rep) << rep.error().message;
  std::ifstream in(spec.output, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> gz(raw.size());
  std::memcpy(gz.data(), raw.data(), raw.size());
  EXPECT_EQ(rep->archive_bytes, gz.size());
  auto cpio = gunzip(gz);
  EXPECT_EQ(rep->unpacked_bytes, cpio.size());
  auto e = parse_cpio(cpio);
  ASSERT_TRUE(e.count("init"));
  EXPECT_EQ(e["init"].mode, 0100755u);
  EXPECT_EQ(e["init"].data, "#!fake static binary");
  EXPECT_EQ(e["dev/console"].mode, 0020600u);
  EXPECT_EQ(e["dev/console"].rmajor, 5u);
  EXPECT_EQ(e["dev/console"].rminor, 1u);
  EXPECT_EQ(e["etc/guestdump-capture.conf"].data, "device=LABEL=x\n");
  EXPECT_EQ(e["etc/guestdump/modules"].data,
            "/lib/modules/6.1.0-test/kernel/drivers/virtio/virtio.ko\n"
            "/lib/modules/6.1.0-test/kernel/drivers/block/virtio_blk.ko\n");
  EXPECT_EQ(e["lib/modules/6.1.0-test/kernel/drivers/block"].mode, 0040755u);
  EXPECT_EQ(e["lib/modules/6.1.0-test/kernel/drivers/block/virtio_blk.ko"].data.size(),
            fake_ko(std::string("depends=virtio\0", 15)).size());
  EXPECT_EQ(std::filesystem::status(spec.output).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  spec.modules = {"virtio_scsi"};
  auto missing = build_initramfs(spec);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("module 'virtio_scsi'"), std::string::npos);
}

} // namespace
} // namespace guestdump::guest

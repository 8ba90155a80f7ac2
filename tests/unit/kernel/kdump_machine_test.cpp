// kdump headers whose utsname.machine is empty, "Unknown" (QEMU 11.1) or a lie: the reader
// takes the architecture from what the dump proves (the notes), warns, and never refuses; what
// guestdump writes from such a file carries the right machine again.

#include <cstring>
#include <fstream>

#include <gtest/gtest.h>

#include "guestdump/formats/dump_source.h"
#include "guestdump/formats/elf_notes.h"
#include "guestdump/kernel/convert.h"
#include "temp_dir.h"
#include "test_images.h"

namespace guestdump::kernel {

using namespace guestdump::formats;

namespace {

constexpr std::size_t kMachineOffset = 12 + 4 * kUtsFieldLen; // utsname.machine

std::vector<char> slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

void spill(const std::string& p, const std::vector<char>& bytes) {
  std::ofstream(p, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string machine_of(const std::vector<char>& kdump) {
  return std::string(&kdump[kMachineOffset]); // NUL-terminated: the field is zero-filled
}

class KdumpMachine : public testing::TestWithParam<const char*> {
protected:
  void SetUp() override {
    spec_ = testimg::guest_spec();
    test::write_file(dir_.file("core.elf"), test::build_elf_core(spec_));
    ConvertOptions o;
    o.input = dir_.file("core.elf");
    o.output = dir_.file("good.kdump");
    o.codec = Codec::kZlib; // what QEMU's kdump-zlib and kdump-raw-zlib hold
    o.dump_level = 1;
    auto r = convert(o);
    ASSERT_TRUE(r) << r.error().what();
    good_ = slurp(o.output);
    ASSERT_EQ(machine_of(good_), "x86_64");
  }

  // The good file with `machine` in its header, written plain or flattened by hand.
  std::string with_machine(const std::string& machine) {
    auto bytes = good_;
    std::memset(&bytes[kMachineOffset], 0, kUtsFieldLen);
    std::memcpy(&bytes[kMachineOffset], machine.data(), machine.size());
    auto path = dir_.file("patched.kdump");
    spill(path, bytes);
    return path;
  }

  test::TempDir dir_;
  test::ElfCoreSpec spec_;
  std::vector<char> good_;
};

TEST_P(KdumpMachine, ReadAsProvenArchitectureWithAWarning) {
  const std::string machine = GetParam();
  auto path = with_machine(machine);
  auto src = open_dump(path);
  ASSERT_TRUE(src) << src.error().what();
  const auto& m = (*src)->metadata();
  EXPECT_EQ(m.arch, KdumpArch::kX86_64);
  EXPECT_EQ(m.utsname[4], machine); // carried as the file says it
  ASSERT_EQ(m.warnings.size(), 1u);
  const std::string& w = m.warnings[0];
  EXPECT_NE(w.find(machine.empty() ? "names no machine" : "'" + machine + "'"), std::string::npos)
      << w;
  EXPECT_NE(w.find("read as x86_64 from NT_PRSTATUS notes of 336 bytes"), std::string::npos) << w;
  EXPECT_EQ(m.nr_cpus, 2);
  ASSERT_TRUE(m.vmcoreinfo);
  EXPECT_EQ(m.vmcoreinfo->osrelease(), "6.1.0-test");
  EXPECT_TRUE(testimg::pages_match_spec(**src, spec_, 304));

  auto info = inspect(path);
  ASSERT_TRUE(info) << info.error().what();
  EXPECT_EQ(info->arch, "x86_64");
  EXPECT_EQ(info->warnings, m.warnings);
  EXPECT_EQ(info->release, "6.1.0-test");
}

TEST_P(KdumpMachine, ConvertWritesTheRightMachine) {
  ConvertOptions o;
  o.input = with_machine(GetParam());
  o.output = dir_.file("out.kdump");
  o.dump_level = 1;
  auto r = convert(o);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(machine_of(slurp(o.output)), "x86_64");
  auto back = open_dump(o.output);
  ASSERT_TRUE(back) << back.error().what();
  EXPECT_TRUE((*back)->metadata().warnings.empty());
  EXPECT_TRUE(testimg::pages_match_spec(**back, spec_, 304));
}

// Empty (older writers), QEMU 11.1's "Unknown", a machine of the other x86 layout (whose header
// fields would land elsewhere), and one we do not read at all.
INSTANTIATE_TEST_SUITE_P(Headers, KdumpMachine, testing::Values("", "Unknown", "i686", "sparc64"),
                         [](const auto& p) {
                           std::string n = p.param;
                           return n.empty() ? std::string("empty") : n;
                         });

TEST_F(KdumpMachine, TrueMachineGivesNoWarning) {
  auto src = open_dump(with_machine("x86_64"));
  ASSERT_TRUE(src) << src.error().what();
  EXPECT_TRUE((*src)->metadata().warnings.empty());
}

// A flattened file (QEMU's kdump-zlib) with an "Unknown" header reads the same way.
TEST_F(KdumpMachine, FlattenedUnknownHeader) {
  ConvertOptions o;
  o.input = dir_.file("core.elf");
  o.output = dir_.file("flat.kdump");
  o.codec = Codec::kZlib;
  o.flattened = true;
  o.dump_level = 1;
  ASSERT_TRUE(convert(o));
  auto bytes = slurp(o.output);
  // The first record carries the main header at file offset 0: 4096 + 16 bytes in.
  constexpr std::size_t kFirstRecordData = kFlatHeaderSize + kFlatRecordHeaderSize;
  ASSERT_EQ(std::memcmp(&bytes[kFirstRecordData], kKdumpSignature, 8), 0);
  std::memset(&bytes[kFirstRecordData + kMachineOffset], 0, kUtsFieldLen);
  std::memcpy(&bytes[kFirstRecordData + kMachineOffset], "Unknown", 7);
  spill(dir_.file("flat-unknown.kdump"), bytes);
  auto src = open_dump(dir_.file("flat-unknown.kdump"));
  ASSERT_TRUE(src) << src.error().what();
  EXPECT_EQ((*src)->metadata().format, "kdump (flattened)");
  EXPECT_EQ((*src)->metadata().warnings.size(), 1u);
  EXPECT_TRUE(testimg::pages_match_spec(**src, spec_, 304));
}

std::vector<std::byte> note_blob(const std::vector<std::pair<std::string, std::size_t>>& notes) {
  std::vector<std::byte> blob;
  for (const auto& [name, size] : notes) {
    std::vector<std::byte> desc(size, std::byte{0});
    append_note(blob, name, name == "CORE" ? kNtPrstatus : 0, desc);
  }
  return blob;
}

TEST(ArchFromNotes, RegisterSizesAndVmcoreinfo) {
  auto arch_of = [](const std::vector<std::byte>& blob) {
    auto notes = parse_notes(blob);
    EXPECT_TRUE(notes);
    return arch_from_notes(*notes);
  };
  auto x64 = arch_of(note_blob({{"CORE", 336}, {"CORE", 336}}));
  ASSERT_TRUE(x64 && *x64);
  EXPECT_EQ((*x64)->arch, KdumpArch::kX86_64);
  auto i386 = arch_of(note_blob({{"CORE", 144}}));
  ASSERT_TRUE(i386 && *i386);
  EXPECT_EQ((*i386)->arch, KdumpArch::kI386);
  EXPECT_EQ((*i386)->evidence, "NT_PRSTATUS notes of 144 bytes");
  // Mixed or foreign register sizes prove nothing.
  auto mixed = arch_of(note_blob({{"CORE", 336}, {"CORE", 144}}));
  ASSERT_TRUE(mixed);
  EXPECT_FALSE(*mixed);
  auto none = arch_of(note_blob({{"QEMU", 448}}));
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);

  std::vector<std::byte> vi_blob;
  std::string text = "OSRELEASE=6.1.0\nSYMBOL(init_top_pgt)=ffffffff8a00a000\n";
  append_note(vi_blob, "VMCOREINFO", 0, std::as_bytes(std::span(text.data(), text.size())));
  auto vi = arch_of(vi_blob);
  ASSERT_TRUE(vi && *vi);
  EXPECT_EQ((*vi)->arch, KdumpArch::kX86_64);
  EXPECT_EQ((*vi)->evidence, "VMCOREINFO SYMBOL(init_top_pgt)");

  // 32-bit registers beside an x86_64 kernel's VMCOREINFO: the dump contradicts itself.
  auto contradiction = note_blob({{"CORE", 144}});
  contradiction.insert(contradiction.end(), vi_blob.begin(), vi_blob.end());
  auto bad = arch_of(contradiction);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("contradict"), std::string::npos) << bad.error().message;
}

TEST(DumpProducer, NamedByNotesAndHeader) {
  auto producer = [](const std::vector<std::byte>& blob, std::array<std::string, 6> uts) {
    auto notes = parse_notes(blob);
    EXPECT_TRUE(notes);
    return dump_producer(*notes, uts);
  };
  const std::array<std::string, 6> qemu_uts{"", "", "", "", "Unknown", ""};
  const std::array<std::string, 6> linux_uts{"Linux", "host", "6.1.0", "#1", "x86_64", ""};
  EXPECT_EQ(producer(note_blob({{"CORE", 336}, {"QEMU", 448}}), qemu_uts),
            "QEMU dump-guest-memory");
  EXPECT_EQ(producer(note_blob({{"CORE", 336}, {"QEMU", 448}, {"GUESTDUMP", 40}}), linux_uts),
            "guestdump");
  EXPECT_EQ(producer(note_blob({{"CORE", 336}, {"VMCOREINFO", 40}}), linux_uts),
            "makedumpfile or compatible");
  // makedumpfile keeps the notes of the QEMU dump it filtered; its header tells it apart.
  EXPECT_EQ(producer(note_blob({{"CORE", 336}, {"QEMU", 448}}), linux_uts),
            "makedumpfile or compatible");
  EXPECT_EQ(producer(note_blob({{"CORE", 336}}), {}), ""); // /proc/vmcore: nothing says
}

} // namespace
} // namespace guestdump::kernel

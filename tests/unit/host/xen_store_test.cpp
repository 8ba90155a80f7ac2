// The second half of a Xen capture (store_core_file) on synthetic xc_core files: the dump is
// committed with its vmcore, the temporary xc_core file is gone either way, and a bad file
// leaves only a failure record.

#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "elf_core_builder.h"
#include "guestdump/formats/dump_source.h"
#include "guestdump/host/libvirt_dump_method.h"
#include "temp_dir.h"
#include "xen_core_builder.h"

namespace guestdump::host {
namespace {

namespace fs = std::filesystem;

test::XenCoreSpec small_guest() {
  test::XenCoreSpec spec;
  for (std::uint64_t p = 0; p < 64; ++p) spec.pfns.push_back(p);
  spec.pfns.push_back(~0ULL);
  spec.zero_pfns = {3, 4};
  return spec;
}

nlohmann::json read_meta(const std::string& dir) {
  std::ifstream in(dir + "/meta.json");
  return nlohmann::json::parse(std::string(std::istreambuf_iterator<char>(in), {}));
}

TEST(StoreXenCore, ConvertsCommitsAndRemovesTheCoreFile) {
  test::TempDir tmp;
  auto store = store::DumpStore::open(tmp.path());
  ASSERT_TRUE(store) << store.error().what();
  auto pending = store->begin("xg", 1795000000);
  ASSERT_TRUE(pending) << pending.error().what();
  const std::string core = pending->file(".xen-core");
  test::write_file(core, test::build_xen_core(small_guest()));
  store::DumpMeta meta;
  meta.domain = "xg";
  CaptureOptions opts;
  opts.dump_level = 1;
  opts.threads = 1;
  auto dir = store_core_file(core, *pending, meta, opts);
  ASSERT_TRUE(dir) << dir.error().what();
  EXPECT_FALSE(fs::exists(core));
  EXPECT_FALSE(fs::exists(fs::path(*dir) / ".xen-core"));
  EXPECT_EQ(meta.status, "complete");
  EXPECT_EQ(meta.guest_ram_bytes, 64u * 4096);
  EXPECT_EQ(meta.dump_level, 1);
  EXPECT_EQ(meta.vmcoreinfo_source, "none");
  EXPECT_EQ(meta.extra["temporary_core_file"], true);
  auto j = read_meta(*dir);
  EXPECT_EQ(j["status"], "complete");
  // The vmcore holds the guest's pages.
  auto back = formats::open_dump(*dir + "/vmcore");
  ASSERT_TRUE(back) << back.error().what();
  EXPECT_EQ((*back)->metadata().format, "kdump");
  EXPECT_EQ((*back)->metadata().ram.count(), 64u);
  EXPECT_EQ((*back)->metadata().nr_cpus, 2);
}

TEST(StoreXenCore, BadCoreFileLeavesAFailureRecordOnly) {
  test::TempDir tmp;
  auto store = store::DumpStore::open(tmp.path());
  ASSERT_TRUE(store) << store.error().what();
  auto pending = store->begin("xg", 1795000000);
  ASSERT_TRUE(pending) << pending.error().what();
  const std::string core = pending->file(".xen-core");
  auto spec = small_guest();
  spec.nr_vcpus = 9; // the header note lies
  test::write_file(core, test::build_xen_core(spec));
  store::DumpMeta meta;
  meta.domain = "xg";
  CaptureOptions opts;
  auto dir = store_core_file(core, *pending, meta, opts);
  ASSERT_FALSE(dir);
  EXPECT_NE(dir.error().message.find(".xen-core"), std::string::npos) << dir.error().what();
  EXPECT_NE(dir.error().message.find("9 vCPUs"), std::string::npos) << dir.error().what();
  EXPECT_FALSE(fs::exists(core));
  const std::string final_dir = pending->final_dir();
  ASSERT_TRUE(fs::exists(final_dir));
  EXPECT_FALSE(fs::exists(final_dir + "/vmcore"));
  EXPECT_FALSE(fs::exists(final_dir + "/.xen-core"));
  auto j = read_meta(final_dir);
  EXPECT_NE(j["status"].get<std::string>().find("failed: "), std::string::npos);
}

} // namespace
} // namespace guestdump::host

#include "guestdump/guest/capture_config.h"

#include <gtest/gtest.h>

namespace guestdump::guest {
namespace {

TEST(CaptureConfig, DefaultsMatchTheContract) {
  CaptureConfig c;
  EXPECT_EQ(c.vmcore, "/proc/vmcore");
  EXPECT_EQ(c.to, "/var/crash");
  EXPECT_EQ(c.dump_level, 31);
  EXPECT_EQ(c.codec, formats::Codec::kZstd);
  EXPECT_FALSE(c.after.has_value());
  EXPECT_FALSE(c.hold_unuploaded);
}

TEST(CaptureConfig, HoldUnuploadedIsYesOrNo) {
  CaptureConfig c;
  ASSERT_TRUE(apply_capture_config_text(c, "hold-unuploaded=yes\n", "conf"));
  EXPECT_TRUE(c.hold_unuploaded);
  ASSERT_TRUE(apply_kernel_cmdline(c, "guestdump.hold-unuploaded=no"));
  EXPECT_FALSE(c.hold_unuploaded);
  auto r = apply_capture_config_text(c, "hold-unuploaded=1\n", "conf");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "conf:1: hold-unuploaded '1': expected yes or no");
}

TEST(CaptureConfig, FileThenKernelCmdlineOverride) {
  CaptureConfig c;
  ASSERT_TRUE(apply_capture_config_text(c,
                                        "# comment\n\n device = LABEL=dumps \nkeep=3\n"
                                        "min-free=512M\ncodec=zlib\nafter=poweroff\n",
                                        "conf"));
  EXPECT_EQ(c.device, "LABEL=dumps");
  EXPECT_EQ(c.keep, 3u);
  EXPECT_EQ(c.min_free, 512ull << 20);
  EXPECT_EQ(c.codec, formats::Codec::kZlib);
  EXPECT_EQ(c.after, AfterAction::kPoweroff);
  ASSERT_TRUE(apply_kernel_cmdline(
      c, "BOOT_IMAGE=/vmlinuz root=/dev/sda1 guestdump.after=halt guestdump.dump-level=1 quiet\n"));
  EXPECT_EQ(c.after, AfterAction::kHalt);
  EXPECT_EQ(c.dump_level, 1);
  EXPECT_EQ(c.device, "LABEL=dumps"); // untouched
}

TEST(CaptureConfig, ErrorsNameSourceLineAndKey) {
  CaptureConfig c;
  auto r = apply_capture_config_text(c, "keep=2\ncodec=brotli\n", "/etc/x.conf");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "/etc/x.conf:2: codec 'brotli': expected zstd, zlib, lzo, snappy or none");
  r = apply_capture_config_text(c, "colour=blue\n", "f");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "f:1: unknown key 'colour'");
  r = apply_capture_config_text(c, "justakey\n", "f");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "f:1: expected key=value");
  r = apply_kernel_cmdline(c, "guestdump.dump-level=32");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "kernel command line: dump-level '32': expected 0-31");
  // A sign is not a digit: from_chars into the int would take it (found by fuzz_guest_config).
  r = apply_capture_config_text(c, "dump-level=-9\n", "f");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "f:1: dump-level '-9': expected 0-31");
  r = apply_kernel_cmdline(c, "guestdump.keep=+2");
  ASSERT_FALSE(r);
  r = apply_kernel_cmdline(c, "guestdump.device=sda1");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("UUID=..., LABEL=... or /dev/..."), std::string::npos);
}

TEST(CaptureConfig, Sizes) {
  EXPECT_EQ(*parse_size("4096", "x"), 4096u);
  EXPECT_EQ(*parse_size("1k", "x"), 1024u);
  EXPECT_EQ(*parse_size("2GiB", "x"), 2ull << 30);
  EXPECT_EQ(*parse_size("3MB", "x"), 3ull << 20);
  EXPECT_FALSE(parse_size("", "x"));
  EXPECT_FALSE(parse_size("12Q", "x"));
  EXPECT_FALSE(parse_size("-1", "x"));
  EXPECT_FALSE(parse_size("99999999999999T", "x"));
  // The error names the setting and the text, then says what is wrong.
  auto r = parse_size("12Q", "--min-free");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.rfind("--min-free '12Q': expected bytes", 0), 0u)
      << r.error().message;
}

// The machine is never left hanging, and never rebooted outside a capture kernel.
TEST(AfterDecision, EveryCombination) {
  const std::optional<AfterAction> requests[] = {std::nullopt,        AfterAction::kReboot,
                                                 AfterAction::kHalt,  AfterAction::kPoweroff,
                                                 AfterAction::kShell, AfterAction::kNone};
  for (auto req : requests)
    for (bool pid1 : {false, true})
      for (bool capture_kernel : {false, true})
        for (bool ok : {false, true})
          for (bool shell : {false, true}) {
            AfterDecision d = decide_after(req, pid1, capture_kernel, ok, shell);
            SCOPED_TRACE(std::string(req ? after_name(*req) : "default") + " pid1=" +
                         std::to_string(pid1) + " kdump=" + std::to_string(capture_kernel) +
                         " ok=" + std::to_string(ok) + " shell=" + std::to_string(shell));
            EXPECT_NE(d.reason.find(ok ? "capture done" : "capture failed"), std::string::npos);
            if (!pid1 && !capture_kernel) {
              EXPECT_EQ(d.action, AfterAction::kNone); // a test or a dry run on a live system
              continue;
            }
            if (pid1) {
              EXPECT_NE(d.action, AfterAction::kNone); // PID 1 must not exit
            }
            if (!shell) {
              EXPECT_NE(d.action, AfterAction::kShell);
            }
            // The outcome never changes the action.
            EXPECT_EQ(d.action, decide_after(req, pid1, capture_kernel, !ok, shell).action);
            AfterAction expected = req.value_or(AfterAction::kReboot);
            if ((expected == AfterAction::kShell && !shell) ||
                (expected == AfterAction::kNone && pid1))
              expected = AfterAction::kReboot;
            EXPECT_EQ(d.action, expected);
          }
}

} // namespace
} // namespace guestdump::guest

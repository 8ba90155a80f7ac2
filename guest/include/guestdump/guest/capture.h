#pragma once
// The capture itself (in the capture kernel): the guest kernel log first, then the filtered,
// compressed kdump file, into /var/crash/<timestamp>/ on the configured device, or a flattened
// stream on stdout. The capture initramfs's /init is run_capture_init(), also here.

#include <cstdint>
#include <optional>
#include <string>

#include "guestdump/common/result.h"
#include "guestdump/guest/capture_config.h"
#include "guestdump/kernel/convert.h"

namespace guestdump::guest {

struct CaptureReport {
  std::string dir;                  // the dump directory (empty when streaming)
  std::string device;               // the device node used, if any
  bool dmesg_saved = false;         // dmesg.txt written
  std::string dmesg_error;          // why not
  std::vector<std::string> deleted; // retention
  kernel::ConvertResult convert;
  double seconds = 0;
};

/// Runs one capture. On failure after the dump directory was created, that directory is kept
/// under its final name with dmesg.txt (when the log was readable) and meta.json saying
/// "failed: <reason>", and the error is returned. The device stays mounted (the caller unmounts
/// it before rebooting).
Result<CaptureReport> capture_dump(const CaptureConfig& cfg);

/// Carries out an after action (sync first). Returns only for kNone or when reboot(2) failed.
void perform_after(AfterAction action);

/// PID 1 of the capture initramfs: mounts /proc, /sys and /dev, loads the listed modules, runs
/// the configured capture and carries out the after action. Never returns normally.
int run_capture_init();

} // namespace guestdump::guest

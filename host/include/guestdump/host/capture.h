#pragma once
// On-demand capture of a guest over QMP into the dump store: QEMU writes its ELF core into a
// pipe (getfd + dump-guest-memory protocol "fd:NAME", paging false, detached), guestdump
// spools it compressed, then filters, extracts the kernel log and writes
// <store>/<domain>/<timestamp>/{vmcore, dmesg.txt, meta.json}. No file of guest-RAM size is
// ever written. QEMU stops the guest for the whole transfer and restores its previous run
// state itself; guestdump checks afterwards that it did.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <sys/types.h>

#include "guestdump/common/result.h"
#include "guestdump/common/unique_fd.h"
#include "guestdump/formats/codec.h"
#include "guestdump/policies/after_dump.h"
#include "guestdump/qmp/client.h"
#include "guestdump/store/dump_store.h"

namespace guestdump::host {

/// How guest memory is read. kSelective reads page tables and struct pages straight out of the
/// stopped QEMU process (needs ptrace rights over it and VMCOREINFO), copies only the kept
/// pages and lets the guest run before compressing; kStream has QEMU stream all of RAM through
/// a pipe; kAuto tries selective and falls back to the stream.
enum class CapturePath { kAuto, kSelective, kStream };

struct CaptureOptions {
  std::string domain; // store directory name; empty = QEMU's -name, else "qemu"
  std::string uuid;   // recorded in meta.json when known
  policies::Trigger trigger = policies::Trigger::kManual;
  int dump_level = 31;
  formats::Codec codec = formats::Codec::kZstd;
  unsigned threads = 0;
  /// Phase and bytes: "receive" (guest bytes so far / total), "filter", "write".
  std::function<void(const char* phase, std::uint64_t done, std::uint64_t total)> progress;
  /// How long QEMU may take to finish after the stream ended, and to start at all.
  std::chrono::milliseconds qemu_timeout{std::chrono::seconds(60)};
  CapturePath path = CapturePath::kAuto;
  /// The selective path copies the kept pages so the guest can resume before compression:
  /// in memory up to `snapshot_memory` bytes, a larger copy into an unlinked spool file in the
  /// dump's directory (page cache, not the process's memory), unless `snapshot_spool` is
  /// false; without a copy it compresses while the guest is still stopped.
  std::uint64_t snapshot_memory = 32ull << 20;
  bool snapshot_spool = true;
  /// Physical address of the guest's VMCOREINFO note as its agent reported it (see
  /// guest_agent.h); the locator tries it first when the dump carries no VMCOREINFO.
  std::optional<std::uint64_t> vmcoreinfo_hint;
  /// The QMP socket the client came from: with it, the selective path starts a ResumeGuard
  /// (resume_guard.h) before it stops a running guest.
  std::string qmp_socket;
  /// guestdumpd's crash record for meta.json's "daemon" member (store::DumpMeta::daemon).
  nlohmann::json daemon_record;
  /// The program taking the dump, for meta.json's "tool".
  std::string tool = "guestdump";
};

struct CaptureResult {
  std::string dir; // the committed dump directory
  store::DumpMeta meta;
  std::string run_state_before;
  std::string run_state_after;
};

/// Captures the guest behind `client` into `store` by the stream path. On failure the dump
/// directory is either removed (nothing was received) or committed as a failure record; the
/// error names the guest.
Result<CaptureResult> capture_qmp(qmp::Client& client, const store::DumpStore& store,
                                  const CaptureOptions& opts);

/// The selective path (see CapturePath) for the QEMU process `qemu_pid` behind `client`.
Result<CaptureResult> capture_selective(qmp::Client& client, pid_t qemu_pid,
                                        const store::DumpStore& store, const CaptureOptions& opts);

/// opts.path decides: selective when asked (or, for kAuto, when `qemu_pid` is known and the
/// selective path works), else the stream; logs which path ran.
Result<CaptureResult> capture_qmp_auto(qmp::Client& client, std::optional<pid_t> qemu_pid,
                                       const store::DumpStore& store, const CaptureOptions& opts);

/// The pid of the process at the other end of a UNIX socket (SO_PEERCRED).
std::optional<pid_t> qemu_pid_of(int qmp_socket_fd);

/// Connects to the QMP UNIX socket at `path` (once, no retry), so that its peer can be asked
/// for with qemu_pid_of() before the session starts (qmp::Client::from_fd).
Result<UniqueFd> connect_qmp_socket(const std::string& path);

} // namespace guestdump::host

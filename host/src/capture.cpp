// On-demand capture over QMP into the dump store; see capture.h.

#include "guestdump/host/capture.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>

#include <fcntl.h>
#include <unistd.h>

#include "capture_internal.h"
#include "guestdump/common/log.h"
#include "guestdump/common/unique_fd.h"
#include "guestdump/formats/stream_capture.h"
#include "guestdump/kernel/kernel_log.h"
#include "guestdump/kernel/output_plan.h"
#include "guestdump/kernel/vmcoreinfo_locator.h"
#include "guestdump/qmp/commands.h"
#include "guestdump/qmp/events.h"

namespace guestdump::host {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// meta.json's host: GUESTDUMP_HOST when set (a fleet whose host names are not unique, and the
// tests, which play two hosts on one machine), else the kernel's host name.
std::string host_name() {
  if (const char* named = std::getenv("GUESTDUMP_HOST"); named != nullptr && *named != '\0') {
    return std::string(named).substr(0, 255);
  }
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

// QEMU's -name and -uuid, when it has them.
std::string query_string(qmp::Client& c, const char* command, const char* member) {
  auto r = c.execute(command);
  if (!r || !r->is_object()) return "";
  auto it = r->find(member);
  return it != r->end() && it->is_string() ? it->get<std::string>() : "";
}

// After QEMU's dump thread ends: its verdict (completed or failed, with QEMU's reason).
Result<void> dump_verdict(qmp::EventQueue& events, std::chrono::milliseconds timeout,
                          const std::string& guest) {
  auto ev = events.wait_for(qmp::kDumpCompletedEvent, timeout);
  if (!ev) {
    return std::move(ev).error().context("'" + guest + "': waiting for QEMU's DUMP_COMPLETED");
  }
  GUESTDUMP_TRY(auto typed, qmp::decode_event(*ev));
  const auto* done = std::get_if<qmp::DumpCompleted>(&typed);
  if (done == nullptr) return make_error(ErrorCode::kProtocol, "unexpected event");
  if (done->result.status != qmp::DumpStatus::kCompleted) {
    return make_error(ErrorCode::kOs, "'" + guest + "': QEMU's dump failed: " +
                                          (done->error.empty() ? "no reason given" : done->error));
  }
  return {};
}

} // namespace

namespace detail {

Result<CaptureResult> commit_capture(store::PendingDump& pending, CaptureResult res,
                                     const std::string& guest) {
  res.meta.extra["run_state_before"] = res.run_state_before;
  res.meta.extra["run_state_after"] = res.run_state_after;
  auto dir = pending.commit(res.meta);
  if (!dir) return std::move(dir).error().context("capture '" + guest + "'");
  res.dir = *dir;
  return res;
}

bool was_cancelled(const Error& e) {
  return e.code == ErrorCode::kCancelled || cancel_requested();
}

Error record_failure(store::PendingDump& pending, store::DumpMeta& meta, Error e) {
  meta.finished_at = static_cast<std::int64_t>(std::time(nullptr));
  if (auto rec = pending.fail(meta, e.message); !rec) {
    GUESTDUMP_LOG(kWarn, "capture")
        << "'" << meta.domain << "': cannot record the failure: " << rec.error().message;
  }
  return e;
}

Result<bool> write_capture(formats::SpooledDump& spool, store::PendingDump& pending,
                           store::DumpMeta& meta, const CaptureOptions& opts) {
  const std::string& guest = meta.domain;
  auto ctx = [&](Error e) { return std::move(e).context("capture '" + guest + "'"); };
  auto failed = [&](Error e) -> Error { return record_failure(pending, meta, ctx(std::move(e))); };
  GUESTDUMP_LOG(kInfo, "capture") << "'" << guest << "': received " << spool.bytes_received()
                                  << " bytes in " << meta.pause_seconds << " s";
  // No VMCOREINFO note (no vmcoreinfo device, or no qemu_fw_cfg driver): find the kernel's own
  // copy in guest memory, at the address the guest agent reported first.
  kernel::LocateOptions locate;
  locate.hint_pa = opts.vmcoreinfo_hint;
  auto view = kernel::view_with_vmcoreinfo(spool, locate);
  if (!view) return failed(std::move(view).error());
  const formats::DumpSource& src = **view;
  const auto& smeta = src.metadata();
  meta.guest_ram_bytes = smeta.ram.count() * smeta.page_size;
  meta.vmcoreinfo_source = kernel::vmcoreinfo_origin(smeta);
  if (smeta.vmcoreinfo) {
    if (auto rel = smeta.vmcoreinfo->osrelease()) meta.kernel_release = std::string(*rel);
  } else {
    // Without VMCOREINFO no page class can be recognised: what we write is a level-1 dump.
    meta.dump_level = opts.dump_level & 1;
    GUESTDUMP_LOG(kWarn, "capture")
        << "'" << guest << "': no VMCOREINFO in the dump or in "
        << "guest memory; falling back to dump level " << meta.dump_level;
  }
  if (opts.progress) opts.progress("filter", 0, smeta.ram.count());
  auto plan = kernel::plan_output(src, opts.dump_level, [&](std::uint64_t d, std::uint64_t t) {
    if (opts.progress) opts.progress("filter", d, t);
  });
  if (!plan) return failed(std::move(plan).error());
  if (!plan->filter.fallback.empty()) {
    GUESTDUMP_LOG(kWarn, "capture") << "'" << guest << "': " << plan->filter.fallback;
    meta.extra["filter_fallback"] = plan->filter.fallback;
  }
  const auto& x = plan->filter.excluded;
  meta.extra["excluded"] = {{"cache", x.cache},       {"cache_private", x.cache_private},
                            {"user", x.user},         {"free", x.free},
                            {"hwpoison", x.hwpoison}, {"offline", x.offline}};
  auto log = kernel::read_kernel_log(src);
  if (log) {
    if (auto w = pending.write_text("dmesg.txt", log->text); !w) {
      return failed(std::move(w).error());
    }
  } else {
    GUESTDUMP_LOG(kWarn, "capture") << "'" << guest << "': no kernel log: " << log.error().message;
    meta.extra["dmesg_error"] = log.error().message;
  }
  if (opts.progress) opts.progress("write", 0, 1);
  auto stats =
      spool.finish(plan->header, plan->notes, plan->filter.dumpable, (opts.dump_level & 1) != 0);
  if (!stats) return failed(std::move(stats).error());
  if (opts.progress) opts.progress("write", 1, 1);
  meta.vmcore_bytes = stats->file_size;
  meta.pages_dumped = stats->pages_dumped;
  meta.finished_at = static_cast<std::int64_t>(std::time(nullptr));
  return true;
}

store::DumpMeta initial_meta(const CaptureOptions& opts, std::string domain, std::string uuid,
                             const char* path) {
  store::DumpMeta meta;
  meta.domain = std::move(domain);
  meta.uuid = std::move(uuid);
  meta.host = host_name();
  meta.trigger = std::string(policies::to_string(opts.trigger));
  meta.path = path;
  meta.dump_level = opts.dump_level;
  meta.codec = std::string(formats::codec_name(opts.codec));
  meta.tool = opts.tool;
  meta.tool_version = GUESTDUMP_VERSION;
  meta.started_at = static_cast<std::int64_t>(std::time(nullptr));
  meta.daemon = opts.daemon_record;
  return meta;
}

formats::StreamCaptureOptions stream_options(int fd, const store::PendingDump& pending,
                                             const CaptureOptions& opts, std::string name) {
  formats::StreamCaptureOptions so;
  so.input_fd = fd;
  so.input_name = std::move(name);
  so.output = pending.file("vmcore");
  so.codec = opts.codec;
  so.threads = opts.threads;
  if (opts.progress) {
    so.progress = [p = opts.progress](std::uint64_t done, std::uint64_t total) {
      p("receive", done, total);
    };
  }
  return so;
}

} // namespace detail

using detail::record_failure;
using detail::write_capture;

Result<CaptureResult> capture_qmp(qmp::Client& c, const store::DumpStore& store,
                                  const CaptureOptions& opts) {
  CaptureResult res;
  std::string name = opts.domain;
  if (name.empty()) name = query_string(c, "query-name", "name");
  if (name.empty()) name = "qemu";
  res.meta = detail::initial_meta(
      opts, name, opts.uuid.empty() ? query_string(c, "query-uuid", "UUID") : opts.uuid,
      "qmp-stream");
  store::DumpMeta& meta = res.meta;
  const std::string& guest = meta.domain;

  auto ctx = [&](Error e) { return std::move(e).context("capture '" + guest + "'"); };
  auto status = qmp::query_status(c);
  if (!status) return ctx(std::move(status).error());
  res.run_state_before = status->status;
  auto running_dump = qmp::query_dump(c);
  if (!running_dump) return ctx(std::move(running_dump).error());
  if (running_dump->status == qmp::DumpStatus::kActive) {
    return make_error(ErrorCode::kInvalidArgument,
                      "capture '" + guest + "': a dump is already running in QEMU");
  }
  auto formats_r = qmp::query_dump_guest_memory_capability(c);
  if (!formats_r) return ctx(std::move(formats_r).error());
  if (std::find(formats_r->begin(), formats_r->end(), "elf") == formats_r->end()) {
    return make_error(ErrorCode::kUnsupported,
                      "capture '" + guest + "': this QEMU cannot write ELF dumps");
  }

  GUESTDUMP_TRY(store::PendingDump pending, store.begin(meta));
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return errno_error("pipe", "capture '" + guest + "'");
  UniqueFd rd(p[0]);
  UniqueFd wr(p[1]);
  // A bigger pipe lets QEMU's dump thread run ahead of us between reads.
  (void)::fcntl(rd.get(), F_SETPIPE_SZ, 1 << 20);

  auto events = c.event_queue({std::string(qmp::kDumpCompletedEvent)});
  auto resumes = c.event_queue({std::string(qmp::kResumeEvent)});
  const std::string fdname = "guestdump-" + std::to_string(::getpid());
  if (auto r = qmp::getfd(c, fdname, wr.get()); !r) return ctx(std::move(r).error());
  wr.reset(); // QEMU holds the only write end: end of stream when its dump thread closes it
  qmp::DumpRequest req;
  req.protocol = qmp::fd_protocol(fdname);
  req.format = "elf";
  req.paging = false;
  req.detach = true;
  const auto pause_start = Clock::now();
  if (auto r = qmp::dump_guest_memory(c, req); !r) {
    (void)qmp::closefd(c, fdname);
    return ctx(std::move(r).error());
  }
  GUESTDUMP_LOG(kInfo, "capture") << "'" << guest << "': QEMU is streaming guest memory (state "
                                  << res.run_state_before << ")";

  auto spool = formats::SpooledDump::receive(
      detail::stream_options(rd.get(), pending, opts, "QEMU's dump stream"));
  // Closing our end makes a still-writing QEMU fail its dump (EPIPE) and restore the guest's
  // run state, instead of keeping it stopped on a full pipe.
  rd.reset();
  auto verdict = dump_verdict(events, opts.qemu_timeout, guest);
  meta.pause_seconds = seconds_since(pause_start);
  if (!spool) return record_failure(pending, meta, ctx(std::move(spool).error()));
  if (!verdict) return record_failure(pending, meta, std::move(verdict).error());
  GUESTDUMP_TRY(auto written, write_capture(**spool, pending, meta, opts));
  (void)written;

  // QEMU restarts a guest that was running when its dump thread ends; DUMP_COMPLETED can
  // arrive a moment before RESUME, so wait for it rather than report a false "paused".
  if (auto after = qmp::query_status(c)) {
    res.run_state_after = after->status;
    if (status->running && !after->running) {
      if (resumes.wait_for(qmp::kResumeEvent, std::chrono::seconds(5))) {
        if (auto again = qmp::query_status(c)) res.run_state_after = again->status;
      }
    }
  }
  return detail::commit_capture(pending, std::move(res), guest);
}

Result<CaptureResult> capture_qmp_auto(qmp::Client& c, std::optional<pid_t> qemu_pid,
                                       const store::DumpStore& store, const CaptureOptions& opts) {
  if (opts.path == CapturePath::kStream) return capture_qmp(c, store, opts);
  if (!qemu_pid) {
    if (opts.path == CapturePath::kSelective) {
      return make_error(ErrorCode::kUnsupported,
                        "selective capture needs the QEMU process id (SO_PEERCRED failed)");
    }
    GUESTDUMP_LOG(kInfo, "capture") << "QEMU's process id is unknown: streaming all of RAM";
    return capture_qmp(c, store, opts);
  }
  auto r = capture_selective(c, *qemu_pid, store, opts);
  // A cancelled capture (SIGTERM, Ctrl-C) must not start another one.
  if (r || opts.path == CapturePath::kSelective || detail::was_cancelled(r.error())) return r;
  // Nothing of the guest changed: the selective path resumed it before failing, and a dump
  // directory, if one was started, records the failure.
  GUESTDUMP_LOG(kWarn, "capture") << r.error().message << "; streaming all of RAM instead";
  return capture_qmp(c, store, opts);
}

} // namespace guestdump::host

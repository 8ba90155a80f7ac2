// Selective capture, the fast path: read page tables and struct pages straight out of the
// stopped QEMU process, then only the pages the dump level keeps; the guest runs again before
// compression starts. See capture.h and docs/architecture.md.

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <optional>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "capture_internal.h"
#include "guestdump/common/io.h"
#include "guestdump/common/log.h"
#include "guestdump/common/unique_fd.h"
#include "guestdump/formats/kdump_writer.h"
#include "guestdump/host/capture.h"
#include "guestdump/host/resume_guard.h"
#include "guestdump/kernel/kernel_log.h"
#include "guestdump/kernel/output_plan.h"
#include "guestdump/qmp/commands.h"
#include "live_memory.h"
#include "live_monitor.h"

namespace guestdump::host {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kKernelTextBase = 0xffffffff80000000ull; // __START_KERNEL_map
constexpr std::uint64_t kMaxLocalRom = 16ull << 20; // RAM blocks we copy via tiny dumps
constexpr std::uint64_t kMaxTinyDump = 64ull << 20;

// A small ELF dump of [begin, begin + length): notes (CPU state, VMCOREINFO) and the range's
// bytes. QEMU writes it synchronously (no detach) into a memfd we pass it: no event to wait
// for, and QEMU can never block on a full pipe while we wait for its reply.
Result<std::unique_ptr<formats::DumpSource>> tiny_dump(qmp::Client& c, std::uint64_t begin,
                                                       std::uint64_t length,
                                                       std::chrono::milliseconds timeout) {
  if (length > kMaxTinyDump) {
    return make_error(ErrorCode::kInvalidArgument,
                      "probe dump of " + std::to_string(length) + " bytes is larger than allowed");
  }
  UniqueFd mem(::memfd_create("guestdump-probe", MFD_CLOEXEC));
  if (!mem.valid()) return errno_error("memfd_create", "tiny dump");
  const std::string fdname = "guestdump-probe-" + std::to_string(::getpid());
  const int fds[] = {mem.get()};
  GUESTDUMP_CHECK(c.execute("getfd", {{"fdname", fdname}}, qmp::kDefaultCommandTimeout, fds));
  auto done = c.execute("dump-guest-memory",
                        {{"paging", false},
                         {"protocol", qmp::fd_protocol(fdname)},
                         {"detach", false},
                         {"begin", begin},
                         {"length", length}},
                        timeout);
  // QEMU closes a getfd descriptor when a dump consumes it; closefd only matters on failure.
  if (!done) {
    (void)qmp::closefd(c, fdname);
    return std::move(done).error().context("probe dump");
  }
  return formats::open_elf_core("/proc/self/fd/" + std::to_string(mem.get()));
}

std::string hmp(qmp::Client& c, const char* command, Error* error) {
  auto r = qmp::human_monitor_command(c, command);
  if (!r) {
    *error = std::move(r).error();
    return {};
  }
  return *r;
}

} // namespace

std::optional<pid_t> qemu_pid_of(int qmp_socket_fd) {
  // SO_PEERCRED: the credentials QEMU had when it accepted the connection.
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(qmp_socket_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.pid <= 0) {
    return std::nullopt;
  }
  return cred.pid;
}

Result<CaptureResult> capture_selective(qmp::Client& c, pid_t qemu_pid,
                                        const store::DumpStore& store, const CaptureOptions& opts) {
  CaptureResult res;
  std::string name = opts.domain;
  if (name.empty()) {
    auto r = c.execute("query-name");
    if (r && r->is_object() && r->contains("name")) name = (*r)["name"].get<std::string>();
  }
  if (name.empty()) name = "qemu";
  std::string uuid = opts.uuid;
  if (uuid.empty()) {
    auto r = c.execute("query-uuid");
    if (r && r->is_object() && r->contains("UUID")) uuid = (*r)["UUID"].get<std::string>();
  }
  res.meta = detail::initial_meta(opts, name, uuid, "selective");
  store::DumpMeta& meta = res.meta;
  const std::string& guest = meta.domain;
  auto ctx = [&](Error e) { return std::move(e).context("capture '" + guest + "'"); };

  GUESTDUMP_TRY(auto status, qmp::query_status(c));
  res.run_state_before = status.status;
  GUESTDUMP_TRY(auto running_dump, qmp::query_dump(c));
  if (running_dump.status == qmp::DumpStatus::kActive) {
    return make_error(ErrorCode::kInvalidArgument,
                      "capture '" + guest + "': a dump is already running in QEMU");
  }
  Error hmp_error;
  std::string mtree = hmp(c, "info mtree -f", &hmp_error);
  if (mtree.empty()) return ctx(std::move(hmp_error));
  GUESTDUMP_TRY(auto ranges, detail::parse_mtree_flat(mtree));

  // From here until `resume` the guest is stopped by us; every exit path resumes it.
  const auto pause_start = Clock::now();
  bool we_stopped = false;
  // Resumes the guest should this process die (SIGKILL included) while the guest is stopped.
  std::optional<ResumeGuard> guard;
  if (status.running && !opts.qmp_socket.empty()) {
    auto g = ResumeGuard::start(opts.qmp_socket);
    if (!g) return ctx(std::move(g).error());
    guard.emplace(std::move(g).value());
  }
  if (status.running) {
    if (guard) guard->paused(); // before `stop`: a death right after it is covered too
    GUESTDUMP_CHECK(qmp::stop(c));
    we_stopped = true;
  }
  bool resumed = false;
  auto resume = [&]() {
    if (resumed) return;
    resumed = true;
    if (we_stopped) {
      if (auto r = qmp::cont(c); !r) {
        GUESTDUMP_LOG(kError, "capture")
            << "'" << guest << "': cannot resume the guest: " << r.error().message;
      }
    }
    // The pause ends when QEMU has answered `cont`, not when we ask.
    meta.pause_seconds = std::chrono::duration<double>(Clock::now() - pause_start).count();
    if (guard) guard->resumed();
  };
  const detail::OnScopeExit resumer(resume);

  // Notes and VMCOREINFO: a one-page dump costs milliseconds.
  GUESTDUMP_TRY(auto probe, tiny_dump(c, 0, 4096, opts.qemu_timeout));
  GUESTDUMP_LOG(kDebug, "capture")
      << "selective: notes probe at "
      << std::chrono::duration<double>(Clock::now() - pause_start).count() << " s";
  formats::DumpMetadata meta0 = probe->metadata();
  if (!meta0.vmcoreinfo) {
    return make_error(ErrorCode::kUnsupported,
                      "capture '" + guest + "': no VMCOREINFO, nothing to select by");
  }
  const auto& vi = *meta0.vmcoreinfo;
  auto uts = vi.symbol("init_uts_ns");
  if (!uts) {
    return make_error(ErrorCode::kUnsupported, "capture '" + guest + "': no SYMBOL(init_uts_ns)");
  }
  const std::uint32_t ps = meta0.page_size;
  const auto phys_base = static_cast<std::uint64_t>(vi.number("phys_base").value_or(0));
  const std::uint64_t probe_pa = ((*uts - kKernelTextBase + phys_base) / ps) * ps;
  GUESTDUMP_TRY(auto probe2, tiny_dump(c, probe_pa, ps, opts.qemu_timeout));
  std::vector<std::byte> probe_page(ps);
  {
    auto reader = probe2->make_reader();
    GUESTDUMP_TRY(auto bytes, reader->read(probe_pa / ps, probe_page));
    std::memcpy(probe_page.data(), bytes, ps);
  }
  GUESTDUMP_TRY(auto hva, detail::locate_blocks(qemu_pid, ranges, probe_pa / ps, probe_page, ps));
  GUESTDUMP_LOG(kDebug, "capture")
      << "selective: blocks located at "
      << std::chrono::duration<double>(Clock::now() - pause_start).count() << " s";
  // Small blocks (BIOS, option ROMs) that no mapping identifies: copy them with a tiny dump.
  std::vector<std::pair<std::uint64_t, std::vector<std::byte>>> local;
  for (const auto& r : ranges) {
    bool located =
        std::any_of(hva.begin(), hva.end(), [&](const auto& h) { return h.first == r.block; });
    if (located || r.size > kMaxLocalRom || r.gpa % ps != 0 || r.size % ps != 0) continue;
    GUESTDUMP_TRY(auto rom, tiny_dump(c, r.gpa, r.size, opts.qemu_timeout));
    std::vector<std::byte> bytes(r.size);
    auto reader = rom->make_reader();
    for (std::uint64_t off = 0; off < r.size; off += ps) {
      auto span = std::span(bytes).subspan(off, ps);
      GUESTDUMP_TRY(auto pg, reader->read((r.gpa + off) / ps, span));
      if (pg != span.data()) std::memcpy(span.data(), pg, ps);
    }
    local.emplace_back(r.gpa, std::move(bytes));
  }
  detail::LiveGuestMemory live(qemu_pid, std::move(meta0), ranges, std::move(hva),
                               std::move(local));
  GUESTDUMP_LOG(kInfo, "capture") << "'" << guest << "': selective capture from QEMU process "
                                  << qemu_pid << " (" << live.metadata().ram.count()
                                  << " RAM pages)";

  return detail::finish_selective(res, live, store, opts, "dump note", resume,
                                  [&]() -> std::string {
                                    auto after = qmp::query_status(c);
                                    return after ? after->status : std::string();
                                  });
}

Result<UniqueFd> connect_qmp_socket(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    return make_error(ErrorCode::kInvalidArgument, "QMP socket path '" + path + "' is too long");
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return errno_error("socket", path);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return errno_error("connect", path);
  }
  return fd;
}

namespace detail {

Result<LiveMemoryView> open_qmp_live_memory(const std::string& socket) {
  auto ctx = [&](Error e) { return std::move(e).context("QMP socket '" + socket + "'"); };
  auto fd = connect_qmp_socket(socket);
  if (!fd) return std::move(fd).error();
  const std::optional<pid_t> pid = qemu_pid_of(fd->get());
  if (!pid) {
    return ctx(make_error(ErrorCode::kUnsupported, "the socket's peer process is unknown"));
  }
  GUESTDUMP_TRY(auto client,
                qmp::Client::from_fd(std::move(*fd), socket, std::chrono::seconds(10)));
  qmp::Client& c = *client;
  MonitorFn monitor = [&c](const std::string& command, bool as_hmp) -> Result<std::string> {
    if (as_hmp) return qmp::human_monitor_command(c, command);
    // A QMP command as JSON text ({"execute": ..., "arguments": ...}); the reply as JSON text.
    auto j = nlohmann::json::parse(command, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("execute") || !j["execute"].is_string()) {
      return make_error(ErrorCode::kInvalidArgument, "not a QMP command: " + command);
    }
    const nlohmann::json args = j.value("arguments", nlohmann::json::object());
    GUESTDUMP_TRY(auto ret, c.execute(j["execute"].get<std::string>(), args));
    return nlohmann::json{{"return", ret}}.dump();
  };
  Error hmp_error;
  std::string mtree = hmp(c, "info mtree -f", &hmp_error);
  if (mtree.empty()) return ctx(std::move(hmp_error));
  GUESTDUMP_TRY(auto ranges, parse_mtree_flat(mtree));
  if (auto a = check_access(*pid); !a) return ctx(std::move(a).error());
  auto view = open_live_memory(monitor, *pid, std::move(ranges), std::nullopt);
  if (!view) return ctx(std::move(view).error());
  return view;
}

Result<CaptureResult> finish_selective(CaptureResult& res, const LiveGuestMemory& live,
                                       const store::DumpStore& store, const CaptureOptions& opts,
                                       const std::string& vmcoreinfo_source,
                                       const std::function<void()>& resume,
                                       const std::function<std::string()>& state_after) {
  store::DumpMeta& meta = res.meta;
  const std::string guest = meta.domain;
  auto ctx = [&](Error e) { return std::move(e).context("capture '" + guest + "'"); };
  const std::uint32_t ps = live.metadata().page_size;
  const auto& vi = *live.metadata().vmcoreinfo;
  // Nothing is stored before this point, so a failure above leaves the store untouched and
  // the automatic path choice can still fall back to the stream.
  auto plan = kernel::plan_output(live, opts.dump_level);
  GUESTDUMP_LOG(kDebug, "capture") << "selective: filtered";
  if (!plan) return ctx(std::move(plan).error());
  auto log = kernel::read_kernel_log(live);
  GUESTDUMP_LOG(kDebug, "capture") << "selective: kernel log read";
  GUESTDUMP_TRY(store::PendingDump pending, store.begin(meta));
  // Copy the kept pages (in memory up to a limit, beyond it into a spool file next to the
  // dump) and let the guest go. Should the copy fail (a full disk), compress straight from
  // the stopped guest instead: a longer pause, but the dump.
  std::unique_ptr<detail::PageSnapshot> snap;
  {
    const detail::SnapshotStorage storage{opts.snapshot_memory,
                                          opts.snapshot_spool ? pending.dir() : std::string()};
    auto taken = detail::PageSnapshot::take(live, plan->filter.dumpable, storage);
    if (taken) {
      snap = std::move(*taken);
      resume();
      meta.extra["snapshot"] = {{"storage", snap->spooled() ? "spool" : "memory"},
                                {"bytes", snap->bytes()}};
      GUESTDUMP_LOG(kInfo, "capture")
          << "'" << guest << "': guest held " << meta.pause_seconds << " s; copied "
          << snap->bytes() << " bytes" << (snap->spooled() ? " to a spool file" : "");
    } else {
      meta.extra["snapshot"] = {{"storage", "none"}, {"error", taken.error().message}};
      GUESTDUMP_LOG(kWarn, "capture")
          << "'" << guest << "': no copy of the kept pages (" << taken.error().message
          << "); compressing while the guest is stopped";
    }
  }
  const formats::DumpSource& pages = snap ? static_cast<const formats::DumpSource&>(*snap)
                                          : static_cast<const formats::DumpSource&>(live);

  // The guest runs again; the rest works on our copy.
  const auto& smeta = live.metadata();
  meta.guest_ram_bytes = smeta.ram.count() * ps;
  meta.vmcoreinfo_source = vmcoreinfo_source;
  if (auto rel = vi.osrelease()) meta.kernel_release = std::string(*rel);
  if (!plan->filter.fallback.empty()) meta.extra["filter_fallback"] = plan->filter.fallback;
  const auto& x = plan->filter.excluded;
  meta.extra["excluded"] = {{"cache", x.cache},       {"cache_private", x.cache_private},
                            {"user", x.user},         {"free", x.free},
                            {"hwpoison", x.hwpoison}, {"offline", x.offline}};
  if (log) {
    if (auto w = pending.write_text("dmesg.txt", log->text); !w) {
      return detail::record_failure(pending, meta, ctx(std::move(w).error()));
    }
  } else {
    meta.extra["dmesg_error"] = log.error().message;
  }
  auto out = OutputFile::create(pending.file("vmcore"));
  if (!out) return detail::record_failure(pending, meta, ctx(std::move(out).error()));
  out->sync_while_writing();
  auto sink = formats::make_positioned_sink(out->fd(), out->path());
  formats::KdumpWriteRequest req;
  req.source = &pages;
  req.header = plan->header;
  req.notes = plan->notes;
  req.ram = &smeta.ram;
  req.dumpable = &plan->filter.dumpable;
  req.codec = opts.codec;
  req.share_zero_pages = (opts.dump_level & 1) != 0;
  req.threads = opts.threads;
  auto stats = formats::write_kdump(req, *sink);
  if (!stats) return detail::record_failure(pending, meta, ctx(std::move(stats).error()));
  resume(); // no-op if the snapshot already let the guest go
  if (auto r = out->commit(); !r) {
    return detail::record_failure(pending, meta, ctx(std::move(r).error()));
  }
  meta.vmcore_bytes = stats->file_size;
  meta.pages_dumped = stats->pages_dumped;
  meta.finished_at = static_cast<std::int64_t>(std::time(nullptr));
  res.run_state_after = state_after();
  return detail::commit_capture(pending, std::move(res), guest);
}

} // namespace detail

} // namespace guestdump::host

// qmp_guest_check SOCKET OUT_ELF: drives a real, freshly started QEMU guest through the qmp
// library (run by qmp_guest.sh, which boots the fixture kernel and initramfs):
//   query-status; stop/cont with STOP/RESUME events; wait for GUEST_PANICKED; a dump to an
//   unknown fd name must fail with QEMU's error class; then dump-guest-memory (elf, paging
//   false, detached) into a pipe passed with getfd, read fully here while DUMP_COMPLETED
//   arrives; the saved ELF's headers must describe exactly the bytes received.
// Prints one JSON line with what it measured; exits 0 only if every check passed.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <guestdump/common/io.h>
#include <guestdump/qmp/client.h>
#include <guestdump/qmp/commands.h>
#include <guestdump/qmp/events.h>

namespace qmp = guestdump::qmp;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

int g_failures = 0;

#define CHECK_OR_DIE(cond, msg)                                                                    \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      std::cerr << "FAIL: " << msg << "\n";                                                        \
      return 1;                                                                                    \
    }                                                                                              \
  } while (0)

void expect(bool cond, const std::string& msg) {
  if (!cond) {
    std::cerr << "FAIL: " << msg << "\n";
    ++g_failures;
  } else {
    std::cerr << "ok: " << msg << "\n";
  }
}

// Checks the ELF core header and program headers of `path` against its size; returns the sum of
// PT_LOAD p_filesz, or 0 after reporting a failure.
std::uint64_t check_elf(const std::string& path, std::uint64_t file_size) {
  auto fd = guestdump::UniqueFd::open(path, O_RDONLY);
  if (!fd) {
    expect(false, fd.error().what());
    return 0;
  }
  Elf64_Ehdr eh{};
  if (auto r =
          guestdump::pread_exact(fd->get(), std::as_writable_bytes(std::span(&eh, 1)), 0, path);
      !r) {
    expect(false, r.error().what());
    return 0;
  }
  expect(std::memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 && eh.e_ident[EI_CLASS] == ELFCLASS64,
         "saved file is ELF64");
  expect(eh.e_type == ET_CORE, "e_type is ET_CORE");
  expect(eh.e_machine == EM_X86_64, "e_machine is EM_X86_64");
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum == PN_XNUM ||
      eh.e_phoff > file_size) {
    expect(false, "program header table is sane");
    return 0;
  }
  std::vector<Elf64_Phdr> ph(eh.e_phnum);
  if (auto r = guestdump::pread_exact(fd->get(), std::as_writable_bytes(std::span(ph)), eh.e_phoff,
                                      path);
      !r) {
    expect(false, r.error().what());
    return 0;
  }
  std::uint64_t loads = 0, load_bytes = 0, notes = 0, end = 0;
  for (const auto& p : ph) {
    if (p.p_type == PT_LOAD) {
      ++loads;
      load_bytes += p.p_filesz;
    }
    if (p.p_type == PT_NOTE) ++notes;
    end = std::max<std::uint64_t>(end, p.p_offset + p.p_filesz);
  }
  // QEMU >= 7.2 also writes a section header table and a .shstrtab after the last segment.
  if (eh.e_shnum > 0 && eh.e_shentsize == sizeof(Elf64_Shdr) && eh.e_shoff < file_size) {
    std::vector<Elf64_Shdr> sh(eh.e_shnum);
    if (auto r = guestdump::pread_exact(fd->get(), std::as_writable_bytes(std::span(sh)),
                                        eh.e_shoff, path);
        !r) {
      expect(false, r.error().what());
      return 0;
    }
    end = std::max<std::uint64_t>(end, eh.e_shoff + sh.size() * sizeof(Elf64_Shdr));
    for (const auto& h : sh) {
      if (h.sh_type != SHT_NOBITS) end = std::max<std::uint64_t>(end, h.sh_offset + h.sh_size);
    }
  }
  expect(notes == 1, "one PT_NOTE");
  expect(loads >= 1, "at least one PT_LOAD");
  expect(end == file_size, "last segment or section ends at the end of the received bytes (" +
                               std::to_string(end) + " vs " + std::to_string(file_size) + ")");
  return load_bytes;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: qmp_guest_check SOCKET OUT_ELF\n";
    return 2;
  }
  const std::string sock = argv[1], out_path = argv[2];
  const auto t_start = Clock::now();

  auto c = qmp::Client::connect(sock, 60s);
  CHECK_OR_DIE(c, "connect: " << c.error().what());
  auto& client = **c;
  std::cerr << "connected: QEMU " << client.greeting().major << "." << client.greeting().minor
            << "." << client.greeting().micro << "\n";
  expect(client.greeting().major >= 2, "greeting carries QEMU's version");

  // Subscribed before anything happens, so no event of this run can be missed.
  auto events = client.event_queue();
  std::atomic<int> typed_panics{0};
  auto typed = qmp::subscribe_typed(client, [&](const qmp::TypedEvent& e) {
    if (std::holds_alternative<qmp::GuestPanicked>(e)) ++typed_panics;
  });

  auto st = qmp::query_status(client);
  CHECK_OR_DIE(st, st.error().what());
  std::cerr << "status at start: " << st->status << "\n";
  expect(st->status == "running" && st->running, "guest is running after start");

  // stop / cont and their events, in order.
  CHECK_OR_DIE(qmp::stop(client), "stop");
  auto ev = events.wait_for("STOP", 10s);
  CHECK_OR_DIE(ev, ev.error().what());
  st = qmp::query_status(client);
  CHECK_OR_DIE(st, st.error().what());
  expect(st->status == "paused" && !st->running, "status paused after stop (" + st->status + ")");
  CHECK_OR_DIE(qmp::cont(client), "cont");
  ev = events.wait_for("RESUME", 10s);
  CHECK_OR_DIE(ev, ev.error().what());
  st = qmp::query_status(client);
  CHECK_OR_DIE(st, st.error().what());
  expect(st->running, "running again after cont (" + st->status + ")");

  // The initramfs fills memory, then panics; -action panic=pause keeps the memory.
  auto t_wait = Clock::now();
  ev = events.wait_for("GUEST_PANICKED", 600s);
  CHECK_OR_DIE(ev, ev.error().what());
  auto panic_s = std::chrono::duration<double>(Clock::now() - t_wait).count();
  auto decoded = qmp::decode_event(*ev);
  CHECK_OR_DIE(decoded, decoded.error().what());
  expect(std::get<qmp::GuestPanicked>(*decoded).action == "pause", "GUEST_PANICKED action pause");
  expect(typed_panics.load() == 1, "typed subscriber saw GUEST_PANICKED once");
  st = qmp::query_status(client);
  CHECK_OR_DIE(st, st.error().what());
  expect(st->status == "guest-panicked" && !st->running, "status guest-panicked");

  auto hmp = qmp::human_monitor_command(client, "info status");
  CHECK_OR_DIE(hmp, hmp.error().what());
  expect(hmp->find("guest-panicked") != std::string::npos,
         "HMP 'info status' says guest-panicked: " + *hmp);
  auto nmi = qmp::inject_nmi(client);
  expect(nmi.has_value(), "inject-nmi accepted by the panicked guest");

  // QEMU serves one client per monitor: a second connection must fail, not hang.
  auto t_second = Clock::now();
  auto second = qmp::Client::connect(sock, 2s);
  expect(!second && Clock::now() - t_second < 10s,
         "a second client is refused: " +
             (second ? std::string("(connected)") : second.error().what()));

  // add-fd / remove-fd: QEMU answers with the fd set and its own fd number.
  {
    auto devnull = guestdump::UniqueFd::open("/dev/null", O_WRONLY);
    CHECK_OR_DIE(devnull, devnull.error().what());
    auto added = qmp::add_fd(client, devnull->get(), std::nullopt, std::string("guestdump-test"));
    CHECK_OR_DIE(added, added.error().what());
    expect(added->fd >= 0, "add-fd returned fdset " + std::to_string(added->fdset_id) + " fd " +
                               std::to_string(added->fd));
    expect(qmp::remove_fd(client, added->fdset_id).has_value(), "remove-fd of that set");
    auto unknown = qmp::remove_fd(client, 4242);
    expect(!unknown, "removing an unknown fd set fails: " +
                         (unknown ? std::string("(succeeded)") : unknown.error().what()));
  }

  auto formats = qmp::query_dump_guest_memory_capability(client);
  CHECK_OR_DIE(formats, formats.error().what());
  expect(std::find(formats->begin(), formats->end(), "elf") != formats->end(),
         "capability lists elf");

  // QEMU's own error object, mapped with command and class.
  auto bad = qmp::dump_guest_memory(client, {.protocol = qmp::fd_protocol("no-such-fd")});
  expect(!bad && bad.error().what().rfind("qmp 'dump-guest-memory': GenericError: ", 0) == 0,
         "dump to an unknown fd name fails with GenericError: " +
             (bad ? std::string("(succeeded)") : bad.error().what()));

  // The real dump: QEMU writes into a pipe whose write end it got with getfd.
  int p[2];
  CHECK_OR_DIE(::pipe2(p, O_CLOEXEC) == 0, "pipe2");
  guestdump::UniqueFd rd(p[0]), wr(p[1]);
  auto g = qmp::getfd(client, "gd-dump", wr.get());
  CHECK_OR_DIE(g, g.error().what());
  wr.reset(); // QEMU holds the only write end now: EOF when its dump closes it
  auto out = guestdump::UniqueFd::open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CHECK_OR_DIE(out, out.error().what());

  auto done_events = client.event_queue({"DUMP_COMPLETED"});
  const auto t_dump = Clock::now();
  auto d = qmp::dump_guest_memory(
      client,
      {.protocol = qmp::fd_protocol("gd-dump"), .format = "elf", .paging = false, .detach = true});
  CHECK_OR_DIE(d, d.error().what());

  // Progress from another thread while this one drains the pipe (QEMU blocks on a full pipe, so
  // the dump cannot finish unless we read).
  std::atomic<bool> reading{true};
  std::atomic<int> active_seen{0};
  std::thread poller([&] {
    while (reading) {
      auto q = qmp::query_dump(client);
      if (q && q->status == qmp::DumpStatus::kActive) ++active_seen;
      std::this_thread::sleep_for(100ms);
    }
  });
  std::uint64_t received = 0;
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(rd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::cerr << "FAIL: read pipe: " << std::strerror(errno) << "\n";
      ++g_failures;
      break;
    }
    if (n == 0) break;
    if (auto w = guestdump::write_all(
            out->get(), std::as_bytes(std::span(buf.data(), static_cast<std::size_t>(n))),
            out_path);
        !w) {
      std::cerr << "FAIL: " << w.error().what() << "\n";
      ++g_failures;
      break;
    }
    received += static_cast<std::uint64_t>(n);
  }
  reading = false;
  poller.join();
  const auto dump_s = std::chrono::duration<double>(Clock::now() - t_dump).count();
  out->reset();

  auto completed = done_events.next(60s);
  CHECK_OR_DIE(completed, completed.error().what());
  auto dc = qmp::decode_event(*completed);
  CHECK_OR_DIE(dc, dc.error().what());
  const auto& result = std::get<qmp::DumpCompleted>(*dc);
  expect(result.result.status == qmp::DumpStatus::kCompleted,
         "DUMP_COMPLETED status completed (" +
             std::string(qmp::dump_status_name(result.result.status)) + ") " + result.error);
  expect(result.result.completed == result.result.total && result.result.total > 0,
         "DUMP_COMPLETED completed == total");
  auto q = qmp::query_dump(client);
  CHECK_OR_DIE(q, q.error().what());
  expect(q->status == qmp::DumpStatus::kCompleted && q->total == result.result.total,
         "query-dump reports the completed dump");
  std::cerr << "query-dump saw 'active' " << active_seen.load() << " times during the dump\n";

  st = qmp::query_status(client);
  CHECK_OR_DIE(st, st.error().what());
  expect(st->status == "guest-panicked",
         "guest still panicked after the dump (" + st->status + ")");

  std::uint64_t load_bytes = check_elf(out_path, received);
  expect(load_bytes == result.result.total, "PT_LOAD bytes equal QEMU's dump total (" +
                                                std::to_string(load_bytes) + " vs " +
                                                std::to_string(result.result.total) + ")");

  std::cout << "{\"received\": " << received << ", \"total\": " << result.result.total
            << ", \"panic_wait_s\": " << panic_s << ", \"dump_s\": " << dump_s
            << ", \"run_s\": " << std::chrono::duration<double>(Clock::now() - t_start).count()
            << ", \"failures\": " << g_failures << "}" << std::endl;
  return g_failures == 0 ? 0 : 1;
}

// The daemon core driven through a fake hypervisor: triggers, one dump per crash (also across a
// restart and an interrupted dump), a hang found by the sampler, the crash-loop limit, retention
// beside a dump in progress, the after-dump policy (also when a dump is refused or fails), a job
// that throws, and a silent guest agent that must not delay another guest's panic dump.

#include "guestdump/host/daemon.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "guestdump/common/log.h"
#include "guestdump/host/daemon_events.h"
#include "guestdump/host/daemon_store.h"
#include "temp_dir.h"

namespace guestdump::host {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kUri = "fake:///system";

// What the fake hypervisors of a test share: the domains, what was asked of them, and hooks.
struct FakeWorld {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, DomainStatus> domains; // by UUID
  std::vector<std::string> calls;              // "resume web1", "capture web1", ...
  std::map<std::string, Clock::time_point> capture_started;
  // Returns an error to fail the capture; may throw or block. Unset: the capture succeeds.
  std::function<std::optional<Error>(const std::string& name)> capture_hook;
  // How long the guest agent of a UUID takes to (not) answer.
  std::map<std::string, std::chrono::milliseconds> agent_delay;
  // What the guest agent of a UUID answers to a ping (unset: it answers).
  std::map<std::string, AgentPing> agent_reply;
  HypervisorSink sink;

  void set(DomainStatus s) {
    std::lock_guard lock(mu);
    domains[s.uuid] = std::move(s);
  }
  void emit(WatchEventKind kind, const std::string& uuid, bool crashed = false) {
    WatchEvent e;
    e.uri = kUri;
    e.kind = kind;
    e.uuid = uuid;
    e.crashed = crashed;
    {
      std::lock_guard lock(mu);
      e.name = domains.count(uuid) ? domains[uuid].name : "";
    }
    sink(e);
  }
  void record(const std::string& call) {
    std::lock_guard lock(mu);
    calls.push_back(call);
    cv.notify_all();
  }
  bool wait_call(const std::string& call, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, timeout,
                       [&] { return std::find(calls.begin(), calls.end(), call) != calls.end(); });
  }
  bool called(const std::string& call) {
    std::lock_guard lock(mu);
    return std::find(calls.begin(), calls.end(), call) != calls.end();
  }
};

class FakeHypervisor final : public Hypervisor {
public:
  FakeHypervisor(HypervisorOptions o, HypervisorSink sink, std::shared_ptr<FakeWorld> world)
      : uri_(o.uri), world_(std::move(world)) {
    world_->sink = std::move(sink);
  }
  Result<void> start() override {
    WatchEvent e;
    e.uri = uri_;
    e.kind = WatchEventKind::kConnected;
    world_->sink(e);
    return {};
  }
  void stop() override {}
  const std::string& uri() const override { return uri_; }
  bool connected() const override { return true; }
  Result<std::vector<DomainStatus>> domains(bool) const override {
    std::lock_guard lock(world_->mu);
    std::vector<DomainStatus> out;
    for (const auto& [uuid, s] : world_->domains) out.push_back(s);
    return out;
  }
  Result<DomainStatus> domain(const std::string& uuid, bool) const override {
    std::lock_guard lock(world_->mu);
    auto it = world_->domains.find(uuid);
    if (it == world_->domains.end()) return make_error(ErrorCode::kNotFound, "no domain " + uuid);
    return it->second;
  }
  Result<AgentPing> ping_agent(const std::string& uuid, int) const override {
    agent_wait(uuid);
    world_->record("ping " + uuid);
    std::lock_guard lock(world_->mu);
    auto it = world_->agent_reply.find(uuid);
    return it == world_->agent_reply.end() ? AgentPing::kAnswered : it->second;
  }
  Result<std::uint64_t> read_vmcoreinfo_address(const std::string& uuid, int) const override {
    if (agent_wait(uuid)) return make_error(ErrorCode::kTimeout, "agent of " + uuid + " silent");
    return std::uint64_t{0x1000};
  }
  Result<void> inject_nmi(const std::string& uuid) const override { return step("nmi", uuid); }
  Result<void> resume(const std::string& uuid) const override {
    return step("resume", uuid, DomainRunState::kRunning);
  }
  Result<void> reset(const std::string& uuid) const override {
    return step("reset", uuid, DomainRunState::kRunning);
  }
  Result<void> destroy(const std::string& uuid) const override {
    return step("destroy", uuid, DomainRunState::kShutOff);
  }
  Result<void> create(const std::string& uuid) const override {
    return step("create", uuid, DomainRunState::kRunning);
  }
  Result<CaptureResult> capture(const std::string& uuid, const store::DumpStore& store,
                                const CaptureOptions& opts) const override {
    {
      std::lock_guard lock(world_->mu);
      world_->capture_started[opts.domain] = Clock::now();
    }
    world_->record("capture " + opts.domain);
    CaptureResult res;
    store::DumpMeta& m = res.meta;
    m.domain = opts.domain;
    m.uuid = uuid;
    m.trigger = std::string(policies::to_string(opts.trigger));
    m.daemon = opts.daemon_record;
    m.started_at = static_cast<std::int64_t>(std::time(nullptr));
    GUESTDUMP_TRY(store::PendingDump pending, store.begin(m));
    std::ofstream(pending.file("vmcore")) << "fake dump of " << opts.domain;
    if (world_->capture_hook) {
      if (auto err = world_->capture_hook(opts.domain)) {
        (void)pending.fail(m, err->message);
        return *err;
      }
    }
    GUESTDUMP_TRY(res.dir, pending.commit(m));
    return res;
  }

private:
  // Sleeps the agent's delay; true when the agent is silent (has a delay).
  bool agent_wait(const std::string& uuid) const {
    std::chrono::milliseconds d{0};
    {
      std::lock_guard lock(world_->mu);
      if (auto it = world_->agent_delay.find(uuid); it != world_->agent_delay.end()) d = it->second;
    }
    if (d.count() == 0) return false;
    std::this_thread::sleep_for(d);
    return true;
  }
  Result<void> step(const char* what, const std::string& uuid,
                    std::optional<DomainRunState> next = std::nullopt) const {
    {
      std::lock_guard lock(world_->mu);
      auto& s = world_->domains[uuid];
      if (next) {
        s.state = *next;
        s.panicked = false;
        s.watchdog = false;
        if (*next == DomainRunState::kRunning) s.id += 100; // a new QEMU process
      }
    }
    world_->record(std::string(what) + " " + uuid);
    return {};
  }
  std::string uri_;
  std::shared_ptr<FakeWorld> world_;
};

// Log lines, for waiting on what the daemon says.
class LogCapture {
public:
  LogCapture() {
    set_log_level(LogLevel::kDebug);
    set_log_fields_sink([this](LogLevel, std::string_view, std::string_view text,
                               std::span<const LogField> fields) {
      std::lock_guard lock(mu_);
      lines_.emplace_back(text);
      fields_.emplace_back(fields.begin(), fields.end());
      cv_.notify_all();
    });
  }
  ~LogCapture() {
    set_log_fields_sink(nullptr);
    set_log_level(LogLevel::kInfo);
  }
  bool wait_for(const std::string& needle, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return has_locked(needle); });
  }
  bool has(const std::string& needle) {
    std::lock_guard lock(mu_);
    return has_locked(needle);
  }
  bool wait_count(const std::string& needle, std::size_t n,
                  std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      std::size_t c = 0;
      for (const auto& l : lines_) c += l.find(needle) != std::string::npos ? 1 : 0;
      return c >= n;
    });
  }
  // The fields of every line that has MESSAGE_ID `id`, as key -> value maps.
  std::vector<std::map<std::string, std::string>> events(std::string_view id) {
    std::lock_guard lock(mu_);
    std::vector<std::map<std::string, std::string>> out;
    for (const LogFields& fs : fields_) {
      std::map<std::string, std::string> m;
      for (const LogField& f : fs) m[f.key] = f.value;
      if (m["MESSAGE_ID"] == id) out.push_back(m);
    }
    return out;
  }
  std::string all() {
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& l : lines_) out += l + "\n";
    return out;
  }

private:
  bool has_locked(const std::string& needle) const {
    for (const auto& l : lines_) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  std::vector<LogFields> fields_;
};

// Holds every capture until open(): a dump that is still running.
class CaptureGate {
public:
  explicit CaptureGate(FakeWorld& world) {
    world.capture_hook = [this](const std::string&) -> std::optional<Error> {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return open_; });
      return std::nullopt;
    };
  }
  void open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }

private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

DomainStatus crashed(const std::string& name, int id = 1, std::uint64_t vcpu_ns = 5'000'000'000) {
  DomainStatus s;
  s.name = name;
  s.uuid = "uuid-" + name;
  s.id = id;
  s.state = DomainRunState::kCrashed;
  s.panicked = true;
  s.memory_bytes = 64ull << 20;
  s.vcpu_time_ns = vcpu_ns;
  return s;
}

DomainStatus running(const std::string& name, int id = 1) {
  DomainStatus s = crashed(name, id);
  s.state = DomainRunState::kRunning;
  s.panicked = false;
  return s;
}

struct Fixture {
  test::TempDir tmp;
  std::shared_ptr<FakeWorld> world = std::make_shared<FakeWorld>();
  LogCapture log;

  DaemonConfig config() {
    DaemonConfig c;
    c.connect = {kUri};
    c.dump_dir = tmp.file("store");
    c.policy.min_free.percent = 0;
    c.policy.hang.timeout = policies::Duration(0); // no sampling unless a test asks
    c.policy.defaults.hang_action = policies::HangAction::kDump;
    c.stop_timeout = std::chrono::seconds(5);
    return c;
  }
  std::unique_ptr<Daemon> start(DaemonConfig c, UploadQueue::Uploader uploader = nullptr) {
    HypervisorDriver d;
    auto w = world;
    d.open = [w](const HypervisorOptions& o, HypervisorSink sink) -> std::unique_ptr<Hypervisor> {
      return std::make_unique<FakeHypervisor>(o, std::move(sink), w);
    };
    auto daemon = std::make_unique<Daemon>(std::move(c), d);
    if (uploader) daemon->set_uploader(std::move(uploader));
    auto r = daemon->start();
    EXPECT_TRUE(r) << r.error().message;
    EXPECT_TRUE(log.wait_for("reconciled " + std::string(kUri))) << log.all();
    return daemon;
  }
  // Final-named dump directories of a guest, with their meta.json status.
  std::vector<store::DumpMeta> dumps(const std::string& name) {
    std::vector<store::DumpMeta> out;
    auto store = store::DumpStore::open(tmp.file("store"));
    if (!store) return out;
    auto listed = store->list(name);
    if (!listed) return out;
    for (const store::StoredDump& d : *listed) {
      if (!d.partial && d.meta) out.push_back(*d.meta);
    }
    return out;
  }
  bool wait_dumps(const std::string& name, std::size_t n, std::chrono::milliseconds t = 10s) {
    const auto end = Clock::now() + t;
    while (Clock::now() < end) {
      if (dumps(name).size() >= n) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
};

TEST(Daemon, PanicIsDumpedOnceWithItsCrashRecord) {
  Fixture f;
  auto daemon = f.start(f.config());
  f.world->set(crashed("web1"));
  f.world->emit(WatchEventKind::kPanicked, "uuid-web1");
  ASSERT_TRUE(f.wait_dumps("web1", 1)) << f.log.all();
  auto d = f.dumps("web1");
  EXPECT_EQ(d[0].status, "complete");
  EXPECT_EQ(d[0].trigger, "panic");
  EXPECT_EQ(d[0].daemon["uri"], kUri);
  EXPECT_EQ(d[0].daemon["domain_id"], 1);
  // The same crash again (a second event, a reconnect): no second dump.
  f.world->emit(WatchEventKind::kPanicked, "uuid-web1");
  f.world->emit(WatchEventKind::kConnected, "");
  EXPECT_TRUE(f.log.wait_for("this crash is already dumped")) << f.log.all();
  daemon->stop();
  EXPECT_EQ(f.dumps("web1").size(), 1u);
}

TEST(Daemon, CrashLoadedAndWatchdogTriggers) {
  Fixture f;
  auto daemon = f.start(f.config());
  f.world->set(crashed("kd"));
  f.world->emit(WatchEventKind::kCrashLoaded, "uuid-kd");
  DomainStatus wd = running("wd");
  wd.state = DomainRunState::kPaused;
  wd.watchdog = true;
  f.world->set(wd);
  f.world->emit(WatchEventKind::kWatchdog, "uuid-wd");
  ASSERT_TRUE(f.wait_dumps("kd", 1)) << f.log.all();
  ASSERT_TRUE(f.wait_dumps("wd", 1)) << f.log.all();
  daemon->stop();
  EXPECT_EQ(f.dumps("kd")[0].trigger, "crashloaded");
  EXPECT_EQ(f.dumps("wd")[0].trigger, "watchdog");
}

TEST(Daemon, RestartReconcilesWithoutASecondDump) {
  Fixture f;
  f.world->set(crashed("web1"));
  {
    // Found crashed by the first reconcile.
    auto daemon = f.start(f.config());
    ASSERT_TRUE(f.wait_dumps("web1", 1)) << f.log.all();
    daemon->stop();
  }
  auto again = f.start(f.config());
  EXPECT_TRUE(f.log.wait_for("this crash is already dumped")) << f.log.all();
  again->stop();
  EXPECT_EQ(f.dumps("web1").size(), 1u);
}

TEST(Daemon, InterruptedDumpIsRecordedAndNotRepeated) {
  Fixture f;
  f.world->set(crashed("web1"));
  // What a daemon killed during its dump leaves: a partial directory nobody holds.
  {
    auto store = store::DumpStore::open(f.tmp.file("store"));
    ASSERT_TRUE(store);
    store::DumpMeta m;
    m.domain = "web1";
    m.uuid = "uuid-web1";
    m.trigger = "panic";
    m.started_at = 1795000000;
    m.daemon = crash_record(kUri, {1, 5'000'000'000});
    auto p = store->begin(m);
    ASSERT_TRUE(p);
    const std::string dir = p->dir();
    std::ofstream(p->file("vmcore")) << "half";
    // Keep the directory, drop the lock: move it aside and back as a dead writer would leave it.
    std::filesystem::rename(dir, f.tmp.file("aside"));
  }
  std::filesystem::rename(f.tmp.file("aside"), f.tmp.file("store/web1/.20261118T110640Z.partial"));
  auto daemon = f.start(f.config());
  EXPECT_TRUE(f.log.has("interrupted dump recorded as failed")) << f.log.all();
  EXPECT_TRUE(f.log.wait_for("this crash is already dumped")) << f.log.all();
  daemon->stop();
  auto d = f.dumps("web1");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].status, store::kInterruptedStatus);
  EXPECT_FALSE(f.world->called("capture web1"));
}

TEST(Daemon, CrashLoopLimitRefusesButStillAppliesTheAfterDumpPolicy) {
  Fixture f;
  DaemonConfig c = f.config();
  c.policy.crash_loop.dumps = 2;
  c.policy.defaults.after_dump = policies::AfterDump::kRestart;
  auto daemon = f.start(c);
  for (int crash = 1; crash <= 3; ++crash) {
    // A new crash each time: the restart gave the guest a new QEMU process.
    DomainStatus s = crashed("loop", crash, 1'000'000'000ull * static_cast<unsigned>(10 * crash));
    f.world->set(s);
    f.world->emit(WatchEventKind::kPanicked, "uuid-loop");
    ASSERT_TRUE(f.log.wait_for("after-dump for 'loop'")) << f.log.all();
    std::unique_lock lock(f.world->mu);
    ASSERT_TRUE(f.world->cv.wait_for(lock, 10s, [&] {
      return std::count(f.world->calls.begin(), f.world->calls.end(), "create uuid-loop") >= crash;
    })) << f.log.all();
  }
  daemon->stop();
  EXPECT_EQ(f.dumps("loop").size(), 2u);
  EXPECT_TRUE(f.log.has("recorded, not dumped")) << f.log.all();
}

TEST(Daemon, RetentionNeverDeletesADumpInProgress) {
  Fixture f;
  DaemonConfig c = f.config();
  c.policy.retention.keep = 1;
  // A `guestdump dump` of web1 into the same store, still being written.
  auto store = store::DumpStore::open(c.dump_dir);
  ASSERT_TRUE(store);
  auto writing = store->begin("web1", 1795000000);
  ASSERT_TRUE(writing);
  auto daemon = f.start(c);
  for (int crash = 1; crash <= 2; ++crash) {
    f.world->set(crashed("web1", crash, 1'000'000'000ull * static_cast<unsigned>(10 * crash)));
    f.world->emit(WatchEventKind::kPanicked, "uuid-web1");
    ASSERT_TRUE(f.log.wait_count("dump of 'web1' complete", static_cast<std::size_t>(crash)))
        << f.log.all();
  }
  // The second dump's retention deleted the first; the one being written stays.
  EXPECT_TRUE(f.log.wait_for("retention: deleted")) << f.log.all();
  daemon->stop();
  EXPECT_TRUE(std::filesystem::exists(writing->dir())) << f.log.all();
  EXPECT_EQ(f.dumps("web1").size(), 1u) << "keep=1 applies to finished dumps";
}

TEST(Daemon, ACrashDuringTheLastDumpIsDumpedWhenItEnds) {
  Fixture f;
  CaptureGate gate(*f.world);
  auto daemon = f.start(f.config());
  f.world->set(crashed("web1", 1, 10'000'000'000));
  f.world->emit(WatchEventKind::kPanicked, "uuid-web1");
  ASSERT_TRUE(f.log.wait_for("dumping 'web1'")) << f.log.all();
  // The guest was reset by someone else and crashed again while its dump still runs.
  f.world->set(crashed("web1", 2, 20'000'000'000));
  f.world->emit(WatchEventKind::kPanicked, "uuid-web1");
  ASSERT_TRUE(f.log.wait_for("looking again when it ends")) << f.log.all();
  gate.open();
  EXPECT_TRUE(f.wait_dumps("web1", 2)) << f.log.all();
  daemon->stop();
  auto d = f.dumps("web1");
  ASSERT_EQ(d.size(), 2u);
  std::set<int> ids;
  for (const store::DumpMeta& m : d) ids.insert(m.daemon["domain_id"].get<int>());
  EXPECT_EQ(ids, (std::set<int>{1, 2}));
}

TEST(Daemon, AfterDumpRunsWhenTheDumpFails) {
  Fixture f;
  DaemonConfig c = f.config();
  c.policy.defaults.after_dump = policies::AfterDump::kRestart;
  f.world->capture_hook = [](const std::string&) -> std::optional<Error> {
    return make_error(ErrorCode::kOs, "libvirt core dump: broken pipe");
  };
  auto daemon = f.start(c);
  f.world->set(crashed("web1"));
  f.world->emit(WatchEventKind::kPanicked, "uuid-web1");
  std::unique_lock lock(f.world->mu);
  EXPECT_TRUE(f.world->cv.wait_for(lock, 10s, [&] {
    return std::find(f.world->calls.begin(), f.world->calls.end(), "create uuid-web1") !=
           f.world->calls.end();
  })) << f.log.all();
  lock.unlock();
  daemon->stop();
  auto d = f.dumps("web1");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].status, "failed: libvirt core dump: broken pipe");
}

TEST(Daemon, AJobThatThrowsIsRecordedAndTheDaemonGoesOn) {
  Fixture f;
  f.world->capture_hook = [](const std::string& name) -> std::optional<Error> {
    if (name == "hostile") throw std::runtime_error("type_error.316: invalid UTF-8 byte");
    return std::nullopt;
  };
  auto daemon = f.start(f.config());
  f.world->set(crashed("hostile"));
  f.world->emit(WatchEventKind::kPanicked, "uuid-hostile");
  ASSERT_TRUE(f.wait_dumps("hostile", 1)) << f.log.all();
  f.world->set(crashed("honest"));
  f.world->emit(WatchEventKind::kPanicked, "uuid-honest");
  ASSERT_TRUE(f.wait_dumps("honest", 1)) << f.log.all();
  daemon->stop();
  EXPECT_EQ(f.dumps("hostile")[0].status,
            "failed: internal error: type_error.316: invalid UTF-8 byte");
  EXPECT_EQ(f.dumps("honest")[0].status, "complete");
}

TEST(Daemon, SilentAgentDoesNotDelayAnotherGuestsPanicDump) {
  Fixture f;
  auto daemon = f.start(f.config());
  f.world->set(running("quiet"));
  {
    std::lock_guard lock(f.world->mu);
    f.world->agent_delay["uuid-quiet"] = 4s;
  }
  // The agent connects and is asked for VMCOREINFO's address; it never answers in time.
  f.world->emit(WatchEventKind::kAgentConnected, "uuid-quiet");
  const auto t0 = Clock::now();
  f.world->set(crashed("web1"));
  f.world->emit(WatchEventKind::kPanicked, "uuid-web1");
  ASSERT_TRUE(f.wait_dumps("web1", 1)) << f.log.all();
  Clock::time_point started;
  {
    std::lock_guard lock(f.world->mu);
    started = f.world->capture_started["web1"];
  }
  EXPECT_LT(started - t0, 2s) << "the panic dump waited for another guest's agent";
  daemon->stop();
}

TEST(Daemon, HangFoundByTheSamplerIsDumpedOnce) {
  Fixture f;
  DaemonConfig c = f.config();
  c.policy.hang.interval = 100ms;
  c.policy.hang.timeout = 300ms;
  c.policy.hang.grace = 100ms;
  c.policy.hang.samples = 2;
  c.policy.defaults.hang_action = policies::HangAction::kDump;
  DomainStatus s = running("stuck");
  s.has_agent_channel = true;
  s.vcpu_time_ns = 1'000'000; // never advances: stalled vCPUs
  f.world->set(s);
  DomainStatus ok = running("fine");
  ok.has_agent_channel = true;
  f.world->set(ok);
  auto daemon = f.start(c);
  // The agent must answer once before its silence counts as evidence.
  ASSERT_TRUE(f.log.wait_for("'stuck': guest agent answers")) << f.log.all();
  {
    std::lock_guard lock(f.world->mu);
    f.world->agent_reply["uuid-stuck"] = AgentPing::kFailed;
  }
  ASSERT_TRUE(f.wait_dumps("stuck", 1)) << f.log.all();
  EXPECT_EQ(f.dumps("stuck")[0].trigger, "hang");
  // Latched: the same hang is not dumped again on the following samples.
  const std::size_t pings = [&] {
    std::lock_guard lock(f.world->mu);
    return static_cast<std::size_t>(
        std::count(f.world->calls.begin(), f.world->calls.end(), "ping uuid-fine"));
  }();
  const auto end = Clock::now() + 5s;
  for (;;) { // ten more samples of the healthy guest
    {
      std::lock_guard lock(f.world->mu);
      if (static_cast<std::size_t>(std::count(f.world->calls.begin(), f.world->calls.end(),
                                              "ping uuid-fine")) >= pings + 10)
        break;
    }
    ASSERT_LT(Clock::now(), end) << f.log.all();
    std::this_thread::sleep_for(20ms);
  }
  daemon->stop();
  EXPECT_EQ(f.dumps("stuck").size(), 1u) << f.log.all();
  EXPECT_TRUE(f.dumps("fine").empty()) << f.log.all();
}

TEST(Daemon, AGuestStoppedByItsCrashIsReportedNotDumped) {
  Fixture f;
  auto daemon = f.start(f.config());
  DomainStatus s = running("gone");
  s.state = DomainRunState::kShutOff;
  s.id = -1;
  f.world->set(s);
  f.world->emit(WatchEventKind::kStopped, "uuid-gone", true);
  ASSERT_TRUE(f.log.wait_for("'gone' crashed and was stopped")) << f.log.all();
  f.world->emit(WatchEventKind::kStopped, "uuid-gone", false);
  f.world->emit(WatchEventKind::kConnected, "");
  ASSERT_TRUE(f.log.wait_count("reconciled", 2)) << f.log.all();
  daemon->stop();
  EXPECT_EQ(f.log.all().find("'gone' crashed and was stopped"),
            f.log.all().rfind("'gone' crashed and was stopped"));
  EXPECT_TRUE(f.dumps("gone").empty());
}

// Xen: libvirt's libxl driver reports a PV guest's crash as STOPPED/CRASHED even with on_crash
// preserve, and keeps the domain (its id and memory; status_of() calls it panicked). The daemon
// dumps it once instead of saying there is nothing left (seen on a real Xen 4.17).
TEST(Daemon, AXenDomainKeptAfterItsCrashIsDumpedOnce) {
  Fixture f;
  auto daemon = f.start(f.config());
  DomainStatus s = running("pv3");
  s.state = DomainRunState::kShutOff;
  s.id = 7;
  s.panicked = true;
  f.world->set(s);
  f.world->emit(WatchEventKind::kStopped, "uuid-pv3", true);
  ASSERT_TRUE(f.wait_dumps("pv3", 1)) << f.log.all();
  EXPECT_EQ(f.dumps("pv3")[0].trigger, "panic");
  f.world->emit(WatchEventKind::kStopped, "uuid-pv3", true); // the same crash again
  f.world->emit(WatchEventKind::kConnected, "");
  EXPECT_TRUE(f.log.wait_for("this crash is already dumped")) << f.log.all();
  daemon->stop();
  EXPECT_EQ(f.dumps("pv3").size(), 1u) << f.log.all();
  EXPECT_EQ(f.log.all().find("nothing left to dump"), std::string::npos) << f.log.all();
}

TEST(Daemon, JournalFieldsNameTheGuestTheTriggerAndTheDump) {
  Fixture f;
  auto daemon = f.start(f.config());
  DomainStatus s = crashed("web\n1");
  s.uuid = "uuid-web1";
  f.world->set(s);
  f.world->emit(WatchEventKind::kPanicked, "uuid-web1");
  ASSERT_TRUE(f.log.wait_for("complete:")) << f.log.all();
  daemon->stop();
  for (std::string_view id :
       {message_id::kDumpQueued, message_id::kDumpStarted, message_id::kDumpComplete}) {
    auto ev = f.log.events(id);
    ASSERT_EQ(ev.size(), 1u) << id << "\n" << f.log.all();
    // Guest strings are escaped in fields as in text: no newline reaches the journal.
    EXPECT_EQ(ev[0]["GUESTDUMP_DOMAIN"], "web\\n1") << id;
    EXPECT_EQ(ev[0]["GUESTDUMP_UUID"], "uuid-web1") << id;
    EXPECT_EQ(ev[0]["GUESTDUMP_TRIGGER"], "panic") << id;
  }
  auto done = f.log.events(message_id::kDumpComplete)[0];
  EXPECT_EQ(done["GUESTDUMP_STATUS"], "complete");
  ASSERT_EQ(f.dumps("web\n1").size(), 1u);
  EXPECT_NE(done["GUESTDUMP_DUMP_DIR"].find(f.tmp.file("store")), std::string::npos)
      << done["GUESTDUMP_DUMP_DIR"];
  EXPECT_EQ(f.log.events(message_id::kAfterDump).size(), 1u) << f.log.all();
  EXPECT_TRUE(f.log.events(message_id::kDumpFailed).empty());
}

TEST(Daemon, StatusCountsWatchedGuestsRunningDumpsAndTheLastDump) {
  Fixture f;
  DaemonConfig c = f.config();
  c.policy.selection.exclude = {"skip-*"};
  f.world->set(running("a"));
  f.world->set(running("b"));
  f.world->set(running("skip-me"));
  CaptureGate gate(*f.world);
  auto daemon = f.start(c);
  DaemonStatus st = daemon->status();
  EXPECT_EQ(st.connections, 1u);
  EXPECT_EQ(st.connected, 1u);
  EXPECT_EQ(st.guests_watched, 2u);
  EXPECT_EQ(st.dumps_running, 0u);
  EXPECT_TRUE(st.last_dump.empty());
  EXPECT_TRUE(st.stuck.empty());
  f.world->set(crashed("a"));
  f.world->emit(WatchEventKind::kPanicked, "uuid-a");
  ASSERT_TRUE(f.world->wait_call("capture a")) << f.log.all();
  EXPECT_EQ(daemon->status().dumps_running, 1u);
  gate.open();
  ASSERT_TRUE(f.wait_dumps("a", 1)) << f.log.all();
  const auto end = Clock::now() + 10s;
  while (daemon->status().dumps_running != 0 && Clock::now() < end)
    std::this_thread::sleep_for(10ms);
  st = daemon->status();
  EXPECT_EQ(st.dumps_running, 0u);
  EXPECT_EQ(st.last_dump.rfind("'a' complete at 20", 0), 0u) << st.last_dump;
  const std::string line = status_line(st);
  EXPECT_NE(line.find("watching 2 guest(s) on 1/1 connection(s); 0 dump(s) running; last: 'a' "
                      "complete at"),
            std::string::npos)
      << line;
  daemon->stop();
}

TEST(Daemon, MetricsFileCountsDumpsAndRefusalsAndIsWellFormed) {
  Fixture f;
  DaemonConfig c = f.config();
  c.metrics_file = f.tmp.file("guestdumpd.prom");
  c.policy.crash_loop.dumps = 1;
  auto daemon = f.start(c);
  f.world->set(crashed("web1", 1));
  f.world->emit(WatchEventKind::kPanicked, "uuid-web1");
  ASSERT_TRUE(f.wait_dumps("web1", 1)) << f.log.all();
  // A new crash of the same guest (a new QEMU process): over the crash-loop limit.
  f.world->set(crashed("web1", 2));
  f.world->emit(WatchEventKind::kPanicked, "uuid-web1");
  ASSERT_TRUE(f.log.wait_for("recorded, not dumped")) << f.log.all();
  // The dump job counts its outcome after it has committed the dump: wait for both counts.
  const auto end = Clock::now() + 10s;
  for (std::string text = daemon->metrics_text();
       text.find("outcome=\"complete\"} 1") == std::string::npos ||
       text.find("reason=\"crash_loop\"} 1") == std::string::npos;
       text = daemon->metrics_text()) {
    ASSERT_LT(Clock::now(), end) << text;
    std::this_thread::sleep_for(10ms);
  }
  daemon->write_metrics();
  daemon->stop();
  std::ifstream in(c.metrics_file);
  ASSERT_TRUE(in) << "no metrics file";
  std::map<std::string, std::string> values;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto sp = line.rfind(' ');
    ASSERT_NE(sp, std::string::npos) << line;
    const std::string value = line.substr(sp + 1);
    ASSERT_FALSE(value.empty()) << line;
    EXPECT_NO_THROW((void)std::stod(value)) << line;
    values[line.substr(0, sp)] = value;
  }
  EXPECT_EQ(values["guestdumpd_dumps_total{trigger=\"panic\",outcome=\"complete\"}"], "1");
  EXPECT_EQ(values["guestdumpd_refusals_total{trigger=\"panic\",reason=\"crash_loop\"}"], "1");
  EXPECT_EQ(values["guestdumpd_capture_seconds_count"], "1");
  EXPECT_NE(values["guestdumpd_last_dump_timestamp_seconds"], "0");
  EXPECT_EQ(values["guestdumpd_connections"], "1");
  EXPECT_EQ(values["guestdumpd_stuck"], "0");
  EXPECT_TRUE(values.count("guestdumpd_store_free_bytes"));
  struct stat st {};
  ASSERT_EQ(::stat(c.metrics_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u) << "node-exporter must be able to read it";
}

// A remote store that records what it was given; uploads confirm the dump in meta.json as
// objstore::upload_dump does. `hold` makes an upload of a guest's dump wait until released or
// cancelled; `fail` makes them fail.
struct FakeRemote {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> uploaded; // dump directories, in order
  std::set<std::string> hold;        // domains whose upload waits
  bool fail = false;
  bool cancelled_seen = false;
  std::set<std::string> entered; // domains whose upload has started

  UploadQueue::Uploader uploader() {
    return [this](const std::string& dir,
                  const std::function<bool()>& cancelled) -> Result<UploadDone> {
      auto meta = store::read_meta(dir);
      if (!meta) return make_error(ErrorCode::kNotFound, "dump '" + dir + "' is gone");
      {
        std::unique_lock lock(mu);
        entered.insert(meta->domain);
        cv.notify_all();
        while (hold.count(meta->domain) != 0) {
          if (cancelled()) {
            cancelled_seen = true;
            cv.notify_all();
            return make_error(ErrorCode::kCancelled, "upload '" + dir + "': cancelled");
          }
          cv.wait_for(lock, 10ms);
        }
        if (fail) return make_error(ErrorCode::kOs, "PUT 'http://s3/x': HTTP 503 SlowDown");
      }
      // As objstore::upload_dump: each file's multipart state goes once the file is stored,
      // then meta.json records the upload.
      for (const char* state : {"/.vmcore.upload", "/.dmesg.txt.upload"}) {
        std::filesystem::remove(dir + state);
      }
      meta->upload = {
          {"url", "s3://bucket/p/" + meta->uuid + "/"}, {"state", "complete"}, {"finished_at", 1}};
      GUESTDUMP_CHECK(store::rewrite_meta(dir, *meta));
      std::lock_guard lock(mu);
      uploaded.push_back(dir);
      cv.notify_all();
      return UploadDone{"s3://bucket/p/" + meta->uuid + "/", 42};
    };
  }
  void release(const std::string& domain) {
    std::lock_guard lock(mu);
    hold.erase(domain);
    cv.notify_all();
  }
  std::size_t count() {
    std::lock_guard lock(mu);
    return uploaded.size();
  }
  bool wait_entered(const std::string& domain, std::chrono::milliseconds t = 10s) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, t, [&] { return entered.count(domain) != 0; });
  }
  bool wait_count(std::size_t n, std::chrono::milliseconds t = 10s) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, t, [&] { return uploaded.size() >= n; });
  }
};

// Polls `cond` for up to `t` (the upload threads report after an upload returns).
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds t = 10s) {
  const auto end = Clock::now() + t;
  while (!cond()) {
    if (Clock::now() > end) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

DaemonConfig with_upload(DaemonConfig c, std::optional<std::uint32_t> keep_local = std::nullopt) {
  c.upload = "s3://bucket/p";
  c.upload_url = objstore::S3Url{"bucket", "p"};
  c.upload_s3 = objstore::S3Config{};
  c.upload_s3->endpoint = "http://127.0.0.1:1";
  c.upload_s3->credentials.access_key_id = "AKIDTEST";
  c.keep_local = keep_local;
  c.policy.retention.keep = 0;
  return c;
}

TEST(DaemonUpload, ADumpIsUploadedInTheBackgroundWithoutHoldingUpAnotherCapture) {
  Fixture f;
  FakeRemote remote;
  remote.hold.insert("web1");
  auto c = with_upload(f.config());
  c.upload_jobs = 2;
  auto daemon = f.start(c, remote.uploader());
  f.world->set(crashed("web1"));
  f.world->emit(WatchEventKind::kPanicked, "uuid-web1");
  ASSERT_TRUE(f.wait_dumps("web1", 1)) << f.log.all();
  // web1's upload hangs; web2's panic is captured (jobs = 1) and uploaded all the same.
  f.world->set(crashed("web2"));
  f.world->emit(WatchEventKind::kPanicked, "uuid-web2");
  ASSERT_TRUE(f.wait_dumps("web2", 1)) << f.log.all();
  ASSERT_TRUE(remote.wait_count(1)) << f.log.all();
  EXPECT_TRUE(eventually([&] { return daemon->status().uploads_waiting == 1; }));
  EXPECT_NE(status_line(daemon->status()).find("1 upload(s) waiting"), std::string::npos);
  remote.release("web1");
  ASSERT_TRUE(remote.wait_count(2)) << f.log.all();
  EXPECT_TRUE(eventually([&] { return daemon->status().uploads_waiting == 0; }));
  // The upload thread logs, then counts: once counted, both are there.
  EXPECT_TRUE(eventually([&] {
    return daemon->metrics_text().find("guestdumpd_uploads_total{outcome=\"complete\"} 2") !=
           std::string::npos;
  }));
  auto events = f.log.events(message_id::kUploadComplete);
  ASSERT_EQ(events.size(), 2u) << f.log.all();
  const auto& e = events[0].at("GUESTDUMP_DOMAIN") == "web2" ? events[0] : events[1];
  EXPECT_EQ(e.at("GUESTDUMP_UUID"), "uuid-web2");
  EXPECT_EQ(e.at("GUESTDUMP_STATUS"), "complete");
  EXPECT_EQ(e.at("GUESTDUMP_UPLOAD_URL"), "s3://bucket/p/uuid-web2/");
  EXPECT_NE(e.at("GUESTDUMP_DUMP_DIR").find("/web2/"), std::string::npos);
  const std::string metrics = daemon->metrics_text();
  EXPECT_NE(metrics.find("guestdumpd_uploads_total{outcome=\"complete\"} 2"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("guestdumpd_upload_bytes_total 84"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("guestdumpd_upload_seconds_count 2"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("guestdumpd_upload_backlog 0"), std::string::npos) << metrics;
  daemon->stop();
  // Without keep-local every dump stays.
  EXPECT_EQ(f.dumps("web1").size(), 1u);
  EXPECT_EQ(f.dumps("web2").size(), 1u);
}

// Writes a finished dump of `domain` taken at `t` into the store, with meta.json `upload`.
std::string seed_dump(Fixture& f, const std::string& domain, std::int64_t t,
                      nlohmann::json upload = nullptr, const std::string& status = "") {
  auto st = store::DumpStore::open(f.tmp.file("store"));
  EXPECT_TRUE(st);
  store::DumpMeta m;
  m.domain = domain;
  m.uuid = "uuid-" + domain;
  m.started_at = t;
  auto p = st->begin(m);
  EXPECT_TRUE(p);
  std::ofstream(p->file("vmcore")) << "dump";
  m.upload = std::move(upload);
  auto dir = status.empty() ? p->commit(m) : p->fail(m, status);
  EXPECT_TRUE(dir);
  return *dir;
}

TEST(DaemonUpload, StartQueuesOnlyDumpsWhoseUploadIsNotConfirmed) {
  Fixture f;
  const std::int64_t now = std::time(nullptr);
  const nlohmann::json done = {{"url", "s3://bucket/p/x/"}, {"state", "complete"}};
  seed_dump(f, "old", now - 400, done);                         // uploaded
  const std::string cut = seed_dump(f, "cut", now - 300, done); // cut short: state file
  std::ofstream(cut + "/.vmcore.upload") << "{}";
  const std::string never = seed_dump(f, "never", now - 200);            // never uploaded
  seed_dump(f, "failed", now - 100, nullptr, "guest vanished");          // nothing to upload
  const std::string odd = seed_dump(f, "odd", now - 50, {{"state", 1}}); // not "complete"
  FakeRemote remote;
  auto daemon = f.start(with_upload(f.config()), remote.uploader());
  ASSERT_TRUE(remote.wait_count(3)) << f.log.all();
  std::this_thread::sleep_for(200ms);
  daemon->stop();
  std::lock_guard lock(remote.mu);
  // Oldest first; each once.
  EXPECT_EQ(remote.uploaded, (std::vector<std::string>{cut, never, odd}));
}

TEST(DaemonUpload, KeepLocalRemovesOnlyConfirmedUploadsBeyondTheNewest) {
  Fixture f;
  const std::int64_t now = std::time(nullptr);
  const nlohmann::json done = {{"url", "s3://bucket/p/x/"}, {"state", "complete"}};
  const std::string a = seed_dump(f, "a", now - 400, done);
  const std::string b = seed_dump(f, "b", now - 300); // not uploaded yet; its upload fails
  FakeRemote remote;
  remote.fail = true;
  auto daemon = f.start(with_upload(f.config(), 0), remote.uploader());
  // At start keep-local=0 removes the uploaded dump; b's upload fails and b stays.
  ASSERT_TRUE(f.log.wait_for("failed: PUT")) << f.log.all();
  EXPECT_TRUE(f.dumps("a").empty()) << f.log.all();
  EXPECT_EQ(f.dumps("b").size(), 1u);
  auto failed = f.log.events(message_id::kUploadFailed);
  ASSERT_FALSE(failed.empty());
  EXPECT_EQ(failed[0].at("GUESTDUMP_DOMAIN"), "b");
  EXPECT_EQ(failed[0].at("GUESTDUMP_STATUS"), "failed");
  EXPECT_EQ(failed[0].at("GUESTDUMP_UPLOAD_URL"), "s3://bucket/p");
  EXPECT_TRUE(f.log.has("trying again in 60s")) << f.log.all();
  // At least one failed attempt counted: the start scan and the first reconcile may both queue
  // b, and a second queueing ends its retry wait on purpose (UploadQueue::enqueue), so it can
  // fail twice.
  EXPECT_TRUE(eventually([&] {
    const std::string m = daemon->metrics_text();
    const std::string key = "guestdumpd_uploads_total{outcome=\"failed\"} ";
    const auto at = m.find(key);
    return at != std::string::npos && m.compare(at + key.size(), 2, "0\n") != 0;
  }));
  EXPECT_EQ(daemon->status().uploads_waiting, 1u);
  daemon->stop();
  EXPECT_EQ(f.dumps("b").size(), 1u) << "a failed upload never deletes the local dump";
  (void)a;
  (void)b;
}

TEST(DaemonUpload, KeepLocalWaitsForTheUploadOfANewDump) {
  Fixture f;
  FakeRemote remote;
  auto c = with_upload(f.config(), 1);
  auto daemon = f.start(c, remote.uploader());
  f.world->set(crashed("web1"));
  f.world->emit(WatchEventKind::kPanicked, "uuid-web1");
  ASSERT_TRUE(remote.wait_count(1)) << f.log.all();
  // The second dump's upload is held: the first (uploaded) one must stay until it is confirmed.
  remote.hold.insert("web2");
  f.world->set(crashed("web2"));
  f.world->emit(WatchEventKind::kPanicked, "uuid-web2");
  ASSERT_TRUE(f.wait_dumps("web2", 1)) << f.log.all();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(f.dumps("web1").size(), 1u) << f.log.all();
  remote.release("web2");
  ASSERT_TRUE(remote.wait_count(2)) << f.log.all();
  ASSERT_TRUE(f.log.wait_for("keep-local=1")) << f.log.all();
  EXPECT_TRUE(f.dumps("web1").empty()) << f.log.all();
  EXPECT_EQ(f.dumps("web2").size(), 1u);
  daemon->stop();
}

TEST(DaemonUpload, StopCancelsARunningUploadAtOnceAndARestartResumesIt) {
  Fixture f;
  FakeRemote remote;
  remote.hold.insert("web1");
  auto c = f.config();
  auto daemon = f.start(with_upload(c), remote.uploader());
  f.world->set(crashed("web1"));
  f.world->emit(WatchEventKind::kPanicked, "uuid-web1");
  ASSERT_TRUE(f.wait_dumps("web1", 1)) << f.log.all();
  ASSERT_TRUE(remote.wait_entered("web1")) << f.log.all();
  const auto t0 = Clock::now();
  daemon->stop();
  EXPECT_LT(Clock::now() - t0, 3s);
  EXPECT_TRUE(remote.cancelled_seen);
  EXPECT_TRUE(f.log.has("stopped; it resumes at the next start")) << f.log.all();
  EXPECT_EQ(remote.count(), 0u);
  daemon.reset();
  remote.release("web1");
  auto again = f.start(with_upload(c), remote.uploader());
  ASSERT_TRUE(remote.wait_count(1)) << f.log.all();
  again->stop();
  EXPECT_EQ(remote.count(), 1u);
}

TEST(DaemonUpload, ReloadStartsAndStopsUploads) {
  Fixture f;
  FakeRemote remote;
  const auto c = f.config();
  auto daemon = f.start(c, remote.uploader());
  f.world->set(crashed("web1"));
  f.world->emit(WatchEventKind::kPanicked, "uuid-web1");
  ASSERT_TRUE(f.wait_dumps("web1", 1)) << f.log.all();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(remote.count(), 0u); // no `upload`: nothing goes anywhere
  daemon->reload(with_upload(c));
  ASSERT_TRUE(remote.wait_count(1)) << f.log.all(); // the dump taken before is queued
  daemon->reload(c);
  EXPECT_EQ(daemon->status().uploads_waiting, 0u);
  daemon->stop();
}

} // namespace
} // namespace guestdump::host

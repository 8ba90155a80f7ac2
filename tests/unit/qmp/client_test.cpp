// qmp::Client against a scripted peer on a socketpair: handshake, routing of events and
// replies, split and coalesced reads, error objects, timeouts, fd passing, peer failures.

#include "guestdump/qmp/client.h"

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_qmp_server.h"
#include "temp_dir.h"
#include <guestdump/common/io.h>
#include <guestdump/qmp/commands.h>

namespace guestdump::qmp {
namespace {

using namespace std::chrono_literals;
using test::FakeQmpServer;

std::unique_ptr<Client> connect_to(FakeQmpServer& server, Milliseconds timeout = 5000ms) {
  auto c = Client::from_fd(server.take_client_fd(), "fake", timeout);
  if (!c) ADD_FAILURE() << c.error().what();
  return c ? std::move(*c) : nullptr;
}

TEST(QmpClient, NegotiatesCapabilitiesAndParsesTheGreeting) {
  FakeQmpServer server;
  server.greet()
      .expect("qmp_capabilities",
              [](FakeQmpServer::Received& r) {
                EXPECT_FALSE(r.message.contains("arguments"));
                EXPECT_TRUE(r.message["id"].is_string());
              })
      .reply()
      .expect("query-status")
      .reply({{"status", "running"}, {"running", true}});
  server.start();
  auto client = connect_to(server);
  ASSERT_TRUE(client);
  EXPECT_EQ(client->greeting().major, 7);
  EXPECT_EQ(client->greeting().minor, 2);
  EXPECT_EQ(client->greeting().micro, 22);
  EXPECT_EQ(client->greeting().package, "Debian 1:7.2+dfsg-7+deb12u18+b3");
  EXPECT_EQ(client->greeting().capabilities, std::vector<std::string>{"oob"});
  auto st = query_status(*client);
  ASSERT_TRUE(st) << st.error().what();
  EXPECT_EQ(st->status, "running");
  EXPECT_TRUE(st->running);
  server.finish();
  auto cmds = server.commands();
  ASSERT_EQ(cmds.size(), 2u);
  EXPECT_NE(cmds[0]["id"], cmds[1]["id"]) << "command ids must be unique";
}

TEST(QmpClient, DeliversEventsInterleavedWithReplies) {
  FakeQmpServer server;
  server.negotiate()
      .event("RTC_CHANGE", {{"offset", 1}}) // no command in flight
      .expect("stop")
      .event("STOP")
      .pause(20ms)
      .reply()
      .event("GUEST_PANICKED", {{"action", "pause"}})
      .expect("query-status")
      .event("WATCHDOG", {{"action", "pause"}})
      .reply({{"status", "guest-panicked"}, {"running", false}});
  auto client_fd = server.take_client_fd();
  server.start();
  auto c = Client::from_fd(std::move(client_fd), "fake", 5000ms);
  ASSERT_TRUE(c) << c.error().what();
  auto& client = **c;

  std::mutex m;
  std::vector<std::string> seen;
  auto sub = client.subscribe([&](const Event& e) {
    std::lock_guard lock(m);
    seen.push_back(e.name);
  });
  auto all = client.event_queue();
  auto stops = client.event_queue({"STOP", "GUEST_PANICKED"});

  ASSERT_TRUE(stop(client));
  auto ev = stops.next(2000ms);
  ASSERT_TRUE(ev) << ev.error().what();
  EXPECT_EQ(ev->name, "STOP");
  EXPECT_EQ(ev->seconds, 1700000000);
  EXPECT_EQ(ev->microseconds, 123456);
  auto st = query_status(client);
  ASSERT_TRUE(st) << st.error().what();
  EXPECT_EQ(st->status, "guest-panicked");
  EXPECT_FALSE(st->running);
  auto panic = stops.next(2000ms);
  ASSERT_TRUE(panic) << panic.error().what();
  EXPECT_EQ(panic->name, "GUEST_PANICKED");
  EXPECT_EQ(panic->data["action"], "pause");
  EXPECT_EQ(stops.size(), 0u) << "the filter must keep other events out";

  // The unfiltered queue saw everything after its creation, in wire order.
  std::vector<std::string> names;
  while (all.size() > 0) names.push_back(all.next(0ms)->name);
  server.finish();
  std::vector<std::string> expected_after{"STOP", "GUEST_PANICKED", "WATCHDOG"};
  // RTC_CHANGE may or may not have been read before the queue existed.
  if (!names.empty() && names.front() == "RTC_CHANGE") names.erase(names.begin());
  EXPECT_EQ(names, expected_after);
  std::lock_guard lock(m);
  if (!seen.empty() && seen.front() == "RTC_CHANGE") seen.erase(seen.begin());
  EXPECT_EQ(seen, expected_after);
}

TEST(QmpClient, HandlesOneByteReads) {
  FakeQmpServer server;
  server.send_split(test::greeting_line())
      .expect("qmp_capabilities")
      .send_split_with_id([](const std::string& id) { return test::reply_line(id, {}); })
      .expect("query-dump")
      .send_split_with_id([](const std::string& id) {
        return test::event_line("STOP") +
               test::reply_line(id,
                                {{"status", "active"}, {"completed", 4096}, {"total", 268435456}}) +
               test::event_line("RESUME");
      });
  server.start();
  auto client = connect_to(server);
  ASSERT_TRUE(client);
  auto events = client->event_queue();
  auto progress = query_dump(*client);
  ASSERT_TRUE(progress) << progress.error().what();
  EXPECT_EQ(progress->status, DumpStatus::kActive);
  EXPECT_EQ(progress->completed, 4096u);
  EXPECT_EQ(progress->total, 268435456u);
  auto stop_ev = events.next(2000ms);
  ASSERT_TRUE(stop_ev) << stop_ev.error().what();
  EXPECT_EQ(stop_ev->name, "STOP");
  auto resume_ev = events.next(2000ms);
  ASSERT_TRUE(resume_ev) << resume_ev.error().what();
  EXPECT_EQ(resume_ev->name, "RESUME");
  server.finish();
  EXPECT_GT(server.writes(), 300u) << "the script must really have written byte by byte";
}

// Signals without SA_RESTART interrupt poll/read/sendmsg on every thread: each must retry.
TEST(QmpClient, RetriesSystemCallsInterruptedBySignals) {
  struct sigaction sa {};
  sa.sa_handler = [](int) {};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; // no SA_RESTART: blocked calls fail with EINTR
  struct sigaction old {};
  ASSERT_EQ(::sigaction(SIGUSR1, &sa, &old), 0);
  std::atomic<bool> storm{true};
  std::atomic<int> sent{0};
  std::thread stormer([&] {
    const pid_t self = static_cast<pid_t>(::syscall(SYS_gettid));
    while (storm) {
      // Every other thread of the process, so the client's reader thread is hit too.
      for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
        pid_t tid = std::stoi(task.path().filename().string());
        if (tid != self && ::syscall(SYS_tgkill, ::getpid(), tid, SIGUSR1) == 0) ++sent;
      }
      std::this_thread::sleep_for(200us);
    }
  });
  {
    FakeQmpServer server;
    server.send_split(test::greeting_line(), 7)
        .expect("qmp_capabilities")
        .pause(30ms)
        .send_split_with_id([](const std::string& id) { return test::reply_line(id, {}); }, 5)
        .expect("stop")
        .pause(30ms)
        .send_split_with_id(
            [](const std::string& id) {
              return test::event_line("STOP") + test::reply_line(id, {});
            },
            3);
    server.start();
    auto client = connect_to(server);
    if (client) {
      auto q = client->event_queue({"STOP"});
      auto r = stop(*client);
      EXPECT_TRUE(r) << r.error().what();
      auto ev = q.next(5000ms);
      EXPECT_TRUE(ev) << ev.error().what();
    }
    server.finish();
  }
  storm = false;
  stormer.join();
  ::sigaction(SIGUSR1, &old, nullptr);
  EXPECT_GT(sent.load(), 100);
}

TEST(QmpClient, HandlesSeveralMessagesInOneRead) {
  FakeQmpServer server;
  // The greeting and a blank line in one write: the reader must keep bytes that follow the
  // greeting in the same read, and skip empty lines.
  server.send(test::greeting_line() + "\r\n")
      .expect("qmp_capabilities")
      .send_with_id([](const std::string& id) {
        return test::reply_line(id, {}) + test::event_line("RESUME") +
               test::event_line(
                   "DUMP_COMPLETED",
                   {{"result", {{"status", "completed"}, {"completed", 10}, {"total", 10}}}});
      })
      .expect("query-status")
      .expect("query-dump")
      .step([](FakeQmpServer& s) {
        // Two replies for two commands in flight, plus an event, in one write.
        auto cmds = s.commands();
        std::string a = cmds[cmds.size() - 2]["id"], b = cmds.back()["id"];
        std::string bytes =
            test::reply_line(a, {{"status", "paused"}, {"running", false}}) +
            test::event_line("STOP") +
            test::reply_line(b, {{"status", "none"}, {"completed", 0}, {"total", 0}});
        return s.write_bytes(bytes);
      });
  auto fd = server.take_client_fd();
  server.start();
  auto c = Client::from_fd(std::move(fd), "fake", 5000ms);
  ASSERT_TRUE(c) << c.error().what();
  auto& client = **c;
  auto events = client.event_queue();
  // Both commands are in flight together: the second is sent before the first is answered.
  auto status_f = std::async(std::launch::async, [&] { return query_status(client); });
  std::this_thread::sleep_for(50ms);
  auto dump_f = std::async(std::launch::async, [&] { return query_dump(client); });
  auto st = status_f.get();
  auto dq = dump_f.get();
  ASSERT_TRUE(st) << st.error().what();
  ASSERT_TRUE(dq) << dq.error().what();
  EXPECT_EQ(st->status, "paused");
  EXPECT_EQ(dq->status, DumpStatus::kNone);
  auto ev = events.wait_for("STOP", 2000ms);
  ASSERT_TRUE(ev) << ev.error().what();
  server.finish();
}

TEST(QmpClient, MapsErrorObjectsToErrors) {
  FakeQmpServer server;
  server.negotiate()
      .expect("dump-guest-memory")
      .reply_error("GenericError", "There is a dump in process, please wait.")
      .expect("no-such-command")
      .reply_error("CommandNotFound", "The command no-such-command has not been found")
      .expect("closefd")
      .reply_error("GenericError", "File descriptor named 'x' not found")
      .expect("query-status")
      .reply({{"status", "running"}, {"running", true}});
  server.start();
  auto client = connect_to(server);
  ASSERT_TRUE(client);
  auto r = dump_guest_memory(*client, {.protocol = "fd:dump"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().what(),
            "qmp 'dump-guest-memory': GenericError: There is a dump in process, please wait.");
  auto raw = client->execute_raw("no-such-command");
  ASSERT_TRUE(raw) << raw.error().what();
  EXPECT_TRUE(raw->failed);
  EXPECT_EQ(raw->error.error_class, "CommandNotFound");
  EXPECT_EQ(command_error("no-such-command", raw->error).code, ErrorCode::kUnsupported);
  auto cf = closefd(*client, "x");
  ASSERT_FALSE(cf);
  EXPECT_NE(cf.error().what().find("qmp 'closefd': GenericError"), std::string::npos);
  // The session stays usable after errors.
  EXPECT_TRUE(query_status(*client));
  server.finish();
}

TEST(QmpClient, TimesOutAndDropsTheLateReply) {
  FakeQmpServer server;
  server.negotiate()
      .expect("query-status")
      .wait_release() // never answer in time
      .reply({{"status", "late"}, {"running", false}})
      .expect("query-status")
      .reply({{"status", "running"}, {"running", true}});
  server.start();
  auto client = connect_to(server);
  ASSERT_TRUE(client);
  auto t0 = std::chrono::steady_clock::now();
  auto r = client->execute("query-status", Json::object(), 300ms);
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
  EXPECT_EQ(r.error().what(), "qmp 'query-status': no reply from 'fake' within 300 ms");
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 2000ms);
  server.release();
  // The late answer to the first command must not be taken for the second one's.
  auto st = query_status(*client);
  ASSERT_TRUE(st) << st.error().what();
  EXPECT_EQ(st->status, "running");
  server.finish();
}

TEST(QmpClient, PassesDescriptorsWithGetfdAndAddFd) {
  guestdump::test::TempDir dir;
  const std::string path = dir.file("target");
  { std::ofstream(path) << "x"; }
  auto file = UniqueFd::open(path, O_RDWR);
  ASSERT_TRUE(file) << file.error().what();
  struct stat want {};
  ASSERT_EQ(::fstat(file->get(), &want), 0);

  auto same_file = [want](FakeQmpServer::Received& r) {
    ASSERT_EQ(r.fds.size(), 1u) << "exactly one SCM_RIGHTS descriptor expected";
    struct stat got {};
    ASSERT_EQ(::fstat(r.fds[0].get(), &got), 0);
    EXPECT_EQ(got.st_ino, want.st_ino);
    EXPECT_EQ(got.st_dev, want.st_dev);
    // Write through the received descriptor: the test reads it back from the path.
    EXPECT_EQ(::pwrite(r.fds[0].get(), "Q", 1, 1), 1);
  };
  FakeQmpServer server;
  server.negotiate()
      .expect("getfd",
              [&](FakeQmpServer::Received& r) {
                EXPECT_EQ(r.message["arguments"]["fdname"], "dump");
                same_file(r);
              })
      .reply()
      .expect("add-fd",
              [&](FakeQmpServer::Received& r) {
                EXPECT_EQ(r.message["arguments"]["opaque"], "guestdump");
                EXPECT_FALSE(r.message["arguments"].contains("fdset-id"));
                same_file(r);
              })
      .reply({{"fdset-id", 1}, {"fd", 42}})
      .expect("query-status", [](FakeQmpServer::Received& r) { EXPECT_TRUE(r.fds.empty()); })
      .reply({{"status", "running"}, {"running", true}});
  server.start();
  auto client = connect_to(server);
  ASSERT_TRUE(client);
  auto g = getfd(*client, "dump", file->get());
  ASSERT_TRUE(g) << g.error().what();
  auto a = add_fd(*client, file->get(), std::nullopt, std::string("guestdump"));
  ASSERT_TRUE(a) << a.error().what();
  EXPECT_EQ(a->fdset_id, 1);
  EXPECT_EQ(a->fd, 42);
  EXPECT_TRUE(query_status(*client));
  server.finish();
  std::ifstream in(path);
  std::string content;
  std::getline(in, content);
  EXPECT_EQ(content, "xQ");
}

TEST(QmpClient, PeerClosingMidCommandFailsEveryWaiter) {
  FakeQmpServer server;
  server.negotiate().expect("dump-guest-memory").expect("query-dump").pause(50ms).close();
  server.start();
  auto client = connect_to(server);
  ASSERT_TRUE(client);
  auto events = client->event_queue({"DUMP_COMPLETED"});
  auto dump_f = std::async(std::launch::async, [&] {
    return dump_guest_memory(*client, {.protocol = "fd:dump", .detach = false}, 10000ms);
  });
  std::this_thread::sleep_for(50ms);
  auto query_f = std::async(std::launch::async, [&] { return query_dump(*client); });
  auto ev_f = std::async(std::launch::async, [&] { return events.next(10000ms); });
  auto d = dump_f.get();
  auto q = query_f.get();
  auto ev = ev_f.get();
  ASSERT_FALSE(d);
  ASSERT_FALSE(q);
  ASSERT_FALSE(ev);
  EXPECT_EQ(d.error().code, ErrorCode::kProtocol);
  EXPECT_EQ(d.error().what(), "qmp 'dump-guest-memory': connection to 'fake' closed by peer");
  EXPECT_EQ(q.error().what(), "qmp 'query-dump': connection to 'fake' closed by peer");
  EXPECT_EQ(ev.error().what(), "waiting for an event: connection to 'fake' closed by peer");
  EXPECT_TRUE(client->closed());
  auto after = query_status(*client);
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().what(), "qmp 'query-status': connection to 'fake' closed by peer");
  server.finish();
}

TEST(QmpClient, MalformedLineBreaksTheSession) {
  FakeQmpServer server;
  server.negotiate().expect("query-status").send("{\"return\": {\"status\": \r\n");
  server.start();
  auto client = connect_to(server);
  ASSERT_TRUE(client);
  auto r = query_status(*client);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kProtocol);
  EXPECT_NE(r.error().what().find("qmp 'query-status': qmp 'fake': malformed JSON from peer: "
                                  "{\"return\": {\"status\": "),
            std::string::npos)
      << r.error().what();
  server.finish();
}

TEST(QmpClient, RejectsAGreetingWithoutCapabilities) {
  FakeQmpServer server;
  server.send("{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7}}}}\r\n");
  server.start();
  auto c = Client::from_fd(server.take_client_fd(), "fake", 2000ms);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kProtocol);
  EXPECT_NE(c.error().what().find("qmp 'fake': greeting has no capabilities"), std::string::npos)
      << c.error().what();
  server.finish();
}

TEST(QmpClient, RejectsSomethingElseThanAGreeting) {
  FakeQmpServer server;
  server.send(test::event_line("STOP"));
  server.start();
  auto c = Client::from_fd(server.take_client_fd(), "fake", 2000ms);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().what().find("expected a QMP greeting"), std::string::npos);
  server.finish();
}

TEST(QmpClient, TimesOutWithoutAGreeting) {
  FakeQmpServer server; // says nothing, like a monitor that already has a client
  auto t0 = std::chrono::steady_clock::now();
  auto c = Client::from_fd(server.take_client_fd(), "fake", 300ms);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kTimeout);
  EXPECT_NE(c.error().what().find("no greeting within 300 ms"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2000ms);
}

TEST(QmpClient, FailsWhenCapabilitiesAreRefused) {
  FakeQmpServer server;
  server.greet().expect("qmp_capabilities").reply_error("GenericError", "no");
  server.start();
  auto c = Client::from_fd(server.take_client_fd(), "fake", 2000ms);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().what(), "qmp 'qmp_capabilities': GenericError: no");
  server.finish();
}

TEST(QmpClient, ReplyWithoutIdGoesToTheOldestCommand) {
  FakeQmpServer server;
  server.negotiate()
      .expect("query-status")
      .send("{\"return\": {\"status\": \"paused\", \"running\": false}}\r\n");
  server.start();
  auto client = connect_to(server);
  ASSERT_TRUE(client);
  auto st = query_status(*client);
  ASSERT_TRUE(st) << st.error().what();
  EXPECT_EQ(st->status, "paused");
  server.finish();
}

TEST(QmpClient, CallbackMayNotExecuteCommands) {
  FakeQmpServer server;
  server.negotiate()
      .expect("query-status")
      .event("STOP")
      .reply({{"status", "paused"}, {"running", false}})
      .expect("query-status")
      .reply({{"status", "paused"}, {"running", false}});
  auto fd = server.take_client_fd();
  std::promise<Result<RunStatus>> inner;
  auto inner_f = inner.get_future();
  std::unique_ptr<Client> client;
  server.start();
  auto c = Client::from_fd(std::move(fd), "fake", 5000ms);
  ASSERT_TRUE(c) << c.error().what();
  client = std::move(*c);
  std::atomic<bool> once{false};
  auto sub = client->subscribe(
      [&](const Event&) {
        if (!once.exchange(true)) inner.set_value(query_status(*client));
      },
      {"STOP"});
  EXPECT_TRUE(query_status(*client)); // its STOP event triggers the callback
  ASSERT_EQ(inner_f.wait_for(5s), std::future_status::ready);
  auto r = inner_f.get();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().what().find("called from an event callback"), std::string::npos);
  EXPECT_TRUE(query_status(*client)); // the reader thread survived
  server.finish();
}

TEST(QmpClient, SubscriptionStopsDelivery) {
  FakeQmpServer server;
  server.negotiate()
      .event("STOP")
      .expect("query-status")
      .reply({{"status", "paused"}, {"running", false}})
      .expect("cont")
      .event("RESUME")
      .reply();
  std::atomic<int> calls{0};
  auto fd = server.take_client_fd();
  server.start();
  auto c = Client::from_fd(std::move(fd), "fake", 5000ms);
  ASSERT_TRUE(c) << c.error().what();
  auto sub = (*c)->subscribe([&](const Event&) { ++calls; });
  auto q = (*c)->event_queue({"RESUME"});
  ASSERT_TRUE(query_status(**c)); // STOP is routed before this reply
  int before = calls.load();
  sub.reset();
  ASSERT_TRUE(cont(**c));
  ASSERT_TRUE(q.next(2000ms));
  EXPECT_EQ(calls.load(), before) << "no call after the subscription is gone";
  server.finish();
}

TEST(QmpClient, CallbacksRunBeforeQueuesWake) {
  FakeQmpServer server;
  // The events follow the reply to a command sent once both listeners exist, so none can
  // reach only one of them however slowly this test gets scheduled.
  server.negotiate().expect("query-status").reply({{"status", "running"}, {"running", true}});
  for (int i = 0; i < 50; ++i) server.event("GUEST_PANICKED", {{"action", "pause"}});
  server.start();
  auto client = connect_to(server);
  ASSERT_TRUE(client);
  std::atomic<int> calls{0};
  auto sub = client->subscribe([&](const Event&) {
    std::this_thread::sleep_for(1ms); // a slow callback must still finish first
    ++calls;
  });
  auto q = client->event_queue();
  ASSERT_TRUE(query_status(*client));
  for (int i = 1; i <= 50; ++i) {
    auto ev = q.next(5000ms);
    ASSERT_TRUE(ev) << ev.error().what();
    EXPECT_GE(calls.load(), i) << "queue woke before the callback for event " << i;
  }
  server.finish();
}

TEST(QmpClient, CallbackMayUnsubscribeItself) {
  FakeQmpServer server;
  server.negotiate()
      .expect("query-status")
      .event("STOP")
      .event("STOP")
      .reply({{"status", "paused"}, {"running", false}});
  server.start();
  auto client = connect_to(server);
  ASSERT_TRUE(client);
  int calls = 0;
  auto probe = std::make_shared<int>(7); // a capture that must stay valid during the call
  Subscription sub;
  sub = client->subscribe([&calls, &sub, probe](const Event&) {
    ++calls;
    sub.reset();
    EXPECT_EQ(*probe, 7);
  });
  ASSERT_TRUE(query_status(*client));
  server.finish();
  EXPECT_EQ(calls, 1);
}

TEST(QmpClient, EventQueueOutlivesItsClient) {
  FakeQmpServer server;
  server.negotiate();
  server.start();
  auto client = connect_to(server);
  ASSERT_TRUE(client);
  auto q = client->event_queue();
  client.reset();
  auto ev = q.next(1000ms);
  ASSERT_FALSE(ev);
  EXPECT_NE(ev.error().what().find("closed by the client"), std::string::npos);
  server.finish();
}

TEST(QmpClient, ConnectsToAUnixSocketPath) {
  guestdump::test::TempDir dir;
  const std::string path = dir.file("qmp.sock");
  // Nobody listens yet: connect() keeps retrying until the deadline.
  auto t0 = std::chrono::steady_clock::now();
  auto missing = Client::connect(path, 200ms);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().what(), "connect '" + path +
                                        "': No such file or directory (gave up waiting for the "
                                        "socket)");
  EXPECT_EQ(missing.error().sys_errno, ENOENT);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 200ms);

  auto listener_f = std::async(std::launch::async, [&]() -> std::string {
    std::this_thread::sleep_for(100ms); // connect() starts before the socket exists
    UniqueFd l(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    if (::bind(l.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return "bind";
    if (::listen(l.get(), 1) != 0) return "listen";
    UniqueFd conn(::accept(l.get(), nullptr, nullptr));
    if (!conn.valid()) return "accept";
    std::string g = test::greeting_line();
    if (::write(conn.get(), g.data(), g.size()) != static_cast<ssize_t>(g.size())) return "write";
    std::string in;
    char ch;
    while (in.find('\n') == std::string::npos && ::read(conn.get(), &ch, 1) == 1) in += ch;
    Json cmd = Json::parse(in, nullptr, false);
    if (cmd.is_discarded() || cmd["execute"] != "qmp_capabilities") return "bad command " + in;
    std::string r = test::reply_line(cmd["id"], Json::object());
    if (::write(conn.get(), r.data(), r.size()) != static_cast<ssize_t>(r.size())) return "write";
    std::this_thread::sleep_for(100ms);
    return "";
  });
  auto c = Client::connect(path, 5000ms);
  ASSERT_TRUE(c) << c.error().what();
  EXPECT_EQ((*c)->name(), path);
  EXPECT_EQ(listener_f.get(), "");
}

TEST(QmpClient, RejectsAnOverlongSocketPath) {
  auto c = Client::connect("/tmp/" + std::string(200, 'x'), 100ms);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
}

// The cancel flag is process-wide and cannot be cleared, so this runs in a child process.
TEST(QmpClient, HonoursTheCancelFlagWhileWaiting) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int rc = 0;
    {
      FakeQmpServer server;
      server.negotiate().expect("dump-guest-memory").pause(1000ms);
      server.start();
      auto c = Client::from_fd(server.take_client_fd(), "fake", 5000ms);
      if (!c) ::_exit(10);
      std::thread canceller([] {
        std::this_thread::sleep_for(200ms);
        request_cancel();
      });
      auto t0 = std::chrono::steady_clock::now();
      auto r = dump_guest_memory(**c, {.protocol = "fd:x", .detach = false}, 60000ms);
      auto took = std::chrono::steady_clock::now() - t0;
      canceller.join();
      if (r)
        rc = 11;
      else if (r.error().code != ErrorCode::kCancelled)
        rc = 12;
      else if (r.error().what() != "qmp 'dump-guest-memory' on 'fake': cancelled")
        rc = 13;
      else if (took > 800ms)
        rc = 14;
      auto q = (*c)->event_queue();
      auto ev = q.next(60000ms);
      if (ev || ev.error().code != ErrorCode::kCancelled) rc = rc ? rc : 15;
    }
    ::_exit(rc);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "child failed check " << WEXITSTATUS(status);
}

} // namespace
} // namespace guestdump::qmp

// Typed QMP events and the typed command wrappers' reply validation.

#include "guestdump/qmp/events.h"

#include <gtest/gtest.h>

#include "fake_qmp_server.h"
#include <guestdump/qmp/commands.h>

namespace guestdump::qmp {
namespace {

using namespace std::chrono_literals;
using test::FakeQmpServer;

Event make_event(std::string name, Json data) {
  return Event{std::move(name), std::move(data), 1, 2};
}

TEST(QmpEvents, DecodesGuestPanicked) {
  auto t = decode_event(make_event("GUEST_PANICKED", {{"action", "pause"}}));
  ASSERT_TRUE(t) << t.error().what();
  auto* p = std::get_if<GuestPanicked>(&*t);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->action, "pause");
  EXPECT_TRUE(p->info.is_null());

  auto hv = decode_event(make_event(
      "GUEST_PANICKED", {{"action", "run"}, {"info", {{"type", "hyper-v"}, {"arg1", 30}}}}));
  ASSERT_TRUE(hv);
  EXPECT_EQ(std::get<GuestPanicked>(*hv).info["arg1"], 30);
}

TEST(QmpEvents, DecodesCrashloadedStopResumeWatchdog) {
  auto c = decode_event(make_event("GUEST_CRASHLOADED", {{"action", "run"}}));
  ASSERT_TRUE(c);
  EXPECT_EQ(std::get<GuestCrashloaded>(*c).action, "run");
  auto s = decode_event(make_event("STOP", Json::object()));
  ASSERT_TRUE(s);
  EXPECT_TRUE(std::holds_alternative<Stop>(*s));
  auto r = decode_event(make_event("RESUME", Json::object()));
  ASSERT_TRUE(r);
  EXPECT_TRUE(std::holds_alternative<Resume>(*r));
  auto w = decode_event(make_event("WATCHDOG", {{"action", "inject-nmi"}}));
  ASSERT_TRUE(w);
  EXPECT_EQ(std::get<Watchdog>(*w).action, "inject-nmi");
}

TEST(QmpEvents, DecodesDumpCompleted) {
  auto ok = decode_event(make_event(
      "DUMP_COMPLETED",
      {{"result", {{"status", "completed"}, {"completed", 268435456}, {"total", 268435456}}}}));
  ASSERT_TRUE(ok) << ok.error().what();
  const auto& d = std::get<DumpCompleted>(*ok);
  EXPECT_EQ(d.result.status, DumpStatus::kCompleted);
  EXPECT_EQ(d.result.total, 268435456u);
  EXPECT_TRUE(d.error.empty());

  auto failed = decode_event(make_event(
      "DUMP_COMPLETED", {{"result", {{"status", "failed"}, {"completed", 4096}, {"total", 8192}}},
                         {"error", "dump: failed to save memory: No space left on device"}}));
  ASSERT_TRUE(failed);
  EXPECT_EQ(std::get<DumpCompleted>(*failed).result.status, DumpStatus::kFailed);
  EXPECT_EQ(std::get<DumpCompleted>(*failed).error,
            "dump: failed to save memory: No space left on device");
}

TEST(QmpEvents, RejectsMalformedData) {
  auto no_action = decode_event(make_event("GUEST_PANICKED", Json::object()));
  ASSERT_FALSE(no_action);
  EXPECT_EQ(no_action.error().code, ErrorCode::kProtocol);
  EXPECT_EQ(no_action.error().what(), "qmp event GUEST_PANICKED: data lacks string 'action'");
  auto bad_status = decode_event(make_event(
      "DUMP_COMPLETED", {{"result", {{"status", "weird"}, {"completed", 0}, {"total", 0}}}}));
  ASSERT_FALSE(bad_status);
  EXPECT_NE(bad_status.error().what().find("unknown dump status 'weird'"), std::string::npos);
  auto negative = decode_event(make_event(
      "DUMP_COMPLETED", {{"result", {{"status", "active"}, {"completed", -1}, {"total", 0}}}}));
  ASSERT_FALSE(negative);
  EXPECT_NE(negative.error().what().find("'completed' is not a non-negative integer"),
            std::string::npos);
  auto no_result = decode_event(make_event("DUMP_COMPLETED", Json::object()));
  ASSERT_FALSE(no_result);
}

TEST(QmpEvents, KeepsOtherEventsRaw) {
  auto t = decode_event(make_event("RESET", {{"guest", true}, {"reason", "guest-reset"}}));
  ASSERT_TRUE(t);
  const auto* raw = std::get_if<Event>(&*t);
  ASSERT_NE(raw, nullptr);
  EXPECT_EQ(raw->name, "RESET");
  EXPECT_EQ(raw->data["reason"], "guest-reset");
}

TEST(QmpEvents, TypedSubscriptionDeliversDecodedEvents) {
  FakeQmpServer server;
  server.negotiate()
      .expect("cont")
      .event("RESUME")
      .event("GUEST_PANICKED", {{"action", "pause"}})
      .event("GUEST_PANICKED", {{"no-action", 1}}) // malformed: delivered raw
      .event("SHUTDOWN", {{"guest", true}, {"reason", "guest-panic"}})
      .reply();
  server.start();
  auto c = Client::from_fd(server.take_client_fd(), "fake", 5000ms);
  ASSERT_TRUE(c) << c.error().what();
  std::vector<std::size_t> kinds;
  std::mutex m;
  auto sub = subscribe_typed(**c, [&](const TypedEvent& e) {
    std::lock_guard lock(m);
    kinds.push_back(e.index());
  });
  ASSERT_TRUE(cont(**c));
  server.finish();
  std::lock_guard lock(m);
  // Resume, GuestPanicked, raw (malformed panic), raw (SHUTDOWN).
  EXPECT_EQ(kinds, (std::vector<std::size_t>{4, 0, 6, 6}));
}

TEST(QmpCommands, SendsDumpGuestMemoryArguments) {
  FakeQmpServer server;
  server.negotiate()
      .expect("query-dump-guest-memory-capability")
      .reply({{"formats", {"elf", "kdump-zlib", "win-dmp"}}})
      .expect("dump-guest-memory",
              [](FakeQmpServer::Received& r) {
                const auto& a = r.message["arguments"];
                EXPECT_EQ(a["protocol"], "fd:guestdump");
                EXPECT_EQ(a["format"], "elf");
                EXPECT_EQ(a["paging"], false);
                EXPECT_EQ(a["detach"], true);
              })
      .reply()
      .expect("dump-guest-memory",
              [](FakeQmpServer::Received& r) {
                const auto& a = r.message["arguments"];
                EXPECT_EQ(a["protocol"], "file:/tmp/x.kdump");
                EXPECT_EQ(a["format"], "kdump-zlib");
                EXPECT_EQ(a["detach"], false);
              })
      .reply()
      .expect("inject-nmi")
      .reply()
      .expect("human-monitor-command",
              [](FakeQmpServer::Received& r) {
                EXPECT_EQ(r.message["arguments"]["command-line"], "info ramblock");
              })
      .reply("Block Name  PSize\r\n")
      .expect("remove-fd",
              [](FakeQmpServer::Received& r) {
                EXPECT_EQ(r.message["arguments"]["fdset-id"], 3);
                EXPECT_FALSE(r.message["arguments"].contains("fd"));
              })
      .reply();
  server.start();
  auto c = Client::from_fd(server.take_client_fd(), "fake", 5000ms);
  ASSERT_TRUE(c) << c.error().what();
  auto& client = **c;
  auto formats = query_dump_guest_memory_capability(client);
  ASSERT_TRUE(formats) << formats.error().what();
  EXPECT_EQ(*formats, (std::vector<std::string>{"elf", "kdump-zlib", "win-dmp"}));
  EXPECT_TRUE(dump_guest_memory(client, {.protocol = fd_protocol("guestdump")}));
  EXPECT_TRUE(dump_guest_memory(
      client,
      {.protocol = file_protocol("/tmp/x.kdump"), .format = "kdump-zlib", .detach = false}));
  EXPECT_TRUE(inject_nmi(client));
  auto hmp = human_monitor_command(client, "info ramblock");
  ASSERT_TRUE(hmp) << hmp.error().what();
  EXPECT_EQ(*hmp, "Block Name  PSize\r\n");
  EXPECT_TRUE(remove_fd(client, 3));
  server.finish();
}

TEST(QmpCommands, RejectsBadProtocolWithoutSending) {
  FakeQmpServer server;
  server.negotiate();
  server.start();
  auto c = Client::from_fd(server.take_client_fd(), "fake", 5000ms);
  ASSERT_TRUE(c);
  auto r = dump_guest_memory(**c, {.protocol = "/tmp/x"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  server.finish();
  EXPECT_EQ(server.commands().size(), 1u); // only qmp_capabilities
}

TEST(QmpCommands, ValidatesReplyShapes) {
  FakeQmpServer server;
  server.negotiate()
      .expect("query-status")
      .reply({{"status", "running"}}) // no "running"
      .expect("query-status")
      .reply({{"status", 3}, {"running", true}})
      .expect("query-dump")
      .reply({{"status", "active"}, {"completed", "many"}, {"total", 1}})
      .expect("query-dump-guest-memory-capability")
      .reply({{"formats", "elf"}})
      .expect("add-fd")
      .reply({{"fdset-id", 0}})
      .expect("human-monitor-command")
      .reply(Json::object());
  server.start();
  auto c = Client::from_fd(server.take_client_fd(), "fake", 5000ms);
  ASSERT_TRUE(c);
  auto& client = **c;
  auto s1 = query_status(client);
  ASSERT_FALSE(s1);
  EXPECT_EQ(s1.error().what(), "qmp 'query-status': reply lacks 'running'");
  auto s2 = query_status(client);
  ASSERT_FALSE(s2);
  EXPECT_EQ(s2.error().what(), "qmp 'query-status': reply 'status' is not a string");
  auto d = query_dump(client);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, ErrorCode::kProtocol);
  auto f = query_dump_guest_memory_capability(client);
  ASSERT_FALSE(f);
  int fd = 0;
  auto a = add_fd(client, fd);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().what(), "qmp 'add-fd': reply lacks 'fd'");
  auto h = human_monitor_command(client, "info status");
  ASSERT_FALSE(h);
  server.finish();
}

TEST(QmpCommands, NamesDumpStatuses) {
  EXPECT_EQ(dump_status_name(DumpStatus::kNone), "none");
  EXPECT_EQ(dump_status_name(DumpStatus::kActive), "active");
  EXPECT_EQ(dump_status_name(DumpStatus::kCompleted), "completed");
  EXPECT_EQ(dump_status_name(DumpStatus::kFailed), "failed");
}

} // namespace
} // namespace guestdump::qmp

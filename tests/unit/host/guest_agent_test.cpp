// Guest-agent reads of /sys/kernel/vmcoreinfo: commands and reply parsing, without an agent.

#include "guestdump/host/guest_agent.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace guestdump::host {
namespace {

TEST(GuestAgent, Commands) {
  auto open = nlohmann::json::parse(agent_file_open_command(kSysfsVmcoreinfo));
  EXPECT_EQ(open["execute"], "guest-file-open");
  EXPECT_EQ(open["arguments"]["path"], "/sys/kernel/vmcoreinfo");
  EXPECT_EQ(open["arguments"]["mode"], "r");
  auto read = nlohmann::json::parse(agent_file_read_command(1000, 256));
  EXPECT_EQ(read["execute"], "guest-file-read");
  EXPECT_EQ(read["arguments"]["handle"], 1000);
  EXPECT_EQ(read["arguments"]["count"], 256);
  auto close = nlohmann::json::parse(agent_file_close_command(1000));
  EXPECT_EQ(close["execute"], "guest-file-close");
  EXPECT_EQ(close["arguments"]["handle"], 1000);
}

TEST(GuestAgent, FileHandle) {
  EXPECT_EQ(parse_agent_file_handle(R"({"return": 1000})"), 1000);
  EXPECT_FALSE(parse_agent_file_handle(R"({"return": "x"})"));
  EXPECT_FALSE(parse_agent_file_handle(R"({"error": {"class": "GenericError"}})"));
  EXPECT_FALSE(parse_agent_file_handle("not json"));
}

TEST(GuestAgent, FileReadDecodesBase64) {
  // "0x00000000011de000 1024\n" as the agent returns it.
  const char* reply =
      R"({"return": {"count": 24, "buf-b64": "MHgwMDAwMDAwMDAxMWRlMDAwIDEwMjQK", "eof": true}})";
  auto text = parse_agent_file_read(reply);
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, "0x00000000011de000 1024\n");
  EXPECT_EQ(vmcoreinfo_address(*text), 0x11de000u);
  EXPECT_EQ(parse_agent_file_read(R"({"return": {"count": 2, "buf-b64": "aGk=", "eof": true}})"),
            "hi");
  // count disagreeing with the data, bad characters, data after padding, missing members
  EXPECT_FALSE(
      parse_agent_file_read(R"({"return": {"count": 3, "buf-b64": "aGk=", "eof": true}})"));
  EXPECT_FALSE(
      parse_agent_file_read(R"({"return": {"count": 2, "buf-b64": "a*k=", "eof": true}})"));
  EXPECT_FALSE(
      parse_agent_file_read(R"({"return": {"count": 2, "buf-b64": "aG=k", "eof": true}})"));
  EXPECT_FALSE(parse_agent_file_read(R"({"return": {"buf-b64": "aGk="}})"));
  EXPECT_FALSE(parse_agent_file_read(R"({"return": {"count": -1, "buf-b64": ""}})"));
  EXPECT_FALSE(vmcoreinfo_address("garbage"));
}

// The agent runs in the guest: a reply nested 300000 levels deep must be refused, not copied
// (copying a json value recurses per level and would overflow the daemon's stack).
TEST(GuestAgent, DeeplyNestedReplyIsRefused) {
  const std::string deep(300000, '[');
  const std::string reply = R"({"return": )" + deep + std::string(deep.size(), ']') + "}";
  EXPECT_FALSE(parse_agent_file_handle(reply));
  EXPECT_FALSE(parse_agent_file_read(reply));
  const std::string deep_read = R"({"return": {"count": 0, "buf-b64": "", "x": )" + deep +
                                std::string(deep.size(), ']') + "}}";
  EXPECT_EQ(parse_agent_file_read(deep_read), "");
}

} // namespace
} // namespace guestdump::host

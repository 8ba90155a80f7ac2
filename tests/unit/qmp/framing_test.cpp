// QMP framing without a socket: the line splitter and the per-line parser that the client's
// reader thread uses (and fuzz/fuzz_qmp.cpp drives).

#include "framing.h"

#include <gtest/gtest.h>

namespace guestdump::qmp::detail {
namespace {

TEST(QmpFraming, SplitsPartialAndCoalescedReads) {
  LineSplitter lines;
  lines.append("{\"a\": 1}\r\n{\"b\"");
  auto first = lines.next_line();
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, "{\"a\": 1}");
  EXPECT_FALSE(lines.next_line());
  lines.append(": 2}\n\n");
  auto second = lines.next_line();
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, "{\"b\": 2}");
  auto empty = lines.next_line();
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, "");
  EXPECT_FALSE(lines.next_line());
  EXPECT_EQ(lines.buffered(), 0u);
}

TEST(QmpFraming, AnOverlongPartialLineIsAnOverflow) {
  LineSplitter lines(8);
  lines.append("12345678");
  EXPECT_FALSE(lines.next_line());
  EXPECT_FALSE(lines.overflow());
  lines.append("9");
  EXPECT_FALSE(lines.next_line());
  EXPECT_TRUE(lines.overflow());
}

TEST(QmpFraming, ParsesEventsAndReplies) {
  auto ev =
      parse_message(R"({"event": "STOP", "timestamp": {"seconds": 5, "microseconds": 6}})", "peer");
  ASSERT_TRUE(ev) << ev.error().what();
  const auto& e = std::get<Event>(*ev);
  EXPECT_EQ(e.name, "STOP");
  EXPECT_TRUE(e.data.is_object());
  EXPECT_EQ(e.seconds, 5);
  EXPECT_EQ(e.microseconds, 6);

  auto r = parse_message(R"({"return": {"x": 1}, "id": "gd-3"})", "peer");
  ASSERT_TRUE(r);
  const auto& reply = std::get<ReplyMessage>(*r);
  EXPECT_TRUE(reply.has_id);
  EXPECT_EQ(reply.id, "gd-3");
  ASSERT_TRUE(reply.reply);
  EXPECT_EQ(reply.reply->value["x"], 1);

  // A non-string id matches no command; a malformed error object is the command's error.
  auto odd = parse_message(R"({"error": [], "id": 7})", "peer");
  ASSERT_TRUE(odd);
  const auto& o = std::get<ReplyMessage>(*odd);
  EXPECT_TRUE(o.has_id);
  EXPECT_EQ(o.id, "");
  EXPECT_FALSE(o.reply);
}

TEST(QmpFraming, RejectsGarbageAndBadEvents) {
  auto bad = parse_message("{\"return\": \xff}", "peer");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kProtocol);
  EXPECT_NE(bad.error().what().find("qmp 'peer': malformed JSON from peer: "), std::string::npos);
  EXPECT_FALSE(parse_message("[1]", "peer"));
  EXPECT_FALSE(parse_message(R"({"event": 1})", "peer"));
  EXPECT_FALSE(parse_message(R"({"event": "X", "data": []})", "peer"));
}

// A hostile peer nests JSON deeply: parsing is iterative, but copying the event data and
// printing it recurse per level, so the depth is refused before parsing.
TEST(QmpFraming, RefusesDeepNesting) {
  auto nested = [](std::size_t depth) {
    return R"({"event": "X", "data": {"a": )" + std::string(depth, '[') + std::string(depth, ']') +
           "}}";
  };
  EXPECT_TRUE(parse_message(nested(kMaxJsonDepth - 2), "peer"));
  auto deep = parse_message(nested(kMaxJsonDepth), "peer");
  ASSERT_FALSE(deep);
  EXPECT_NE(deep.error().what().find("nested deeper than"), std::string::npos);
  // Brackets inside strings do not count.
  EXPECT_TRUE(
      parse_message(R"({"event": "X", "data": {"s": ")" + std::string(500, '[') + "\"}}", "peer"));
  EXPECT_FALSE(parse_greeting(std::string(1000, '[') + std::string(1000, ']'), "peer"));
}

TEST(QmpFraming, ParsesTheGreeting) {
  auto g = parse_greeting(
      R"({"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "p"}, )"
      R"("capabilities": ["oob"]}})",
      "peer");
  ASSERT_TRUE(g) << g.error().what();
  EXPECT_EQ(g->major, 7);
  EXPECT_EQ(g->minor, 2);
  EXPECT_EQ(g->micro, 22);
  EXPECT_EQ(g->package, "p");
  ASSERT_EQ(g->capabilities.size(), 1u);
  EXPECT_FALSE(parse_greeting(R"({"QMP": {"capabilities": [1]}})", "peer"));
  EXPECT_FALSE(parse_greeting(R"({"QMP": {}})", "peer"));
}

} // namespace
} // namespace guestdump::qmp::detail

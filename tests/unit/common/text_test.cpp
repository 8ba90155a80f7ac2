#include "guestdump/common/text.h"

#include <span>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "guestdump/common/json_text.h"
#include "guestdump/common/log.h"

namespace guestdump {
namespace {

// What a hostile guest puts in OSRELEASE: invalid UTF-8, a terminal title escape, a clear
// screen, and a newline that starts a line looking like one of ours.
const std::string kHostile =
    "6.1.0\xff\xfe\xc3 \x1b]0;pwned\x07\x1b[2J\nguestdumpd: error: daemon: <0>FORGED";

TEST(Utf8, ValidAndInvalidSequences) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("6.1.0-27-cloud-amd64"));
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa7")); // é € 🐧
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xc3"));             // truncated
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));         // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xe0\x80\xaf"));     // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));     // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80")); // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));         // truncated at the end
  EXPECT_FALSE(is_valid_utf8(kHostile));
}

TEST(Utf8, InvalidBytesBecomeHexText) {
  EXPECT_EQ(escape_invalid_utf8("ok"), "ok");
  EXPECT_EQ(escape_invalid_utf8("a\xff"
                                "b\xc3"),
            "a\\xffb\\xc3");
  EXPECT_EQ(escape_invalid_utf8("\xc3\xa9\xc0\xaf"), "\xc3\xa9\\xc0\\xaf");
  // Control characters are valid UTF-8: left to JSON's own escaping.
  EXPECT_EQ(escape_invalid_utf8("\x1b[2J\n"), "\x1b[2J\n");
  EXPECT_TRUE(is_valid_utf8(escape_invalid_utf8(kHostile)));
}

TEST(EscapeText, NothingRawLeaves) {
  EXPECT_EQ(escape_text("plain text, caf\xc3\xa9"), "plain text, caf\xc3\xa9");
  EXPECT_EQ(escape_text("a\nb\tc\rd\\e"), "a\\nb\\tc\\rd\\\\e");
  EXPECT_EQ(escape_text("\x1b[2J"), "\\x1b[2J");
  EXPECT_EQ(escape_text(std::string("\x00\x7f", 2)), "\\x00\\x7f");
  EXPECT_EQ(escape_text("\xc2\x9b"
                        "31m"),
            "\\xc2\\x9b31m"); // C1 CSI
  EXPECT_EQ(escape_text("\xe2\x80\xae"
                        "txt"),
            "\\xe2\\x80\\xaetxt"); // right-to-left override
  EXPECT_EQ(escape_text("\xff"), "\\xff");
  const std::string out = escape_text(kHostile);
  for (unsigned char c : out) {
    EXPECT_TRUE(c >= 0x20 && c != 0x7f) << "raw byte " << static_cast<int>(c) << " in " << out;
  }
  EXPECT_TRUE(is_valid_utf8(out));
  EXPECT_NE(out.find("\\nguestdumpd: error"), std::string::npos);
}

TEST(JsonText, DumpNeverThrowsForGuestStrings) {
  nlohmann::json j;
  j["kernel_release"] = kHostile;
  j["nested"] = {{"list", {kHostile, 1, true}}};
  j[std::string("key\xff")] = "v";
  // nlohmann itself refuses invalid UTF-8: the reason for dump_json.
  EXPECT_THROW((void)j.dump(), nlohmann::json::type_error);
  std::string text;
  ASSERT_NO_THROW(text = dump_json(j, 2));
  auto back = nlohmann::json::parse(text, nullptr, false);
  ASSERT_FALSE(back.is_discarded());
  EXPECT_EQ(back["kernel_release"].get<std::string>(), escape_invalid_utf8(kHostile));
  EXPECT_EQ(back["nested"]["list"][0].get<std::string>(), escape_invalid_utf8(kHostile));
  EXPECT_TRUE(back.contains("key\\xff"));
  // JSON escapes the control characters: the file holds no raw ESC or newline inside strings,
  // and no C1 control (U+009B, an 8-bit CSI) either: the output is ASCII.
  j["c1"] = "\xc2\x9b"
            "31m caf\xc3\xa9";
  const std::string text2 = dump_json(j);
  EXPECT_EQ(text2.find('\x1b'), std::string::npos);
  for (unsigned char c : text2) EXPECT_LT(c, 0x80) << "non-ASCII byte in " << text2;
  EXPECT_EQ(nlohmann::json::parse(text2)["c1"].get<std::string>(), "\xc2\x9b"
                                                                   "31m caf\xc3\xa9");
}

TEST(Log, SinksReceiveEscapedText) {
  std::string got;
  set_log_sink([&](LogLevel, std::string_view, std::string_view text) { got = text; });
  GUESTDUMP_LOG(kWarn, "test") << "guest '" << kHostile << "'";
  set_log_sink(nullptr);
  EXPECT_EQ(got, "guest '" + escape_text(kHostile) + "'");
  EXPECT_EQ(got.find('\n'), std::string::npos);
  EXPECT_EQ(got.find('\x1b'), std::string::npos);
}

TEST(Log, FieldsSinkReceivesEscapedFieldsAndWinsOverThePlainSink) {
  std::string text;
  LogFields got;
  bool plain = false;
  set_log_sink([&](LogLevel, std::string_view, std::string_view) { plain = true; });
  set_log_fields_sink(
      [&](LogLevel, std::string_view, std::string_view t, std::span<const LogField> fields) {
        text = t;
        got.assign(fields.begin(), fields.end());
      });
  GUESTDUMP_LOG_WITH(kWarn, "test", (LogFields{{"GUESTDUMP_DOMAIN", kHostile}})) << "x";
  set_log_fields_sink(nullptr);
  set_log_sink(nullptr);
  EXPECT_FALSE(plain);
  EXPECT_EQ(text, "x");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].key, "GUESTDUMP_DOMAIN");
  EXPECT_EQ(got[0].value, escape_text(kHostile));
  EXPECT_EQ(got[0].value.find('\n'), std::string::npos);
}

TEST(PlainText, TrimAndIequals) {
  EXPECT_EQ(trim(" \t\r\n\v\fa b\n "), "a b");
  EXPECT_EQ(trim("   "), "");
  EXPECT_EQ(trim("x"), "x");
  EXPECT_TRUE(iequals("Xen", "xEN"));
  EXPECT_FALSE(iequals("Xen", "Xe"));
  EXPECT_FALSE(iequals("libxl", "libxm"));
}

TEST(PlainText, ParseByteSize) {
  EXPECT_EQ(*parse_byte_size("0"), 0U);
  EXPECT_EQ(*parse_byte_size(" 512 "), 512U);
  EXPECT_EQ(*parse_byte_size("512B"), 512U);
  EXPECT_EQ(*parse_byte_size("4k"), 4096U);
  EXPECT_EQ(*parse_byte_size("64M"), 64ULL << 20);
  EXPECT_EQ(*parse_byte_size("2GiB"), 2ULL << 30);
  EXPECT_EQ(*parse_byte_size("1tb"), 1ULL << 40);
  EXPECT_EQ(*parse_byte_size("18446744073709551615"), ~0ULL);
  for (const char* bad : {"", "M", "-1", "1X", "1MX", "1 M B", "1.5G"}) {
    auto r = parse_byte_size(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().message, "expected bytes, optionally with K, M, G or T") << bad;
  }
  for (const char* big : {"18446744073709551616", "16777216T"}) {
    auto r = parse_byte_size(big);
    ASSERT_FALSE(r) << big;
    EXPECT_EQ(r.error().message, "too large") << big;
  }
}

TEST(PlainText, FormatBytes) {
  EXPECT_EQ(format_bytes(std::uint64_t{0}), "0 B");
  EXPECT_EQ(format_bytes(std::uint64_t{1023}), "1023 B");
  EXPECT_EQ(format_bytes(std::uint64_t{1024}), "1.0 KiB");
  EXPECT_EQ(format_bytes(std::uint64_t{3} << 29), "1.5 GiB");
  EXPECT_EQ(format_bytes(1536.0), "1.5 KiB");
}

} // namespace
} // namespace guestdump

#include <gtest/gtest.h>

#include <guestdump/policies/config.h>

namespace guestdump::policies {
namespace {

using namespace std::chrono_literals;

std::string error_of(const Result<>& r) {
  return r ? std::string("ok") : r.error().what();
}
template <typename T> std::string error_of(const Result<T>& r) {
  return r ? std::string("ok") : r.error().what();
}

TEST(ConfigDefaults, MatchDocs) {
  const PolicyConfig c;
  EXPECT_TRUE(c.selection.include.empty());
  EXPECT_TRUE(c.selection.exclude.empty());
  EXPECT_FALSE(c.selection.require_opt_in);
  EXPECT_EQ(c.defaults.dump_level, 31);
  EXPECT_EQ(c.defaults.codec, Codec::kZstd);
  EXPECT_EQ(c.defaults.after_dump, AfterDump::kPreserve);
  EXPECT_EQ(c.defaults.hang_action, HangAction::kNmiThenDump);
  EXPECT_EQ(c.retention.keep, 5u);
  EXPECT_EQ(c.retention.max_age, 0ms);
  EXPECT_EQ(c.retention.max_total_bytes, 0u);
  EXPECT_EQ(c.min_free.bytes, 0u);
  EXPECT_EQ(c.min_free.percent, 10u);
  EXPECT_EQ(c.crash_loop.dumps, 3u);
  EXPECT_EQ(c.crash_loop.window, 1h);
  EXPECT_EQ(c.hang.timeout, 120s);
  EXPECT_EQ(c.hang.grace, 120s);
  EXPECT_EQ(c.hang.interval, 10s);
  EXPECT_EQ(c.hang.samples, 3u);
  EXPECT_EQ(c.hang.nmi_timeout, 60s);
  EXPECT_TRUE(validate(c));
}

TEST(ParseEnums, AcceptNamesCaseInsensitively) {
  EXPECT_EQ(*parse_codec("zstd"), Codec::kZstd);
  EXPECT_EQ(*parse_codec(" ZLIB "), Codec::kZlib);
  EXPECT_EQ(*parse_codec("lzo"), Codec::kLzo);
  EXPECT_EQ(*parse_codec("snappy"), Codec::kSnappy);
  EXPECT_EQ(*parse_codec("none"), Codec::kNone);
  EXPECT_EQ(*parse_after_dump("preserve"), AfterDump::kPreserve);
  EXPECT_EQ(*parse_after_dump("restart"), AfterDump::kRestart);
  EXPECT_EQ(*parse_hang_action("nmi-then-dump"), HangAction::kNmiThenDump);
  EXPECT_EQ(*parse_hang_action("log"), HangAction::kLog);
  for (Codec c : {Codec::kZstd, Codec::kZlib, Codec::kLzo, Codec::kSnappy, Codec::kNone}) {
    EXPECT_EQ(*parse_codec(to_string(c)), c);
  }
  for (AfterDump a : {AfterDump::kPreserve, AfterDump::kResume, AfterDump::kReset,
                      AfterDump::kDestroy, AfterDump::kRestart}) {
    EXPECT_EQ(*parse_after_dump(to_string(a)), a);
  }
}

TEST(ParseEnums, ErrorsNameKeyAndValue) {
  EXPECT_EQ(error_of(parse_codec("gzip")),
            "invalid value 'gzip' for 'codec': expected zstd, zlib, lzo, snappy or none");
  EXPECT_EQ(error_of(parse_after_dump("coredump-destroy")),
            "invalid value 'coredump-destroy' for 'after-dump': expected preserve, resume, reset, "
            "destroy or restart");
  EXPECT_EQ(error_of(parse_hang_action("panic")),
            "invalid value 'panic' for 'hang-action': expected log, nmi, dump or nmi-then-dump");
  EXPECT_EQ(parse_codec("x").error().code, ErrorCode::kInvalidArgument);
}

TEST(ParseDumpLevel, Range) {
  EXPECT_EQ(*parse_dump_level("0"), 0);
  EXPECT_EQ(*parse_dump_level("31"), 31);
  EXPECT_EQ(error_of(parse_dump_level("32")),
            "invalid value '32' for 'dump-level': expected 0 to 31");
  EXPECT_FALSE(parse_dump_level("-1"));
  EXPECT_FALSE(parse_dump_level("1x"));
  EXPECT_FALSE(parse_dump_level(""));
  EXPECT_FALSE(parse_dump_level("99999999999999999999999"));
}

TEST(ParseBytes, SuffixesAndOverflow) {
  EXPECT_EQ(*parse_bytes("0", "max-total"), 0u);
  EXPECT_EQ(*parse_bytes("4096", "max-total"), 4096u);
  EXPECT_EQ(*parse_bytes("4096B", "max-total"), 4096u);
  EXPECT_EQ(*parse_bytes("2K", "max-total"), 2048u);
  EXPECT_EQ(*parse_bytes("3M", "max-total"), 3u << 20);
  EXPECT_EQ(*parse_bytes("10G", "max-total"), 10ULL << 30);
  EXPECT_EQ(*parse_bytes("10GiB", "max-total"), 10ULL << 30);
  EXPECT_EQ(*parse_bytes("10gb", "max-total"), 10ULL << 30);
  EXPECT_EQ(*parse_bytes("1T", "max-total"), 1ULL << 40);
  EXPECT_EQ(error_of(parse_bytes("10X", "max-total")),
            "invalid value '10X' for 'max-total': expected bytes, optionally with K, M, G or T");
  EXPECT_FALSE(parse_bytes("G", "max-total"));
  EXPECT_FALSE(parse_bytes("-5", "max-total"));
  EXPECT_FALSE(parse_bytes("10Gx", "max-total"));
  EXPECT_EQ(error_of(parse_bytes("16777216T", "max-total")),
            "invalid value '16777216T' for 'max-total': too large");
  EXPECT_EQ(*parse_bytes("16777215T", "max-total"), 16777215ULL << 40);
  EXPECT_FALSE(parse_bytes("18446744073709551616", "max-total"));
}

TEST(ParseDuration, Units) {
  EXPECT_EQ(*parse_duration("90", "max-age"), 90s);
  EXPECT_EQ(*parse_duration("90s", "max-age"), 90s);
  EXPECT_EQ(*parse_duration("5m", "max-age"), 5min);
  EXPECT_EQ(*parse_duration("2h", "max-age"), 2h);
  EXPECT_EQ(*parse_duration("30d", "max-age"), 720h);
  EXPECT_EQ(error_of(parse_duration("1w", "max-age")),
            "invalid value '1w' for 'max-age': expected seconds, optionally with s, m, h or d");
  EXPECT_FALSE(parse_duration("5ms", "max-age"));
  EXPECT_FALSE(parse_duration("99999999999d", "max-age"));
}

TEST(ParseMinFree, BytesPercentOrBoth) {
  const MinFree pct = *parse_min_free("10%");
  EXPECT_EQ(pct.percent, 10u);
  EXPECT_EQ(pct.bytes, 0u);
  const MinFree abs = *parse_min_free("2G");
  EXPECT_EQ(abs.percent, 0u);
  EXPECT_EQ(abs.bytes, 2ULL << 30);
  const MinFree both = *parse_min_free("2G, 5%");
  EXPECT_EQ(both.percent, 5u);
  EXPECT_EQ(both.bytes, 2ULL << 30);
  EXPECT_EQ(parse_min_free("5%,2G")->bytes, 2ULL << 30);
  EXPECT_EQ(error_of(parse_min_free("100%")),
            "invalid value '100%' for 'min-free': expected one percentage from 0% to 99%");
  EXPECT_FALSE(parse_min_free("5%,6%"));
  EXPECT_FALSE(parse_min_free("1G,2G"));
  EXPECT_FALSE(parse_min_free(""));
  EXPECT_FALSE(parse_min_free("5%,"));
  EXPECT_FALSE(parse_min_free("x%"));
}

TEST(ParseOverride, PatternAndSettings) {
  const GuestOverride o = *parse_override("web*: dump-level=1, codec=zlib, after-dump=restart");
  EXPECT_EQ(o.pattern, "web*");
  EXPECT_EQ(o.dump_level, 1);
  EXPECT_EQ(o.codec, Codec::kZlib);
  EXPECT_EQ(o.after_dump, AfterDump::kRestart);
  EXPECT_FALSE(o.hang_action);
  const GuestOverride u = *parse_override("uuid:4f1c*:hang-action=log");
  EXPECT_EQ(u.pattern, "uuid:4f1c*");
  EXPECT_EQ(u.hang_action, HangAction::kLog);
}

TEST(ParseOverride, Errors) {
  EXPECT_EQ(error_of(parse_override("web*")),
            "invalid value 'web*' for 'override': expected 'PATTERN: setting=value, ...'");
  EXPECT_EQ(error_of(parse_override("web*: color=red")),
            "invalid value 'web*: color=red' for 'override': unknown setting 'color' (expected "
            "dump-level, codec, after-dump or hang-action)");
  EXPECT_EQ(error_of(parse_override("web*: dump-level=40")),
            "invalid value '40' for 'override dump-level': expected 0 to 31");
  EXPECT_EQ(error_of(parse_override("web*: codec=gzip")),
            "invalid value 'gzip' for 'override codec': expected zstd, zlib, lzo, snappy or none");
  EXPECT_EQ(error_of(parse_override(": codec=zlib")),
            "invalid value '' for 'override': empty pattern");
  EXPECT_EQ(error_of(parse_override("name:: codec=zlib")),
            "invalid value 'name:' for 'override': empty pattern");
  EXPECT_FALSE(parse_override("web*: "));
  EXPECT_FALSE(parse_override("web*: codec=zlib,"));
}

TEST(Validate, NamesTheBadKey) {
  auto check = [](auto mutate) {
    PolicyConfig c;
    mutate(c);
    return error_of(validate(c));
  };
  EXPECT_EQ(check([](PolicyConfig& c) { c.defaults.dump_level = 32; }),
            "invalid value '32' for 'dump-level': expected 0 to 31");
  EXPECT_EQ(check([](PolicyConfig& c) {
              c.selection.include = {"web*", ""};
            }),
            "invalid value '' for 'include': empty pattern");
  EXPECT_EQ(check([](PolicyConfig& c) { c.selection.exclude = {"uuid:"}; }),
            "invalid value 'uuid:' for 'exclude': empty pattern");
  EXPECT_EQ(check([](PolicyConfig& c) { c.overrides.push_back({.pattern = "db*"}); }),
            "invalid value 'db*' for 'override': no settings");
  EXPECT_EQ(
      check([](PolicyConfig& c) { c.overrides.push_back({.pattern = "db*", .dump_level = -1}); }),
      "invalid value '-1' for 'override 'db*' dump-level': expected 0 to 31");
  EXPECT_EQ(check([](PolicyConfig& c) { c.retention.max_age = -1s; }),
            "invalid value '-1' for 'max-age': must not be negative");
  EXPECT_EQ(check([](PolicyConfig& c) { c.min_free.percent = 100; }),
            "invalid value '100%' for 'min-free': expected 0% to 99%");
  EXPECT_EQ(check([](PolicyConfig& c) { c.crash_loop.window = 0s; }),
            "invalid value '0' for 'crash-loop-window': must be positive when crash-loop-dumps "
            "is not 0");
  EXPECT_EQ(check([](PolicyConfig& c) { c.hang.timeout = -5s; }),
            "invalid value '-5' for 'hang-timeout': must not be negative");
  EXPECT_EQ(check([](PolicyConfig& c) { c.hang.interval = 0s; }),
            "invalid value '0' for 'hang-interval': must be positive");
  EXPECT_EQ(check([](PolicyConfig& c) { c.hang.interval = 121s; }),
            "invalid value '121' for 'hang-interval': must not exceed hang-timeout (120)");
  EXPECT_EQ(check([](PolicyConfig& c) { c.hang.grace = -1s; }),
            "invalid value '-1' for 'hang-grace': must not be negative");
  EXPECT_EQ(check([](PolicyConfig& c) { c.hang.samples = 0; }),
            "invalid value '0' for 'hang-samples': must be at least 1");
  EXPECT_EQ(check([](PolicyConfig& c) { c.hang.nmi_timeout = 0s; }),
            "invalid value '0' for 'nmi-timeout': must be positive");
  EXPECT_EQ(check([](PolicyConfig& c) { c.hang.busy_percent = 101; }),
            "invalid value '101' for 'hang-busy-percent': expected 1 to 100");
  EXPECT_EQ(check([](PolicyConfig& c) { c.hang.idle_percent = 90; }),
            "invalid value '90' for 'hang-idle-percent': must be below hang-busy-percent (90)");
}

TEST(Validate, LimitsThatTurnThingsOff) {
  PolicyConfig c;
  c.crash_loop.dumps = 0;
  c.crash_loop.window = 0s; // irrelevant when the limit is off
  c.retention = {.keep = 0, .max_age = 0s, .max_total_bytes = 0};
  c.min_free = {.bytes = 0, .percent = 0};
  c.hang.timeout = 0s;
  c.hang.interval = 0s; // irrelevant when hang detection is off
  c.hang.samples = 0;
  EXPECT_TRUE(validate(c));
}

} // namespace
} // namespace guestdump::policies

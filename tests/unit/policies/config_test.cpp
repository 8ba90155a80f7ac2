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
  EXPECT_EQ(check([](PolicyConfig& c) { c.hang.interval = 1s; }),
            "invalid value '1' for 'hang-interval': must be at least 2 (a silent guest agent "
            "holds each sample for libvirt's 5 s re-sync)");
  EXPECT_EQ(check([](PolicyConfig& c) { c.hang.interval = 2s; }), "ok");
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

namespace guestdump::policies {
namespace {

using namespace std::chrono_literals;

TEST(PolicyKeys, DefaultsInTheTableGiveTheStructDefaults) {
  PolicyConfig applied;
  for (const PolicyKey& key : policy_keys()) {
    ASSERT_FALSE(key.help.empty()) << key.name;
    if (key.repeatable) {
      EXPECT_TRUE(key.default_value.empty()) << key.name;
      continue;
    }
    const Result<> r = apply_option(applied, key.name, key.default_value);
    ASSERT_TRUE(r) << r.error().what();
  }
  const PolicyConfig defaults;
  EXPECT_EQ(applied.selection.require_opt_in, defaults.selection.require_opt_in);
  EXPECT_EQ(applied.defaults.dump_level, defaults.defaults.dump_level);
  EXPECT_EQ(applied.defaults.codec, defaults.defaults.codec);
  EXPECT_EQ(applied.defaults.after_dump, defaults.defaults.after_dump);
  EXPECT_EQ(applied.defaults.hang_action, defaults.defaults.hang_action);
  EXPECT_EQ(applied.retention.keep, defaults.retention.keep);
  EXPECT_EQ(applied.retention.max_age, defaults.retention.max_age);
  EXPECT_EQ(applied.retention.max_total_bytes, defaults.retention.max_total_bytes);
  EXPECT_EQ(applied.min_free.bytes, defaults.min_free.bytes);
  EXPECT_EQ(applied.min_free.percent, defaults.min_free.percent);
  EXPECT_EQ(applied.crash_loop.dumps, defaults.crash_loop.dumps);
  EXPECT_EQ(applied.crash_loop.window, defaults.crash_loop.window);
  EXPECT_EQ(applied.hang.timeout, defaults.hang.timeout);
  EXPECT_EQ(applied.hang.grace, defaults.hang.grace);
  EXPECT_EQ(applied.hang.interval, defaults.hang.interval);
  EXPECT_EQ(applied.hang.samples, defaults.hang.samples);
  EXPECT_EQ(applied.hang.nmi_timeout, defaults.hang.nmi_timeout);
  EXPECT_EQ(applied.hang.busy_percent, defaults.hang.busy_percent);
  EXPECT_EQ(applied.hang.idle_percent, defaults.hang.idle_percent);
}

TEST(PolicyKeys, EveryKeyIsAppliedAndNamesAreUnique) {
  std::set<std::string_view> names;
  for (const PolicyKey& key : policy_keys()) {
    EXPECT_TRUE(names.insert(key.name).second) << key.name;
    PolicyConfig c;
    // A value no key accepts: the error must name this key (so no key falls through).
    const Result<> r = apply_option(c, key.name, key.repeatable ? "" : "%bogus%");
    if (key.name == "include" || key.name == "exclude") {
      EXPECT_TRUE(r); // stored as given; validate() rejects the empty pattern
      EXPECT_FALSE(validate(c));
      continue;
    }
    ASSERT_FALSE(r) << key.name;
    EXPECT_NE(r.error().what().find("'" + std::string(key.name)), std::string::npos)
        << r.error().what();
  }
  EXPECT_EQ(names.size(), 21u);
}

TEST(ApplyOption, SetsFieldsAndAppendsRepeatables) {
  PolicyConfig c;
  ASSERT_TRUE(apply_option(c, "include", "web*"));
  ASSERT_TRUE(apply_option(c, "include", " uuid:4f1c* "));
  ASSERT_TRUE(apply_option(c, "exclude", "*-test"));
  ASSERT_TRUE(apply_option(c, "require-opt-in", "yes"));
  ASSERT_TRUE(apply_option(c, "dump-level", "1"));
  ASSERT_TRUE(apply_option(c, "codec", "zlib"));
  ASSERT_TRUE(apply_option(c, "after-dump", "restart"));
  ASSERT_TRUE(apply_option(c, "hang-action", "nmi"));
  ASSERT_TRUE(apply_option(c, "override", "db*: codec=lzo"));
  ASSERT_TRUE(apply_option(c, "override", "web1: dump-level=0"));
  ASSERT_TRUE(apply_option(c, "keep", "2"));
  ASSERT_TRUE(apply_option(c, "max-age", "30d"));
  ASSERT_TRUE(apply_option(c, "max-total", "500G"));
  ASSERT_TRUE(apply_option(c, "min-free", "5G,5%"));
  ASSERT_TRUE(apply_option(c, "crash-loop-dumps", "1"));
  ASSERT_TRUE(apply_option(c, "crash-loop-window", "6h"));
  ASSERT_TRUE(apply_option(c, "hang-timeout", "300"));
  ASSERT_TRUE(apply_option(c, "hang-grace", "10m"));
  ASSERT_TRUE(apply_option(c, "hang-interval", "15"));
  ASSERT_TRUE(apply_option(c, "hang-samples", "4"));
  ASSERT_TRUE(apply_option(c, "nmi-timeout", "90"));
  ASSERT_TRUE(apply_option(c, "hang-busy-percent", "95"));
  ASSERT_TRUE(apply_option(c, "hang-idle-percent", "1"));
  EXPECT_EQ(c.selection.include, (std::vector<std::string>{"web*", "uuid:4f1c*"}));
  EXPECT_EQ(c.selection.exclude, (std::vector<std::string>{"*-test"}));
  EXPECT_TRUE(c.selection.require_opt_in);
  EXPECT_EQ(c.defaults.dump_level, 1);
  EXPECT_EQ(c.defaults.codec, Codec::kZlib);
  EXPECT_EQ(c.defaults.after_dump, AfterDump::kRestart);
  EXPECT_EQ(c.defaults.hang_action, HangAction::kNmi);
  ASSERT_EQ(c.overrides.size(), 2u);
  EXPECT_EQ(c.overrides[1].dump_level, 0);
  EXPECT_EQ(c.retention.keep, 2u);
  EXPECT_EQ(c.retention.max_age, 720h);
  EXPECT_EQ(c.retention.max_total_bytes, 500ULL << 30);
  EXPECT_EQ(c.min_free.bytes, 5ULL << 30);
  EXPECT_EQ(c.min_free.percent, 5u);
  EXPECT_EQ(c.crash_loop.dumps, 1u);
  EXPECT_EQ(c.crash_loop.window, 6h);
  EXPECT_EQ(c.hang.timeout, 300s);
  EXPECT_EQ(c.hang.grace, 600s);
  EXPECT_EQ(c.hang.interval, 15s);
  EXPECT_EQ(c.hang.samples, 4u);
  EXPECT_EQ(c.hang.nmi_timeout, 90s);
  EXPECT_EQ(c.hang.busy_percent, 95u);
  EXPECT_EQ(c.hang.idle_percent, 1u);
  EXPECT_TRUE(validate(c));
}

TEST(ApplyOption, Errors) {
  PolicyConfig c;
  const Result<> unknown = apply_option(c, "keep-old-dumps", "3");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(unknown.error().what(), "unknown key 'keep-old-dumps'");
  EXPECT_EQ(error_of(apply_option(c, "keep", "-1")),
            "invalid value '-1' for 'keep': expected a whole number");
  EXPECT_EQ(error_of(apply_option(c, "keep", "4294967296")),
            "invalid value '4294967296' for 'keep': too large");
  EXPECT_EQ(error_of(apply_option(c, "require-opt-in", "maybe")),
            "invalid value 'maybe' for 'require-opt-in': expected true or false");
  EXPECT_EQ(error_of(apply_option(c, "hang-timeout", "2 minutes")),
            "invalid value '2 minutes' for 'hang-timeout': expected seconds, optionally with s, "
            "m, h or d");
  // A failed option leaves the field as it was.
  EXPECT_EQ(c.retention.keep, 5u);
}

TEST(ParseBool, Spellings) {
  for (const char* t : {"true", "YES", "on", "1"}) EXPECT_TRUE(*parse_bool(t, "k")) << t;
  for (const char* f : {"false", "No", "off", "0"}) EXPECT_FALSE(*parse_bool(f, "k")) << f;
  EXPECT_FALSE(parse_bool("2", "k"));
}

} // namespace
} // namespace guestdump::policies

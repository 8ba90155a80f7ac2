#include <gtest/gtest.h>

#include <guestdump/policies/selection.h>

namespace guestdump::policies {
namespace {

constexpr const char* kUuid = "4f1c2a9e-8d3b-4c55-9a0e-7b6d5c4e3f21";

GuestIdentity guest(std::string name, MetadataOptIn m = MetadataOptIn::kUnset) {
  return {std::move(name), kUuid, m};
}

TEST(PatternMatches, BarePatternMatchesNameOrUuid) {
  EXPECT_TRUE(pattern_matches("web*", guest("web1")));
  EXPECT_TRUE(pattern_matches("4f1c2a9e-*", guest("web1")));
  EXPECT_FALSE(pattern_matches("db*", guest("web1")));
}

TEST(PatternMatches, PrefixesRestrictTheField) {
  EXPECT_TRUE(pattern_matches("name:web*", guest("web1")));
  EXPECT_FALSE(pattern_matches("name:4f1c*", guest("web1")));
  EXPECT_TRUE(pattern_matches("uuid:4f1c*", guest("web1")));
  EXPECT_FALSE(pattern_matches("uuid:web*", guest("web1")));
  // A guest literally named like a UUID prefix only matches through the name field.
  EXPECT_TRUE(pattern_matches("name:4f1c*", guest("4f1c-named")));
}

TEST(PatternMatches, NamesAreCaseSensitiveUuidsAreNot) {
  EXPECT_FALSE(pattern_matches("Web*", guest("web1")));
  EXPECT_FALSE(pattern_matches("name:WEB1", guest("web1")));
  EXPECT_TRUE(pattern_matches("uuid:4F1C2A9E-8D3B-*", guest("web1")));
  EXPECT_TRUE(pattern_matches("4F1C2A9E-*", guest("web1"))); // bare: the UUID side folds case
}

TEST(PatternMatches, EmptyUuidNeverMatchesUuidPatterns) {
  GuestIdentity g{"web1", "", MetadataOptIn::kUnset};
  EXPECT_FALSE(pattern_matches("uuid:*", g));
  EXPECT_TRUE(pattern_matches("*", g));
}

TEST(SelectGuest, EmptyIncludeWatchesEveryone) {
  const GuestSelection s = select_guest({}, guest("anything"));
  EXPECT_TRUE(s.watched);
  EXPECT_NE(s.reason.find("every guest"), std::string::npos);
}

TEST(SelectGuest, IncludeListRestricts) {
  SelectionPolicy p;
  p.include = {"web*", "uuid:0000*"};
  EXPECT_TRUE(select_guest(p, guest("web3")).watched);
  EXPECT_EQ(select_guest(p, guest("web3")).reason, "included by pattern 'web*'");
  const GuestSelection db = select_guest(p, guest("db1"));
  EXPECT_FALSE(db.watched);
  EXPECT_EQ(db.reason, "matches no include pattern");
}

TEST(SelectGuest, ExcludeWinsOverInclude) {
  SelectionPolicy p;
  p.include = {"web*"};
  p.exclude = {"*-test"};
  const GuestSelection s = select_guest(p, guest("web-test"));
  EXPECT_FALSE(s.watched);
  EXPECT_EQ(s.reason, "excluded by pattern '*-test'");
  EXPECT_TRUE(select_guest(p, guest("web-prod")).watched);
}

TEST(SelectGuest, ExcludeByUuid) {
  SelectionPolicy p;
  p.exclude = {"uuid:4F1C2A9E-*"};
  EXPECT_FALSE(select_guest(p, guest("web1")).watched);
}

TEST(SelectGuest, OptOutWinsOverEverything) {
  SelectionPolicy p;
  p.include = {"web*"};
  const GuestSelection s = select_guest(p, guest("web1", MetadataOptIn::kOptOut));
  EXPECT_FALSE(s.watched);
  EXPECT_EQ(s.reason, "opted out in its libvirt metadata");
}

TEST(SelectGuest, OptInBeatsIncludeMissButNotExclude) {
  SelectionPolicy p;
  p.include = {"web*"};
  p.exclude = {"secret*"};
  EXPECT_TRUE(select_guest(p, guest("db1", MetadataOptIn::kOptIn)).watched);
  const GuestSelection s = select_guest(p, guest("secret1", MetadataOptIn::kOptIn));
  EXPECT_FALSE(s.watched);
  EXPECT_EQ(s.reason, "excluded by pattern 'secret*'");
}

TEST(SelectGuest, RequireOptIn) {
  SelectionPolicy p;
  p.require_opt_in = true;
  EXPECT_FALSE(select_guest(p, guest("web1")).watched);
  EXPECT_TRUE(select_guest(p, guest("web1", MetadataOptIn::kOptIn)).watched);
  EXPECT_FALSE(select_guest(p, guest("web1", MetadataOptIn::kOptOut)).watched);
}

TEST(SettingsFor, DefaultsWithoutOverrides) {
  PolicyConfig c;
  const DumpSettings s = settings_for(c, guest("web1"));
  EXPECT_EQ(s.dump_level, 31);
  EXPECT_EQ(s.codec, Codec::kZstd);
  EXPECT_EQ(s.after_dump, AfterDump::kPreserve);
  EXPECT_EQ(s.hang_action, HangAction::kNmiThenDump);
}

TEST(SettingsFor, FirstMatchingOverrideWinsPerField) {
  PolicyConfig c;
  c.overrides.push_back({.pattern = "web*", .codec = Codec::kZlib});
  c.overrides.push_back({.pattern = "*", .dump_level = 1, .codec = Codec::kLzo});
  c.overrides.push_back({.pattern = "web1", .dump_level = 17, .after_dump = AfterDump::kRestart});
  const DumpSettings web1 = settings_for(c, guest("web1"));
  EXPECT_EQ(web1.codec, Codec::kZlib);                   // first override sets codec
  EXPECT_EQ(web1.dump_level, 1);                         // second is the first to set the level
  EXPECT_EQ(web1.after_dump, AfterDump::kRestart);       // only the third sets after-dump
  EXPECT_EQ(web1.hang_action, HangAction::kNmiThenDump); // nobody sets it
  const DumpSettings db = settings_for(c, guest("db"));
  EXPECT_EQ(db.codec, Codec::kLzo);
  EXPECT_EQ(db.dump_level, 1);
  EXPECT_EQ(db.after_dump, AfterDump::kPreserve);
}

TEST(SettingsFor, OverrideByUuidCaseInsensitive) {
  PolicyConfig c;
  c.overrides.push_back({.pattern = "uuid:4F1C*", .hang_action = HangAction::kLog});
  EXPECT_EQ(settings_for(c, guest("x")).hang_action, HangAction::kLog);
  GuestIdentity other{"x", "00000000-0000-0000-0000-000000000000", MetadataOptIn::kUnset};
  EXPECT_EQ(settings_for(c, other).hang_action, HangAction::kNmiThenDump);
}

} // namespace
} // namespace guestdump::policies

#include <gtest/gtest.h>

#include <guestdump/policies/upload.h>

namespace guestdump::policies {
namespace {

using namespace std::chrono_literals;

const WallTime kNow = WallTime{} + std::chrono::hours(24 * 365 * 56);

LocalDump local(std::string guest, Duration age, bool confirmed, bool state_file = false,
                DumpStatus status = DumpStatus::kComplete, bool in_use = false) {
  LocalDump d;
  d.guest = std::move(guest);
  d.time = kNow - age;
  d.id = "t-" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(age).count());
  d.upload_confirmed = confirmed;
  d.upload_state_file = state_file;
  d.status = status;
  d.in_use = in_use;
  return d;
}

std::vector<std::string> ids(const std::vector<Deletion>& plan) {
  std::vector<std::string> out;
  for (const Deletion& d : plan) out.push_back(d.dump.guest + "/" + d.dump.id);
  return out;
}

TEST(NeedsUpload, CompleteDumpsWithoutConfirmedUpload) {
  EXPECT_TRUE(needs_upload(local("a", 1h, false)));
  EXPECT_FALSE(needs_upload(local("a", 1h, true)));
  // A state file means an upload was cut short after the last confirmed one: resume it.
  EXPECT_TRUE(needs_upload(local("a", 1h, false, true)));
  EXPECT_TRUE(needs_upload(local("a", 1h, true, true)));
  // Failure records have nothing to upload; a dump being written is not finished.
  EXPECT_FALSE(needs_upload(local("a", 1h, false, false, DumpStatus::kFailed)));
  EXPECT_FALSE(needs_upload(local("a", 1h, false, false, DumpStatus::kIncomplete)));
  EXPECT_FALSE(needs_upload(local("a", 1h, false, false, DumpStatus::kComplete, true)));
}

TEST(UploadRetryDelay, DoublesUpToTheCap) {
  EXPECT_EQ(upload_retry_delay(1, 60s, 1h), 60s);
  EXPECT_EQ(upload_retry_delay(2, 60s, 1h), 120s);
  EXPECT_EQ(upload_retry_delay(3, 60s, 1h), 240s);
  EXPECT_EQ(upload_retry_delay(6, 60s, 1h), 32min);
  EXPECT_EQ(upload_retry_delay(7, 60s, 1h), 1h); // 64 min is over the cap
  EXPECT_EQ(upload_retry_delay(4000000000u, 60s, 1h), 1h);
  EXPECT_EQ(upload_retry_delay(0, 60s, 1h), 60s);
  EXPECT_EQ(upload_retry_delay(5, 0s, 1h), 0s);
}

TEST(KeepLocal, UnsetKeepsEverything) {
  EXPECT_TRUE(plan_keep_local({local("a", 1h, true), local("a", 2h, true)}, std::nullopt).empty());
}

TEST(KeepLocal, KeepsTheNewestUploadedDumpsOfTheHost) {
  const auto plan = plan_keep_local(
      {local("a", 1h, true), local("b", 2h, true), local("a", 3h, true), local("b", 4h, true)}, 2);
  // Oldest first; the count is over the host, not per guest.
  EXPECT_EQ(ids(plan), (std::vector<std::string>{"b/t-14400", "a/t-10800"}));
  EXPECT_NE(plan[0].reason.find("keep-local=2"), std::string::npos);
}

TEST(KeepLocal, ZeroDeletesEveryUploadedDump) {
  const auto plan = plan_keep_local({local("a", 1h, true), local("a", 2h, false)}, 0);
  EXPECT_EQ(ids(plan), (std::vector<std::string>{"a/t-3600"}));
}

TEST(KeepLocal, NeverDeletesOrCountsUnconfirmedDumps) {
  // The newest dumps are not uploaded yet (or their upload is half done): they neither go nor
  // take a place among the kept ones.
  const auto plan =
      plan_keep_local({local("a", 1h, false), local("a", 2h, true, true), local("a", 3h, true),
                       local("a", 4h, true), local("a", 5h, false)},
                      1);
  EXPECT_EQ(ids(plan), (std::vector<std::string>{"a/t-14400"}));
}

TEST(KeepLocal, SkipsInUseAndFailedDumps) {
  const auto plan =
      plan_keep_local({local("a", 1h, true, false, DumpStatus::kComplete, true),
                       local("a", 2h, true, false, DumpStatus::kFailed), local("a", 3h, true)},
                      0);
  EXPECT_EQ(ids(plan), (std::vector<std::string>{"a/t-10800"}));
}

TEST(KeepLocal, EqualTimesOrderByGuestThenId) {
  LocalDump x = local("b", 1h, true);
  LocalDump y = local("a", 1h, true);
  EXPECT_EQ(ids(plan_keep_local({x, y}, 1)), (std::vector<std::string>{"a/t-3600"}));
  EXPECT_EQ(ids(plan_keep_local({y, x}, 1)), (std::vector<std::string>{"a/t-3600"}));
}

} // namespace
} // namespace guestdump::policies

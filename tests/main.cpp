// Test main: a failed ASSERT_* inside a helper function throws, so the test stops there instead
// of running on with broken state (bpftrace's ThrowListener).

#include <stdexcept>

#include <gtest/gtest.h>

namespace {
class ThrowListener : public testing::EmptyTestEventListener {
  void OnTestPartResult(const testing::TestPartResult& result) override {
    if (result.type() == testing::TestPartResult::kFatalFailure) {
      throw testing::AssertionException(result);
    }
  }
};
} // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  testing::UnitTest::GetInstance()->listeners().Append(new ThrowListener);
  return RUN_ALL_TESTS();
}

// Shared CLI pieces; see cli_support.h.

#include "cli_support.h"

#include <cstdio>
#include <ctime>
#include <iostream>

#include <unistd.h>

#include "commands.h"
#include "guestdump/common/cli_args.h"

namespace po = boost::program_options;

namespace guestdump::cli {

std::optional<po::variables_map> parse_args(const std::vector<std::string>& args,
                                            const po::options_description& desc,
                                            const po::positional_options_description& pos,
                                            const char* usage, int& code) {
  return parse_cli_args(args, desc, pos, usage, usage_error, code);
}

Progress::Progress(std::string label, std::uint64_t unit, bool lines)
    : label_(std::move(label)), unit_(unit), tty_(::isatty(STDERR_FILENO) == 1), lines_(lines),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

Progress::~Progress() {
  if (tty_ && drawn_) std::fputs("\r\033[K", stderr);
}

void Progress::phase(std::string label, std::uint64_t unit) {
  if (tty_ && drawn_) std::fputs("\r\033[K", stderr);
  label_ = std::move(label);
  unit_ = unit;
  drawn_ = false;
  last_decile_ = -1;
  start_ = last_ = std::chrono::steady_clock::now();
}

void Progress::update(std::uint64_t done, std::uint64_t total) {
  if (total == 0 || (!tty_ && !lines_)) return;
  auto now = std::chrono::steady_clock::now();
  double secs = std::chrono::duration<double>(now - start_).count();
  double frac = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
  // No rate before a quarter second has passed: the first samples say nothing.
  double rate = secs > 0.25 ? static_cast<double>(done) * static_cast<double>(unit_) / secs : 0;
  double eta = frac > 0 ? secs / frac - secs : 0;
  if (tty_) {
    if (drawn_ && now - last_ < std::chrono::milliseconds(100) && done != total) return;
    last_ = now;
    drawn_ = true;
    constexpr int kWidth = 30;
    std::string bar(static_cast<std::size_t>(frac * kWidth), '=');
    bar.resize(kWidth, ' ');
    std::fprintf(stderr, "\r%s [%s] %3d%% %s/s ETA %.0fs\033[K", label_.c_str(), bar.c_str(),
                 static_cast<int>(frac * 100), format_bytes(rate).c_str(), eta);
    return;
  }
  int decile = static_cast<int>(frac * 10);
  if (decile == last_decile_ && now - last_ < std::chrono::seconds(10)) return;
  last_decile_ = decile;
  last_ = now;
  std::fprintf(stderr, "guestdump: %s: %d%% (%s of %s, %s/s)\n", label_.c_str(),
               static_cast<int>(frac * 100),
               format_bytes(static_cast<double>(done) * static_cast<double>(unit_)).c_str(),
               format_bytes(static_cast<double>(total) * static_cast<double>(unit_)).c_str(),
               format_bytes(rate).c_str());
}

std::string utc_time_text(std::int64_t t) {
  if (t == 0) return "unknown";
  const auto tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

} // namespace guestdump::cli

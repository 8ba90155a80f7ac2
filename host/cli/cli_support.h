#pragma once
// Pieces every guestdump subcommand uses: option parsing with the house exit codes, byte
// formatting, and progress display (a bar on a terminal, plain lines otherwise).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "guestdump/common/text.h"

namespace guestdump::cli {

/// Parses `args` against `desc` + positionals; returns nullopt and sets `code` (0 for --help,
/// 2 for a usage error, after printing it) when the command should stop.
std::optional<boost::program_options::variables_map>
parse_args(const std::vector<std::string>& args,
           const boost::program_options::options_description& desc,
           const boost::program_options::positional_options_description& pos, const char* usage,
           int& code);

/// Progress of one operation in `unit` bytes per step: on a terminal a redrawn bar with
/// percentage, rate and ETA; otherwise, when `lines` is set, one plain line every 10% (or
/// 10 s), for logs; otherwise silent.
class Progress {
public:
  Progress(std::string label, std::uint64_t unit, bool lines);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  /// Switches to a new phase: the rate and ETA restart.
  void phase(std::string label, std::uint64_t unit);
  void update(std::uint64_t done, std::uint64_t total);

private:
  std::string label_;
  std::uint64_t unit_;
  bool tty_;
  bool lines_;
  bool drawn_ = false;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_, last_;
};

/// A Unix time as "YYYY-mm-dd HH:MM:SS" in UTC; "unknown" for 0.
std::string utc_time_text(std::int64_t t);

} // namespace guestdump::cli

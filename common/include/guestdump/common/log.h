#pragma once
// Diagnostics sink. Libraries never print: they log through GUESTDUMP_LOG, and the executable
// decides where lines go (stderr by default).
//
// Levels: debug = developer detail; info = a job started or finished, bytes written;
// warn = degraded but continuing; error = the operation failed (log it or return it, not both).

#include <functional>
#include <sstream>
#include <string_view>

namespace guestdump {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

using LogSink = std::function<void(LogLevel, std::string_view component, std::string_view text)>;

/// Replaces the sink (nullptr restores the stderr sink).
void set_log_sink(LogSink sink);
/// Lines below this level are dropped before they are formatted.
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);
std::string_view log_level_name(LogLevel level);

class LogLine {
public:
  LogLine(LogLevel level, std::string_view component) : level_(level), component_(component) {}
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;
  ~LogLine();
  std::ostream& stream() { return out_; }

private:
  LogLevel level_;
  std::string_view component_;
  std::ostringstream out_;
};

} // namespace guestdump

#define GUESTDUMP_LOG(level, component)                                                            \
  if (!::guestdump::log_enabled(::guestdump::LogLevel::level)) {                                   \
  } else                                                                                           \
    ::guestdump::LogLine(::guestdump::LogLevel::level, component).stream()

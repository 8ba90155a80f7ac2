#pragma once
// Diagnostics sink. Libraries never print: they log through GUESTDUMP_LOG, and the executable
// decides where lines go (stderr by default).
//
// Levels: debug = developer detail; info = a job started or finished, bytes written;
// warn = degraded but continuing; error = the operation failed (log it or return it, not both).

#include <functional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace guestdump {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

using LogSink = std::function<void(LogLevel, std::string_view component, std::string_view text)>;

/// A structured field of a log line, for sinks that keep them (the journal): KEY is upper case
/// ASCII (journald's rules), VALUE is escaped like the text.
struct LogField {
  std::string key;
  std::string value;
};
using LogFields = std::vector<LogField>;
/// A sink that also receives the line's fields; when set it is used instead of the LogSink.
using LogFieldsSink = std::function<void(LogLevel, std::string_view component,
                                         std::string_view text, std::span<const LogField>)>;

/// Replaces the sink (nullptr restores the stderr sink).
void set_log_sink(LogSink sink);
/// Replaces the fields sink (nullptr: lines go to the LogSink, their fields dropped).
void set_log_fields_sink(LogFieldsSink sink);
/// Lines below this level are dropped before they are formatted.
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);
std::string_view log_level_name(LogLevel level);

class LogLine {
public:
  LogLine(LogLevel level, std::string_view component) : level_(level), component_(component) {}
  LogLine(LogLevel level, std::string_view component, LogFields fields)
      : level_(level), component_(component), fields_(std::move(fields)) {}
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;
  ~LogLine();
  std::ostream& stream() { return out_; }

private:
  LogLevel level_;
  std::string_view component_;
  LogFields fields_;
  std::ostringstream out_;
};

} // namespace guestdump

#define GUESTDUMP_LOG(level, component)                                                            \
  if (!::guestdump::log_enabled(::guestdump::LogLevel::level)) {                                   \
  } else                                                                                           \
    ::guestdump::LogLine(::guestdump::LogLevel::level, component).stream()

/// GUESTDUMP_LOG with structured fields (a LogFields), e.g. the journal's MESSAGE_ID and the
/// guest's name for `journalctl GUESTDUMP_DOMAIN=web1`.
#define GUESTDUMP_LOG_WITH(level, component, fields)                                               \
  if (!::guestdump::log_enabled(::guestdump::LogLevel::level)) {                                   \
  } else                                                                                           \
    ::guestdump::LogLine(::guestdump::LogLevel::level, component, fields).stream()

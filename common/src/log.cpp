#include "guestdump/common/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

#include "guestdump/common/text.h"

namespace guestdump {
namespace {

std::mutex g_sink_mutex;
LogSink g_sink; // empty = stderr
LogFieldsSink g_fields_sink;
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

void stderr_sink(LogLevel level, std::string_view component, std::string_view text) {
  // "<level> <component>: <text>" is easy to grep and journald keeps stderr lines as they are.
  std::string line;
  line.reserve(text.size() + component.size() + 16);
  line += log_level_name(level);
  line += ' ';
  line += component;
  line += ": ";
  line += text;
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

} // namespace

void set_log_sink(LogSink sink) {
  std::lock_guard lock(g_sink_mutex);
  g_sink = std::move(sink);
}

void set_log_fields_sink(LogFieldsSink sink) {
  std::lock_guard lock(g_sink_mutex);
  g_fields_sink = std::move(sink);
}

void set_log_level(LogLevel level) {
  g_level.store(static_cast<int>(level));
}

bool log_enabled(LogLevel level) {
  return static_cast<int>(level) >= g_level.load();
}

std::string_view log_level_name(LogLevel level) {
  switch (level) {
  case LogLevel::kDebug:
    return "debug";
  case LogLevel::kInfo:
    return "info";
  case LogLevel::kWarn:
    return "warn";
  case LogLevel::kError:
    return "error";
  }
  return "?";
}

LogLine::~LogLine() {
  // Log text carries guest strings (names, kernel releases, agent replies): escaped here, once,
  // so no sink ever receives a raw control byte or a newline that would forge a line.
  const std::string text = escape_text(out_.str());
  for (LogField& f : fields_) f.value = escape_text(f.value);
  std::lock_guard lock(g_sink_mutex);
  if (g_fields_sink) {
    g_fields_sink(level_, component_, text, fields_);
  } else if (g_sink) {
    g_sink(level_, component_, text);
  } else {
    stderr_sink(level_, component_, text);
  }
}

} // namespace guestdump

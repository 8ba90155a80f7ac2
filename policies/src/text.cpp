#include "text.h"

#include <array>
#include <cstdio>

namespace guestdump::policies::detail {

std::string format_duration(Duration d) {
  const bool negative = d.count() < 0;
  std::int64_t s = std::chrono::duration_cast<std::chrono::seconds>(negative ? -d : d).count();
  struct Unit {
    std::int64_t seconds;
    const char* name;
  };
  static constexpr std::array<Unit, 4> kUnits = {
      {{86400, "d"}, {3600, "h"}, {60, "min"}, {1, "s"}}};
  std::string out = negative ? "-" : "";
  int parts = 0;
  for (const Unit& unit : kUnits) {
    if (parts == 2) break;
    const std::int64_t n = s / unit.seconds;
    if (n == 0 && !(parts == 0 && unit.seconds == 1)) {
      if (parts > 0) break; // "2 h" rather than "2 h 0 min"
      continue;
    }
    if (parts > 0) out += ' ';
    out += std::to_string(n) + ' ' + unit.name;
    s -= n * unit.seconds;
    ++parts;
  }
  return out;
}

} // namespace guestdump::policies::detail

#pragma once
// Formatting helpers for the reasons and errors policies return.

#include <cstdint>
#include <string>

#include <guestdump/policies/config.h>

namespace guestdump::policies::detail {

/// "90 s", "2 min 5 s", "3 h", "2 d 4 h": whole seconds, the two largest units.
std::string format_duration(Duration d);

} // namespace guestdump::policies::detail

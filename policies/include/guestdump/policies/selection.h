#pragma once
// Which guests the daemon watches, and the dump settings each one gets.
//
// Patterns: "name:GLOB" matches the domain name (case-sensitive, as libvirt names are),
// "uuid:GLOB" the UUID (case-insensitive, as UUIDs are hex), a bare "GLOB" either one.
//
// Precedence, first rule that applies wins:
//   1. libvirt metadata opts out            -> not watched
//   2. an `exclude` pattern matches         -> not watched (exclude beats include and opt-in)
//   3. libvirt metadata opts in             -> watched
//   4. `require-opt-in` is set              -> not watched
//   5. `include` is empty, or one matches   -> watched; otherwise not watched
//
// Overrides: for each setting, the first `override` (in configuration order) that matches the
// guest and sets it wins, as sshd's Match blocks do; settings no override sets keep the global
// value.

#include <string>
#include <string_view>

#include <guestdump/policies/config.h>

namespace guestdump::policies {

/// The guest's own word, read by the host from the domain's libvirt metadata element.
enum class MetadataOptIn { kUnset, kOptIn, kOptOut };

struct GuestIdentity {
  std::string name;
  std::string uuid;
  MetadataOptIn metadata = MetadataOptIn::kUnset;
};

struct GuestSelection {
  bool watched = false;
  std::string reason; // e.g. "excluded by pattern 'test-*'"
};

/// True if one selection pattern (with optional name:/uuid: prefix) matches the guest.
bool pattern_matches(std::string_view pattern, const GuestIdentity& guest);

/// Applies the precedence above.
GuestSelection select_guest(const SelectionPolicy& policy, const GuestIdentity& guest);

/// The guest's effective settings: `defaults` with the matching overrides applied.
DumpSettings settings_for(const PolicyConfig& config, const GuestIdentity& guest);

} // namespace guestdump::policies

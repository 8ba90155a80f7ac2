#include <guestdump/policies/glob.h>
#include <guestdump/policies/selection.h>

namespace guestdump::policies {
namespace {

const std::string* first_match(const std::vector<std::string>& patterns,
                               const GuestIdentity& guest) {
  for (const std::string& p : patterns) {
    if (pattern_matches(p, guest)) return &p;
  }
  return nullptr;
}

} // namespace

bool pattern_matches(std::string_view pattern, const GuestIdentity& guest) {
  if (pattern.starts_with("name:")) {
    return glob_match(pattern.substr(5), guest.name, Case::kSensitive);
  }
  if (pattern.starts_with("uuid:")) {
    return !guest.uuid.empty() && glob_match(pattern.substr(5), guest.uuid, Case::kInsensitive);
  }
  return glob_match(pattern, guest.name, Case::kSensitive) ||
         (!guest.uuid.empty() && glob_match(pattern, guest.uuid, Case::kInsensitive));
}

GuestSelection select_guest(const SelectionPolicy& policy, const GuestIdentity& guest) {
  if (guest.metadata == MetadataOptIn::kOptOut) {
    return {false, "opted out in its libvirt metadata"};
  }
  if (const std::string* p = first_match(policy.exclude, guest)) {
    return {false, "excluded by pattern '" + *p + "'"};
  }
  if (guest.metadata == MetadataOptIn::kOptIn) {
    return {true, "opted in in its libvirt metadata"};
  }
  if (policy.require_opt_in) {
    return {false, "not opted in in its libvirt metadata (require-opt-in is set)"};
  }
  if (policy.include.empty()) return {true, "no include patterns: every guest is watched"};
  if (const std::string* p = first_match(policy.include, guest)) {
    return {true, "included by pattern '" + *p + "'"};
  }
  return {false, "matches no include pattern"};
}

DumpSettings settings_for(const PolicyConfig& config, const GuestIdentity& guest) {
  DumpSettings out = config.defaults;
  bool level_set = false;
  bool codec_set = false;
  bool after_set = false;
  bool hang_set = false;
  for (const GuestOverride& o : config.overrides) {
    if (!pattern_matches(o.pattern, guest)) continue;
    if (o.dump_level && !level_set) {
      out.dump_level = *o.dump_level;
      level_set = true;
    }
    if (o.codec && !codec_set) {
      out.codec = *o.codec;
      codec_set = true;
    }
    if (o.after_dump && !after_set) {
      out.after_dump = *o.after_dump;
      after_set = true;
    }
    if (o.hang_action && !hang_set) {
      out.hang_action = *o.hang_action;
      hang_set = true;
    }
  }
  return out;
}

} // namespace guestdump::policies

#pragma once
// What guestdumpd's log lines carry for the journal: one MESSAGE_ID per kind of event
// (`journalctl MESSAGE_ID=...`) and the guest's fields (`journalctl GUESTDUMP_DOMAIN=web1`).
// The IDs are part of the interface: docs/operations.md lists them; never change one.

#include <string>
#include <string_view>

#include <guestdump/common/log.h>
#include <guestdump/store/retention.h>

namespace guestdump::host {

namespace message_id {
inline constexpr std::string_view kDumpQueued = "63b42cb2ca2f44c8a717f6058330b521";
inline constexpr std::string_view kDumpStarted = "feab4ec85c594ae3ad3f7d072c810c77";
inline constexpr std::string_view kDumpComplete = "526ffa6f6f164ca78db79613526cf198";
inline constexpr std::string_view kDumpFailed = "16b9ed74141a4dc89cae257bcf58f2f1";
inline constexpr std::string_view kDumpRefused = "bd9b8280c75e4210947791093a12768f";
inline constexpr std::string_view kHangDetected = "3f3be614163844729128ab5c177c2204";
inline constexpr std::string_view kAfterDump = "cabc1fb39f364a58a9aaebc00cf62e05";
inline constexpr std::string_view kRetentionDeleted = store::kRetentionDeletedMessageId;
inline constexpr std::string_view kPostHook = "c1b227ac8154402488d41aa383ea65f1";
inline constexpr std::string_view kConfigReloaded = "147d91a9a41d45e988a70672e0c097d0";
inline constexpr std::string_view kConfigRefused = "0862a3ac3a2841d48e24dbb0733ac4e3";
inline constexpr std::string_view kUploadComplete = "5c535d09495e4d388848032a01778ec8";
inline constexpr std::string_view kUploadFailed = "06775e0664b7475fb9da2b0d7e8a7e32";
} // namespace message_id

/// The fields of a daemon event that concerns no guest (a reload): its MESSAGE_ID only.
inline LogFields daemon_event_fields(std::string_view id) {
  LogFields f;
  f.push_back({"MESSAGE_ID", std::string(id)});
  return f;
}

/// The fields of one guest event: MESSAGE_ID, GUESTDUMP_DOMAIN, GUESTDUMP_UUID and, when not
/// empty, GUESTDUMP_TRIGGER, GUESTDUMP_DUMP_DIR and GUESTDUMP_STATUS.
inline LogFields guest_event_fields(std::string_view id, std::string_view domain,
                                    std::string_view uuid, std::string_view trigger = {},
                                    std::string_view dump_dir = {}, std::string_view status = {}) {
  LogFields f;
  f.push_back({"MESSAGE_ID", std::string(id)});
  f.push_back({"GUESTDUMP_DOMAIN", std::string(domain)});
  f.push_back({"GUESTDUMP_UUID", std::string(uuid)});
  if (!trigger.empty()) f.push_back({"GUESTDUMP_TRIGGER", std::string(trigger)});
  if (!dump_dir.empty()) f.push_back({"GUESTDUMP_DUMP_DIR", std::string(dump_dir)});
  if (!status.empty()) f.push_back({"GUESTDUMP_STATUS", std::string(status)});
  return f;
}

/// The fields of an upload event: those of guest_event_fields() (no trigger) and
/// GUESTDUMP_UPLOAD_URL, the dump's remote location (never a credential).
inline LogFields upload_event_fields(std::string_view id, std::string_view domain,
                                     std::string_view uuid, std::string_view dump_dir,
                                     std::string_view status, std::string_view url) {
  LogFields f = guest_event_fields(id, domain, uuid, {}, dump_dir, status);
  if (!url.empty()) f.push_back({"GUESTDUMP_UPLOAD_URL", std::string(url)});
  return f;
}

} // namespace guestdump::host

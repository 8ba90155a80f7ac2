#pragma once
// The two things guestdumpd reads out of libvirt's XML, parsed as XML (libxml2, no network, no
// entity expansion), never matched as substrings: a domain's XML and its metadata are guest
// owners' text, and a name or description may well contain "watch=\"yes\"".

#include <optional>
#include <string_view>

namespace guestdump::host {

/// Our metadata element (`<guestdumpd xmlns="…" watch="yes|no"/>`, as
/// virDomainGetMetadata returns it): true for watch="yes", false for "no", nullopt for
/// anything else (absent, malformed, another element or value).
std::optional<bool> parse_watch_metadata(std::string_view xml);

/// True when a domain's XML has a virtio channel named org.qemu.guest_agent.0 under
/// /domain/devices.
bool has_agent_channel(std::string_view domain_xml);

} // namespace guestdump::host

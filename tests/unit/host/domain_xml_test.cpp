// libvirt XML is read as XML: a guest owner's text that merely contains our markers proves
// nothing, entities are not expanded, and anything malformed is "not set".

#include "guestdump/host/domain_xml.h"

#include <string>

#include <gtest/gtest.h>

namespace guestdump::host {
namespace {

TEST(DomainXml, WatchMetadata) {
  EXPECT_EQ(parse_watch_metadata(
                R"(<guestdumpd xmlns="https://guestdump.dev/xmlns/guestdumpd/1" watch="yes"/>)"),
            true);
  EXPECT_EQ(parse_watch_metadata("<guestdumpd watch='no'/>"), false);
  EXPECT_EQ(parse_watch_metadata("<guestdumpd watch='maybe'/>"), std::nullopt);
  EXPECT_EQ(parse_watch_metadata(""), std::nullopt);
  EXPECT_EQ(parse_watch_metadata("<guestdumpd watch='yes'"), std::nullopt); // malformed
  // The marker as text, or on another element, is not our element saying yes.
  EXPECT_EQ(parse_watch_metadata(R"(<other watch="yes"/>)"), std::nullopt);
  EXPECT_EQ(parse_watch_metadata(R"(<guestdumpd><x watch="yes"/></guestdumpd>)"), std::nullopt);
  EXPECT_EQ(parse_watch_metadata(R"(<guestdumpd note='watch="yes"'/>)"), std::nullopt);
}

TEST(DomainXml, DocumentsWithADoctypeAreRefused) {
  // An external entity (XXE) and an entity that would say "yes" once expanded: libvirt writes
  // no DOCTYPE, so such a document is not libvirt's.
  const std::string xxe = R"(<?xml version="1.0"?>
<!DOCTYPE guestdumpd [<!ENTITY y "yes"><!ENTITY f SYSTEM "file:///etc/hostname">]>
<guestdumpd watch="&y;">&f;</guestdumpd>)";
  EXPECT_EQ(parse_watch_metadata(xxe), std::nullopt);
  EXPECT_FALSE(has_agent_channel(R"(<!DOCTYPE domain [<!ENTITY a "org.qemu.guest_agent.0">]>
<domain><devices><channel><target type='virtio' name='&a;'/></channel></devices></domain>)"));
}

TEST(DomainXml, AgentChannel) {
  const std::string with = R"(<domain type='kvm'><name>web1</name><devices>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
  </devices></domain>)";
  EXPECT_TRUE(has_agent_channel(with));
  // The name in a description, a title or another device is no agent channel.
  const std::string fake = R"(<domain type='kvm'><name>org.qemu.guest_agent.0</name>
    <description>channel org.qemu.guest_agent.0</description><devices>
    <channel type='unix'><target type='virtio' name='org.qemu.other.0'/></channel>
    <serial><target name='org.qemu.guest_agent.0'/></serial></devices></domain>)";
  EXPECT_FALSE(has_agent_channel(fake));
  EXPECT_FALSE(has_agent_channel("<domain><devices>"));
}

} // namespace
} // namespace guestdump::host

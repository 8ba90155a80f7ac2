#!/usr/bin/env bash
# Installs everything guestdump needs to build and to run its whole test suite on Debian 12.
# Usage: scripts/install-deps.sh [--build-only]
set -euo pipefail

build_pkgs=(
  build-essential cmake pkg-config ninja-build
  libvirt-dev nlohmann-json3-dev libelf-dev libzstd-dev zlib1g-dev liblzo2-dev libsnappy-dev
  libboost-program-options-dev googletest libgtest-dev libgmock-dev libfmt-dev libsystemd-dev
  libxml2-dev
  # the S3 store (objstore/): libcurl's SigV4 signing, libcrypto's SHA-256
  libcurl4-openssl-dev libssl-dev
  # man pages (docs/man/*.scd) and the sample configuration generated from one of them
  scdoc python3
)
test_pkgs=(
  qemu-system-x86 qemu-utils busybox-static cpio kmod xz-utils zstd
  crash makedumpfile python3-libkdumpfile python3-drgn
  # meta.json samples of every producer are checked against docs/meta.schema.json.
  python3-jsonschema
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
  e2fsprogs util-linux kexec-tools time bc clang-format git
  clang libclang-rt-14-dev
  # packaging: systemd-analyze (the unit's exposure score), the packages and their install test
  systemd debhelper lintian dpkg-dev
  # e2e.daemon.hostile builds tests/fixtures/hostile/hostile.ko for the fixture kernel, the one
  # linux-image-cloud-amd64 names; build-module.sh installs the exact linux-headers-<release>
  # itself when the fixture cache holds an older kernel.
  linux-headers-cloud-amd64
  # integration.qemu-sid runs Debian unstable's newest QEMU from a root that mmdebstrap makes
  # (tests/fixtures/sid-qemu/build.sh).
  mmdebstrap
  # integration.s3.*: a single-node Ceph RGW (tests/fixtures/rgw/rgw.sh)
  ceph-mon ceph-osd radosgw ceph-common
  # integration.guest.upload.ssh: its own sshd on 127.0.0.1, and the client programs
  openssh-server openssh-client
)

pkgs=("${build_pkgs[@]}")
if [[ "${1:-}" != "--build-only" ]]; then
  pkgs+=("${test_pkgs[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"

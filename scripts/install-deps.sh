#!/usr/bin/env bash
# Installs the Debian packages vpmu needs (needs root; idempotent: installs only what is missing).
#   bash scripts/install-deps.sh           to run vpmu serve and the demo
#   bash scripts/install-deps.sh --tests   also everything the test suite needs (.ci/run)
#
# To run:
#   libvirt-dev      libvirt's library and the headers the optional @unraid/libvirt binding builds
#                    against in `npm ci` (without it every libvirt call says what to install)
#   qemu-utils       qemu-img, which reads a backing image's format for instance disks
#   curl             the demo's HTTP client
#   genisoimage      makes the config drives (ISO 9660, label config-2) servers get
# For the tests:
#   libvirt-clients  virsh and virt-xml-validate (golden XML, test:///default define/read-back)
#   libxml2-utils    xmllint, which virt-xml-validate runs
#   python3-openstackclient  the stock `openstack` client for the end-to-end API test
#   python3-osc-placement  its `openstack resource provider …` / `allocation candidate` commands
#   python3-glanceclient  the stock `glance` command (image v2 end-to-end test)
#   rabbitmq-server  the broker the RabbitMQ notifier test publishes to (scripts/rabbitmq.sh)
#   python3-oslo.messaging  the unchanged oslo notification listener (scripts/oslo-listener.py)
#   postgresql       the PostgreSQL store's tests run on a private cluster (scripts/postgres.sh)
#   tempest          OpenStack's own API conformance suite (scripts/tempest.sh)
#   python3-pip      installs vpmu's own client plugin (clients/osc-vpmu) beside the stock client
# and, without recommends (no systemd, no desktop stack), a real daemon for the end-to-end tests:
#   libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86
# (scripts/session-libvirtd.sh runs more of them, as an unprivileged user: it also needs setpriv and
# useradd, from util-linux and passwd, which every Debian system has)
# and, fetched but not installed (into $VPMU_TEST_GUEST_DEBS, default /var/cache/vpmu/test-guest),
# the two packages the real-guest test builds its tiny Linux guest from (src/testing/test-guest.ts):
#   linux-image-amd64's kernel package, and busybox-static
set -euo pipefail
packages=(libvirt-dev qemu-utils curl genisoimage)
case "${1:-}" in
  '') ;;
  --tests) packages+=(libvirt-clients libxml2-utils python3-openstackclient python3-osc-placement
    python3-glanceclient python3-pip tempest rabbitmq-server python3-oslo.messaging libvirt-daemon
    libvirt-daemon-driver-qemu qemu-system-x86 postgresql) ;;
  *) echo "usage: $0 [--tests]" >&2; exit 2 ;;
esac

guest_debs=${VPMU_TEST_GUEST_DEBS:-/var/cache/vpmu/test-guest}
# Fetches the test guest's packages once (the newest kernel of linux-image-amd64 and busybox-static).
fetch_guest_debs() {
  ls "$guest_debs"/linux-image-*-amd64_*.deb "$guest_debs"/busybox-static_*.deb >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || { echo "install-deps.sh: run as root to fetch the test guest's packages into $guest_debs" >&2; exit 1; }
  mkdir -p "$guest_debs"
  [ -n "${updated:-}" ] || apt-get update -qq
  kernel=$(apt-cache depends --important linux-image-amd64 | awk '/Depends:/ { print $2; exit }')
  [ -n "$kernel" ] || { echo "install-deps.sh: linux-image-amd64 names no kernel package" >&2; exit 1; }
  (cd "$guest_debs" && apt-get download -qq "$kernel" busybox-static)
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  [ "${1:-}" = --tests ] && fetch_guest_debs
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "install-deps.sh: run as root to install: ${missing[*]}" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
# Packages must not start services (rabbitmq-server's postinst would start a broker on every
# interface): deny starts while installing, unless the machine already has a policy.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
updated=1
apt-get install -y -qq --no-install-recommends "${missing[@]}"
[ "${1:-}" = --tests ] && fetch_guest_debs
exit 0

#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (needs root; idempotent).
#   libvirt-clients  virsh and virt-xml-validate (golden XML, test:///default define/read-back)
#   libxml2-utils    xmllint, which virt-xml-validate runs
#   python3-openstackclient  the stock `openstack` client for the end-to-end API test
#   rabbitmq-server  the broker the RabbitMQ notifier test publishes to (scripts/rabbitmq.sh)
#   python3-oslo.messaging  the unchanged oslo notification listener (scripts/oslo-listener.py)
#   libvirt-dev      headers the optional @unraid/libvirt binding builds against (npm ci)
#   qemu-utils       qemu-img, for instance disks
# and, without recommends (no systemd, no desktop stack), a real daemon for the end-to-end tests:
#   libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86
set -euo pipefail
packages=(libvirt-clients libxml2-utils libvirt-dev qemu-utils python3-openstackclient rabbitmq-server python3-oslo.messaging)
daemon_packages=(libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86)

missing_of() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || printf '%s\n' "$p"
  done
}

mapfile -t missing < <(missing_of "${packages[@]}")
mapfile -t missing_daemon < <(missing_of "${daemon_packages[@]}")
if [ ${#missing[@]} -gt 0 ] || [ ${#missing_daemon[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # Packages must not start services (rabbitmq-server's postinst would start a broker on every
  # interface): deny starts while installing, unless the machine already has a policy.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  if [ ${#missing_daemon[@]} -gt 0 ]; then
    apt-get install -y -qq --no-install-recommends "${missing_daemon[@]}"
  fi
fi

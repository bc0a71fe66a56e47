#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (needs root; idempotent).
#   libvirt-clients  virsh and virt-xml-validate (golden XML, test:///default define/read-back)
#   libxml2-utils    xmllint, which virt-xml-validate runs
#   rabbitmq-server  the broker the RabbitMQ notifier test publishes to (scripts/rabbitmq.sh)
#   python3-oslo.messaging  the unchanged oslo notification listener (scripts/oslo-listener.py)
set -euo pipefail
packages=(libvirt-clients libxml2-utils rabbitmq-server python3-oslo.messaging)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # Packages must not start services (rabbitmq-server's postinst would start a broker on every
  # interface): deny starts while installing, unless the machine already has a policy.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

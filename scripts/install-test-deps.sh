#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (needs root; idempotent).
#   libvirt-clients  virsh and virt-xml-validate (golden XML, test:///default define/read-back)
#   libxml2-utils    xmllint, which virt-xml-validate runs
#   python3-openstackclient  the stock `openstack` client for the end-to-end API test
set -euo pipefail
packages=(libvirt-clients libxml2-utils python3-openstackclient)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

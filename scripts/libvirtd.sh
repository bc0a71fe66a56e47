#!/usr/bin/env bash
# Starts or stops a real libvirtd + virtlogd without systemd (as root), for the tests that need
# qemu:///system. See the lead's reference notes (real-components.md §2) for why each step exists.
#   scripts/libvirtd.sh start [STATE_DIR]   start both daemons; pidfiles go to STATE_DIR
#   scripts/libvirtd.sh stop  [STATE_DIR]   stop both by pid (and any guest vpmu's tests left running)
# STATE_DIR defaults to ${VPMU_LIBVIRTD_STATE:-/tmp/vpmu-libvirtd}.
set -euo pipefail
action=${1:-}
state=${2:-${VPMU_LIBVIRTD_STATE:-/tmp/vpmu-libvirtd}}
uri=qemu:///system
ready_timeout=${VPMU_LIBVIRTD_TIMEOUT:-60}

log() { printf 'libvirtd.sh: %s\n' "$*" >&2; }

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
  [ "$(id -u)" = 0 ] || { log 'must run as root (qemu:///system)'; exit 1; }
  command -v libvirtd >/dev/null || { log 'libvirtd not found: apt-get install --no-install-recommends libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86'; exit 1; }
  mkdir -p "$state" /var/log/libvirt
  # The QEMU driver resolves its compiled-in user and group before reading qemu.conf.
  getent group kvm >/dev/null || groupadd -r kvm
  getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
  id -u libvirt-qemu >/dev/null 2>&1 ||
    useradd -r -g kvm -G libvirt-qemu -d /var/lib/libvirt -M -s /usr/sbin/nologin libvirt-qemu
  # Debian's udev rule gives /dev/kvm to group kvm (0660); without udev it stays root's (0600).
  # libvirt then probes QEMU with KVM (as root) but finds KVM unusable for its QEMU user, calls its
  # capability cache outdated and probes again on every call (30-60 s each, measured here).
  if [ -c /dev/kvm ] && [ "$(stat -c %G:%a /dev/kvm)" != kvm:660 ]; then
    chgrp kvm /dev/kvm && chmod 0660 /dev/kvm && log '/dev/kvm: group kvm, mode 0660 (as udev does)'
  fi
  # virtlogd is socket-activated under systemd; here it must run before any guest starts.
  if alive "$state/virtlogd.pid"; then log "virtlogd already running (pid $(cat "$state/virtlogd.pid"))"
  else virtlogd -d -p "$state/virtlogd.pid"; fi
  if alive "$state/libvirtd.pid"; then log "libvirtd already running (pid $(cat "$state/libvirtd.pid"))"
  else libvirtd -d -p "$state/libvirtd.pid"; fi
  local waited=0
  until virsh -q -c "$uri" version >/dev/null 2>&1; do
    if [ "$waited" -ge $((ready_timeout * 5)) ]; then
      log "libvirtd did not answer on $uri within ${ready_timeout}s; see /var/log/libvirt/libvirtd.log"
      stop || true
      exit 1
    fi
    sleep 0.2
    waited=$((waited + 1))
  done
  log "libvirtd (pid $(cat "$state/libvirtd.pid")) and virtlogd (pid $(cat "$state/virtlogd.pid")) answer on $uri"
}

stop_pid() {
  local name=$1 file=$2
  alive "$file" || { rm -f "$file"; return 0; }
  local pid
  pid=$(cat "$file")
  kill "$pid"
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$file"; log "stopped $name (pid $pid)"; return 0; }
    sleep 0.2
  done
  log "$name (pid $pid) ignored SIGTERM for 10s; sending SIGKILL"
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$file"
}

stop() {
  # Guests of vpmu's tests (vpmu-test-*, and servers' instance-<uuid>) must not outlive the daemon.
  local ours='^(vpmu-test-.*|instance-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$'
  if alive "$state/libvirtd.pid"; then
    for dom in $(virsh -q -c "$uri" list --all --name 2>/dev/null | grep -E "$ours" || true); do
      timeout 20 virsh -q -c "$uri" destroy "$dom" >/dev/null 2>&1 || true
      timeout 20 virsh -q -c "$uri" undefine "$dom" >/dev/null 2>&1 || true
    done
  fi
  stop_pid libvirtd "$state/libvirtd.pid"
  stop_pid virtlogd "$state/virtlogd.pid"
}

case "$action" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop [STATE_DIR]" >&2; exit 2 ;;
esac

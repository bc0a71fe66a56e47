#!/usr/bin/env bash
# One isolated libvirt host per directory: a session-mode libvirtd run as an unprivileged user, for
# tests that need several compute hosts on one machine (privileged daemons share libvirt's system
# run and state directories, so a second qemu:///system daemon is not possible).
#   scripts/session-libvirtd.sh start DIR   start (or find running) the daemon of DIR; prints its
#                                           two URIs on stdout, one per line:
#       test+unix:///default?socket=DIR/run/libvirt/libvirt-sock   the test driver (its state lives
#                                           as long as a connection to it is held)
#       qemu+unix:///session?socket=DIR/run/libvirt/libvirt-sock   real QEMU/TCG, run as USER
#   scripts/session-libvirtd.sh stop DIR    destroy its guests, stop its libvirtd, its virtlogd and
#                                           any QEMU it left, each by the pid in its pidfile
# Run as root. USER is ${VPMU_SESSION_USER:-vpmu-hosts}, created once (system user, no login, no
# home). DIR becomes USER's; the daemon's HOME is DIR/home and XDG_RUNTIME_DIR, XDG_CONFIG_HOME and
# XDG_CACHE_HOME are DIR/run, DIR/config and DIR/cache, so nothing is shared between two DIRs:
# domains, QEMU's capability cache, logs (DIR/cache/libvirt/qemu/log/NAME.log) and sockets.
#
# Booting a real guest through the qemu URI (measured on Debian 12, libvirt 9.0, QEMU 7.2):
# - Root may connect to the socket, and so may USER.
# - QEMU runs as USER, and a session daemon has no DAC security model (its capabilities list
#   <model>none</model>): it hands no file to QEMU. The instance directory (the daemon creates
#   console.log there, as USER), the disk, the config drive and the image data the disk is backed
#   on must already be USER's. A root vpmu writes root's 0755 directories, 0644 disks and 0600
#   image files, and every start fails ("Unable to open file: …/console.log: Permission denied").
#   So run vpmu as USER too, with a state directory USER owns, e.g. DIR/state:
#     setpriv --reuid USER --regid USER --init-groups vpmu serve --uri QEMU_URI --state-dir DIR/state
#   vpmu then keeps it 0700/0600 as for qemu:///session; started as root on such a URI it refuses.
# - virtlogd: nothing has to start it. With libvirt's default (stdio_handler = "logd") the daemon
#   spawns its own on the first guest start (DIR/run/libvirt/virtlogd.pid, exits after 120 s idle),
#   and `stop` stops it; stdio_handler = "file" in DIR/config/libvirt/qemu.conf does without it.
# - Timings here: the daemon answers in about 0.1 s (about 22 MiB); its first QEMU call probes
#   QEMU's capabilities (1-3 s, cached in DIR/cache); define+start of a TCG guest designed by vpmu
#   then takes 0.4-1 s, and POST /servers to ACTIVE about 1.2-2 s.
# - The socket path must stay under 108 bytes, and DIR's parents must let USER through.
set -euo pipefail
action=${1:-}
dir=${2:-}
user=${VPMU_SESSION_USER:-vpmu-hosts}
ready_timeout=${VPMU_LIBVIRTD_TIMEOUT:-60}

log() { printf 'session-libvirtd.sh: %s\n' "$*" >&2; }

# A process that has exited but is not yet reaped (a zombie: daemons are reparented to PID 1) is not alive.
alive() {
  [ -s "$1" ] || return 1
  local pid
  pid=$(cat "$1")
  kill -0 "$pid" 2>/dev/null && [ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]
}

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }

[ -n "$dir" ] || usage
dir=$(realpath -m "$dir")
sock=$dir/run/libvirt/libvirt-sock
test_uri="test+unix:///default?socket=$sock"
qemu_uri="qemu+unix:///session?socket=$sock"

# The daemon's environment: nothing of root's, everything under DIR.
as_user() {
  setpriv --reuid="$user" --regid="$user" --init-groups -- env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    USER="$user" LOGNAME="$user" HOME="$dir/home" XDG_RUNTIME_DIR="$dir/run" \
    XDG_CONFIG_HOME="$dir/config" XDG_CACHE_HOME="$dir/cache" "$@"
}

start() {
  [ "$(id -u)" = 0 ] || { log 'must run as root (it creates the user and runs the daemon as it)'; exit 1; }
  command -v libvirtd >/dev/null || { log 'libvirtd not found: apt-get install --no-install-recommends libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86'; exit 1; }
  command -v virsh >/dev/null || { log 'virsh not found: apt-get install libvirt-clients'; exit 1; }
  # Two hosts starting at once (two test files) may both try to create them: the loser's
  # groupadd/useradd fails, and that is fine as long as they exist afterwards.
  getent group "$user" >/dev/null || groupadd -r "$user" 2>/dev/null || getent group "$user" >/dev/null
  id -u "$user" >/dev/null 2>&1 ||
    useradd -r -g "$user" -d /nonexistent -M -s /usr/sbin/nologin -c 'vpmu test hosts' "$user" 2>/dev/null ||
    id -u "$user" >/dev/null 2>&1
  mkdir -p "$dir"
  chown "$user:$user" "$dir"
  chmod 0700 "$dir"
  # USER must be able to enter every directory above DIR.
  if ! setpriv --reuid="$user" --regid="$user" --init-groups -- test -x "$dir"; then
    log "$user cannot enter $dir: put DIR below directories others may enter (e.g. /tmp)"
    exit 1
  fi
  local d
  for d in home run config cache; do
    install -d -o "$user" -g "$user" -m 0700 "$dir/$d"
  done
  if alive "$dir/libvirtd.pid"; then
    log "libvirtd already running for $dir (pid $(cat "$dir/libvirtd.pid"))"
  else
    # libvirtd -d forks: the pidfile is the daemon's, written by it (DIR is USER's).
    as_user libvirtd -d -p "$dir/libvirtd.pid"
  fi
  local waited=0
  until virsh -q -c "$test_uri" version >/dev/null 2>&1; do
    if [ "$waited" -ge $((ready_timeout * 5)) ]; then
      log "libvirtd did not answer on $test_uri within ${ready_timeout}s; see $dir/cache/libvirt/libvirtd.log"
      stop || true
      exit 1
    fi
    sleep 0.2
    waited=$((waited + 1))
  done
  log "libvirtd (pid $(cat "$dir/libvirtd.pid"), user $user) answers on $sock"
  printf '%s\n%s\n' "$test_uri" "$qemu_uri"
}

stop_pid() {
  local name=$1 file=$2
  alive "$file" || { rm -f "$file"; return 0; }
  local pid
  pid=$(cat "$file")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    alive "$file" || { rm -f "$file"; log "stopped $name (pid $pid)"; return 0; }
    sleep 0.2
  done
  log "$name (pid $pid) ignored SIGTERM for 10s; sending SIGKILL"
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$file"
}

stop() {
  [ "$(id -u)" = 0 ] || { log 'must run as root'; exit 1; }
  if alive "$dir/libvirtd.pid"; then
    # Every guest of this host goes: the host is a test's, and QEMU must not outlive its daemon.
    local dom
    for dom in $(timeout 20 virsh -q -c "$qemu_uri" list --name 2>/dev/null || true); do
      timeout 20 virsh -q -c "$qemu_uri" destroy "$dom" >/dev/null 2>&1 || true
    done
  fi
  stop_pid libvirtd "$dir/libvirtd.pid"
  # Whatever QEMU the daemon could not destroy, by the pidfile libvirt wrote for it.
  local file
  for file in "$dir"/run/libvirt/qemu/run/*.pid; do
    # driver.pid is the daemon's own (stopped above); the others are QEMU's, one per guest.
    [ -e "$file" ] && [ "$(basename "$file")" != driver.pid ] || continue
    stop_pid "qemu ($(basename "$file" .pid))" "$file"
  done
  stop_pid virtlogd "$dir/run/libvirt/virtlogd.pid"
}

case "$action" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac

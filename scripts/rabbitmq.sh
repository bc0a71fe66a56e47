#!/usr/bin/env bash
# Starts or stops Debian's rabbitmq-server on loopback only, without systemd (needs root).
#   bash scripts/rabbitmq.sh start   # returns once the broker is booted (bounded wait), prints the URL
#   bash scripts/rabbitmq.sh stop    # stops the broker by its pid, then epmd
#   bash scripts/rabbitmq.sh vhost NAME         # creates vhost NAME for guest, prints its URL
#   bash scripts/rabbitmq.sh delete-vhost NAME  # deletes it (and its queues)
# A vhost isolates a test deployment: RPC queues are named by topic alone (as oslo names them),
# so two deployments on one vhost would consume each other's messages whatever their exchange.
# The AMQP port is 127.0.0.1:5672 (guest/guest works from loopback); epmd and the distribution
# port listen on loopback too. See shared/reference/oslo-notifications.md section 1.
set -euo pipefail

export RABBITMQ_NODENAME=rabbit@localhost
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT="${RABBITMQ_NODE_PORT:-5672}"
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
PID_FILE=/var/lib/rabbitmq/mnesia/rabbit@localhost.pid
BOOT_TIMEOUT="${RABBITMQ_BOOT_TIMEOUT:-90}"

running_pid() {
  [ -s "$PID_FILE" ] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

case "${1:-}" in
  start)
    command -v rabbitmq-server >/dev/null || {
      echo "rabbitmq-server is not installed: run scripts/install-test-deps.sh" >&2
      exit 1
    }
    if pid="$(running_pid)"; then
      echo "rabbitmq already running (pid $pid)" >&2
    else
      rm -f "$PID_FILE"
      rabbitmq-server -detached
      if ! timeout "$((BOOT_TIMEOUT + 5))" rabbitmqctl wait "$PID_FILE" --timeout "$BOOT_TIMEOUT" >/dev/null; then
        echo "rabbitmq did not boot within ${BOOT_TIMEOUT}s; log: /var/log/rabbitmq/rabbit@localhost.log" >&2
        tail -n 20 /var/log/rabbitmq/rabbit@localhost.log >&2 || true
        exit 1
      fi
    fi
    echo "rabbit://guest:guest@127.0.0.1:${RABBITMQ_NODE_PORT}/"
    ;;
  stop)
    if pid="$(running_pid)"; then
      kill -TERM "$pid"
      for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
      done
      if kill -0 "$pid" 2>/dev/null; then
        echo "rabbitmq (pid $pid) did not stop within 30s; killing it" >&2
        kill -KILL "$pid" || true
      fi
    fi
    # epmd is daemonised and outlives the broker.
    epmd -kill >/dev/null 2>&1 || true
    ;;
  vhost)
    name="${2:?usage: $0 vhost NAME}"
    rabbitmqctl -q add_vhost "$name" >&2
    rabbitmqctl -q set_permissions -p "$name" guest '.*' '.*' '.*' >&2
    echo "rabbit://guest:guest@127.0.0.1:${RABBITMQ_NODE_PORT}/${name}"
    ;;
  delete-vhost)
    rabbitmqctl -q delete_vhost "${2:?usage: $0 delete-vhost NAME}" >&2
    ;;
  *)
    echo "usage: $0 start|stop|vhost NAME|delete-vhost NAME" >&2
    exit 2
    ;;
esac

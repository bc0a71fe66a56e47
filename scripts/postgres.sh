#!/usr/bin/env bash
# Starts or stops a private PostgreSQL cluster for the tests (needs root: the cluster belongs to
# the `postgres` user). Trust authentication, on 127.0.0.1 and a socket directory inside DIR only.
#   bash scripts/postgres.sh start DIR   initdb if needed, start on a free port (bounded wait),
#                                        create database `vpmu`, print its URL
#   bash scripts/postgres.sh stop DIR    stop the cluster (fast shutdown); nothing running is fine
# The cluster uses the C locale, so text sorts by code point as in SQLite.
set -euo pipefail
action=${1:-}
dir=${2:-${VPMU_POSTGRES_DIR:-/tmp/vpmu-postgres}}
bin=${VPMU_POSTGRES_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
timeout=${VPMU_POSTGRES_TIMEOUT:-60}

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
as_postgres() { su postgres -s /bin/sh -c "$*"; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

running() { [ -s "$dir/data/postmaster.pid" ] && kill -0 "$(head -n 1 "$dir/data/postmaster.pid")" 2>/dev/null; }

start() {
  [ "$(id -u)" = 0 ] || { log 'must run as root (the cluster belongs to the postgres user)'; exit 1; }
  [ -x "$bin/initdb" ] || { log 'PostgreSQL is not installed: run scripts/install-test-deps.sh'; exit 1; }
  mkdir -p "$dir"
  chown postgres: "$dir"
  mkdir -p "$dir/socket" && chown postgres: "$dir/socket"
  if [ ! -s "$dir/data/PG_VERSION" ]; then
    as_postgres "'$bin/initdb' -A trust -U postgres --locale=C -E UTF8 -D '$dir/data'" >"$dir/initdb.log" 2>&1 ||
      { log "initdb failed; see $dir/initdb.log"; tail -n 20 "$dir/initdb.log" >&2; exit 1; }
  fi
  local port
  if running; then
    port=$(sed -n 4p "$dir/data/postmaster.pid")
    log "PostgreSQL already running (pid $(head -n 1 "$dir/data/postmaster.pid"), port $port)"
  else
    port=$(free_port)
    as_postgres "'$bin/pg_ctl' -D '$dir/data' -w -t '$timeout' -l '$dir/postgres.log' -o \"-p $port -k '$dir/socket' -c listen_addresses=127.0.0.1 -c max_connections=200\" start" >/dev/null ||
      { log "PostgreSQL did not start within ${timeout}s; see $dir/postgres.log"; tail -n 20 "$dir/postgres.log" >&2; exit 1; }
  fi
  if [ -z "$(as_postgres "'$bin/psql' -h '$dir/socket' -p $port -U postgres -Atc \"select 1 from pg_database where datname = 'vpmu'\"")" ]; then
    as_postgres "'$bin/createdb' -h '$dir/socket' -p $port -U postgres vpmu"
  fi
  echo "postgres://postgres@127.0.0.1:$port/vpmu"
}

stop() {
  running || return 0
  [ -x "$bin/pg_ctl" ] || { log "pg_ctl not found under $bin"; exit 1; }
  as_postgres "'$bin/pg_ctl' -D '$dir/data' -w -t '$timeout' -m fast stop" >/dev/null || {
    local pid
    pid=$(head -n 1 "$dir/data/postmaster.pid")
    log "PostgreSQL (pid $pid) did not stop within ${timeout}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  }
}

case "$action" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop [DIR]" >&2; exit 2 ;;
esac

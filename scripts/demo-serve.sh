#!/usr/bin/env bash
# The headline through the API: start `vpmu serve` on its embedded defaults (SQLite, JSON-lines
# notifications, libvirt test:///default) in the background, then as the stock client would:
# a vRAN flavor with hw:pmu=false, a profiling image with hw_pmu=true, the conflict refused with
# Nova's message, and matching boots showing their effective vPMU. The service keeps running;
# the script prints how to point the openstack client at it and how to stop it.
#
#   bash scripts/demo-serve.sh          start fresh and run the scenario
#   bash scripts/demo-serve.sh stop     stop the service it started
# Environment: VPMU_DEMO_STATE (default ./.vpmu-demo), VPMU_DEMO_PORT (default 8774),
#              VPMU_DEMO_URI (default test:///default), VPMU_ADMIN_PASSWORD (default demo-admin).
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=$(realpath -m "${VPMU_DEMO_STATE:-.vpmu-demo}")
PORT=${VPMU_DEMO_PORT:-8774}
URI=${VPMU_DEMO_URI:-test:///default}
PASSWORD=${VPMU_ADMIN_PASSWORD:-demo-admin}
PIDFILE="$STATE/serve.pid"

stop() {
  if [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    kill -TERM "$(cat "$PIDFILE")"
    for _ in $(seq 50); do kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break; sleep 0.1; done
    echo "vpmu serve (pid $(cat "$PIDFILE")) stopped"
  fi
  rm -f "$PIDFILE"
}

if [[ "${1:-}" == "stop" ]]; then stop; exit 0; fi

stop
rm -rf "$STATE"
mkdir -p "$STATE"
VPMU_ADMIN_PASSWORD="$PASSWORD" nohup node bin/vpmu.js serve --port "$PORT" --state-dir "$STATE" \
  --uri "$URI" >"$STATE/serve.out" 2>&1 &
echo $! >"$PIDFILE"
URL=""
for _ in $(seq 100); do
  URL=$(sed -n 's/^vpmu listening on \(http:[^ ]*\).*/\1/p' "$STATE/serve.out" | head -n1)
  [[ -n "$URL" ]] && break
  if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    cat "$STATE/serve.out" >&2
    rm -f "$PIDFILE"
    exit 1
  fi
  sleep 0.1
done
[[ -n "$URL" ]] || { echo "vpmu serve did not start; see $STATE/serve.out" >&2; exit 1; }
printf '\033[1mvpmu serve is running at %s (pid %s, state %s, hypervisor %s)\033[0m\n' \
  "$URL" "$(cat "$PIDFILE")" "$STATE" "$URI"

# Reads one JSON value from stdin: field path as arguments (numbers index arrays).
field() { node -e 'let t="";process.stdin.on("data",d=>t+=d).on("end",()=>{let v=JSON.parse(t);for(const k of process.argv.slice(1))v=v?.[/^\d+$/.test(k)?Number(k):k];console.log(typeof v==="string"?v:JSON.stringify(v))})' "$@"; }

TOKEN=$(curl -sS -D - -o /dev/null -H 'Content-Type: application/json' \
  -d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"admin\",\"domain\":{\"name\":\"Default\"},\"password\":\"$PASSWORD\"}}},\"scope\":{\"project\":{\"name\":\"admin\",\"domain\":{\"name\":\"Default\"}}}}}" \
  "$URL/identity/v3/auth/tokens" | tr -d '\r' | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: //p')
api() { # METHOD PATH [JSON]
  curl -sS -X "$1" -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
    -H 'OpenStack-API-Version: compute 2.61' ${3:+-d "$3"} "$URL$2"
}
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

say '1. The operator creates a vRAN flavor with the vPMU off, and a general one.'
api POST /compute/v2.1/flavors '{"flavor":{"name":"vran","id":"vran","vcpus":1,"ram":64,"disk":0}}' >/dev/null
api POST /compute/v2.1/flavors/vran/os-extra_specs '{"extra_specs":{"hw:pmu":"false"}}'; echo
api POST /compute/v2.1/flavors '{"flavor":{"name":"general","id":"general","vcpus":1,"ram":64,"disk":0}}' >/dev/null
echo '{"general": no extra specs}'

say '2. A tenant uploads a profiling image with hw_pmu=true, and a plain one.'
head -c 1048576 /dev/zero >"$STATE/disk.raw"
image() { # NAME [extra JSON members]
  local id
  id=$(api POST /image/v2/images "{\"name\":\"$1\",\"disk_format\":\"raw\",\"container_format\":\"bare\",\"visibility\":\"public\"${2:+,$2}}" | field id)
  curl -sS -X PUT -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/octet-stream' \
    --data-binary @"$STATE/disk.raw" "$URL/image/v2/images/$id/file"
  echo "$id"
}
PROFILING=$(image profiling '"hw_pmu":"true"')
PLAIN=$(image cirros)
echo "profiling = $PROFILING (hw_pmu=true), cirros = $PLAIN (no hw_pmu)"

say '3. The vRAN flavor with the profiling image is refused with Nova'"'"'s message; nothing is created.'
api POST /compute/v2.1/servers "{\"server\":{\"name\":\"clash\",\"flavorRef\":\"vran\",\"imageRef\":\"$PROFILING\"}}"; echo

say '4. Matching pairs boot; each server shows its effective vPMU (vpmu:pmu).'
boot() { api POST /compute/v2.1/servers "{\"server\":{\"name\":\"$1\",\"flavorRef\":\"$2\",\"imageRef\":\"$3\"}}" | field server id; }
IDS=("$(boot vran-1 vran "$PLAIN")" "$(boot profiler-1 general "$PROFILING")" "$(boot plain-1 general "$PLAIN")")
for id in "${IDS[@]}"; do
  for _ in $(seq 100); do
    status=$(api GET "/compute/v2.1/servers/$id" | field server status)
    [[ "$status" == BUILD ]] || break
    sleep 0.1
  done
  api GET "/compute/v2.1/servers/$id" | node -e 'let t="";process.stdin.on("data",d=>t+=d).on("end",()=>{const s=JSON.parse(t).server;const p=s["vpmu:pmu"];console.log(`${s.name.padEnd(11)} ${s.status.padEnd(7)} requested flavor=${p.requested.flavor} image=${p.requested.image} -> resolved ${p.resolved}, effective ${p.effective}\n            ${p.reason}\n            <pmu> in libvirt: ${(/<pmu[^>]*>/.exec(s["vpmu:domain_xml"]??"")??["(none)"])[0]}`)})'
done

cat >"$STATE/clouds.yaml" <<EOF
clouds:
  vpmu:
    auth_type: password
    auth:
      auth_url: $URL/identity/v3
      username: admin
      password: $PASSWORD
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
EOF
say 'The service keeps running. Point the openstack client at it:'
cat <<EOF
  export OS_CLIENT_CONFIG_FILE=$STATE/clouds.yaml OS_CLOUD=vpmu
  openstack server list
  openstack server show vran-1
  openstack server create --flavor vran --image profiling clash     # refused: the conflict
Notifications: $STATE/notifications.jsonl    Log: $STATE/logs/vpmu.log
Stop it with:  bash scripts/demo-serve.sh stop    (or kill $(cat "$PIDFILE"))
EOF

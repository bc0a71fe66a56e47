#!/usr/bin/env bash
# Runs OpenStack's Tempest (Debian's `tempest` package) against a `vpmu serve` it starts on
# test:///default, and judges the run against the known failures listed in
# docs/compatibility.md (conformance/tempest/verdict.py): exit 1 when a test outside that list
# fails, or a listed one passes.
#
#   bash scripts/tempest.sh [REGEX]     default: the groups CI runs (TEMPEST_GROUPS below)
# Environment: VPMU_TEMPEST_DIR (default /tmp/vpmu-tempest-CHECKOUT; remade each run),
#              VPMU_TEMPEST_CONCURRENCY (default 2), VPMU_TEMPEST_TIMEOUT seconds (default 1800).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
# One workspace per checkout, so runs from several worktrees do not collide.
WS=$(realpath -m "${VPMU_TEMPEST_DIR:-/tmp/vpmu-tempest-$(basename "$REPO")}")
CONCURRENCY=${VPMU_TEMPEST_CONCURRENCY:-2}
RUN_TIMEOUT=${VPMU_TEMPEST_TIMEOUT:-1800}
# The groups issue 14 names: flavors, servers, hypervisors, images, identity (and, from issue 17,
# identity administration) and the cheap compute
# ones (versions, limits, quotas, availability zones, keypairs), and from issue 15 host aggregates,
# migrations and the admin server negatives (migrate, evacuate).
TEMPEST_GROUPS='^tempest\.api\.(compute\.(flavors|servers|keypairs|limits|test_versions|test_quotas|admin\.(test_flavors|test_servers|test_servers_negative|test_migrations|test_hypervisor|test_quotas|test_availability_zone|test_aggregates|test_aggregates_negative|test_simple_tenant_usage|test_simple_tenant_usage_negative))|image\.v2|identity\.(v3|admin\.v3))\.'
REGEX=${1:-$TEMPEST_GROUPS}

for tool in tempest stestr; do
  command -v "$tool" >/dev/null || {
    echo "$tool is not installed: run scripts/install-test-deps.sh" >&2
    exit 1
  }
done

SERVE_PID=""
stop_serve() {
  if [[ -n "$SERVE_PID" ]] && kill -0 "$SERVE_PID" 2>/dev/null; then
    kill -TERM "$SERVE_PID"
    # Bounded: vpmu stops in well under a second; after 20 s it is killed.
    for _ in $(seq 200); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVE_PID" 2>/dev/null || true
  fi
}
trap stop_serve EXIT

rm -rf "$WS"
mkdir -p "$WS/state" "$WS/locks"
chmod 0700 "$WS/state"
export VPMU_ADMIN_PASSWORD=tempest-admin-secret
node bin/vpmu.js serve --port 0 --state-dir "$WS/state" --uri test:///default \
  --config conformance/tempest/vpmu.json >"$WS/serve.out" 2>&1 &
SERVE_PID=$!
URL=""
for _ in $(seq 600); do # up to 60 s for the first start (migrations, probes)
  URL=$(sed -n 's/^vpmu listening on \(http:[^ ]*\).*/\1/p' "$WS/serve.out" | head -n1)
  [[ -n "$URL" ]] && break
  kill -0 "$SERVE_PID" 2>/dev/null || { cat "$WS/serve.out" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$URL" ]] || { echo "vpmu serve did not start; see $WS/serve.out" >&2; exit 1; }
echo "vpmu serve at $URL (state $WS/state)"

# What Tempest expects to find: two public flavors and two public images, made as the admin with
# the stock client.
export OS_AUTH_URL="$URL/identity/v3" OS_IDENTITY_API_VERSION=3 OS_USERNAME=admin \
  OS_PASSWORD="$VPMU_ADMIN_PASSWORD" OS_PROJECT_NAME=admin OS_USER_DOMAIN_NAME=Default \
  OS_PROJECT_DOMAIN_NAME=Default OS_REGION_NAME=RegionOne
openstack flavor create --id 42 --vcpus 1 --ram 128 --disk 1 m1.nano -f value -c id >/dev/null
openstack flavor create --id 84 --vcpus 1 --ram 192 --disk 1 m1.micro -f value -c id >/dev/null
head -c 1048576 /dev/zero >"$WS/disk.raw"
image() {
  openstack image create --public --disk-format raw --container-format bare \
    --file "$WS/disk.raw" "$1" -f value -c id
}
IMAGE=$(image tempest-image)
IMAGE_ALT=$(image tempest-image-alt)

# A workspace of our own rather than `tempest init`, which keeps a registry in ~/.tempest and
# refuses a second workspace of the same name: stestr runs Tempest's tests grouped by class.
TEMPEST_DIR=$(/usr/bin/python3 -c 'import os, tempest; print(os.path.dirname(tempest.__file__))')
mkdir -p "$WS/workspace/etc"
printf '[DEFAULT]\ntest_path=%s/test_discover\ntop_dir=%s\ngroup_regex=([^\\.]*\\.)*\n' \
  "$TEMPEST_DIR" "$TEMPEST_DIR" >"$WS/workspace/.stestr.conf"
sed -e "s|@URL@|$URL|g" -e "s|@WORKSPACE@|$WS/workspace|g" -e "s|@ADMIN_PASSWORD@|$VPMU_ADMIN_PASSWORD|g" -e "s|@IMAGE@|$IMAGE|g" \
  -e "s|@IMAGE_ALT@|$IMAGE_ALT|g" -e "s|@FLAVOR@|42|g" -e "s|@FLAVOR_ALT@|84|g" \
  conformance/tempest/tempest.conf.in >"$WS/workspace/etc/tempest.conf"

cd "$WS/workspace"
status=0
timeout --kill-after=30 "$RUN_TIMEOUT" tempest run --config-file etc/tempest.conf --regex "$REGEX" \
  --concurrency "$CONCURRENCY" >"$WS/run.out" 2>&1 || status=$?
if [[ $status -eq 124 || $status -eq 137 ]]; then
  echo "tempest ran past ${RUN_TIMEOUT}s and was stopped; see $WS/run.out" >&2
  exit 1
fi
stestr last --subunit >"$WS/run.subunit"
/usr/bin/python3 "$REPO/conformance/tempest/verdict.py" "$REPO/docs/compatibility.md" \
  --write-failures "$WS/failures.txt" <"$WS/run.subunit"

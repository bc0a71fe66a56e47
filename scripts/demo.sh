#!/usr/bin/env bash
# The headline on shipped examples: a vRAN flavor turns the vPMU off, a profiling image turns it
# on, and a flavor and image that disagree are refused with Nova's message.
set -uo pipefail
cd "$(dirname "$0")/.."
vpmu() { node bin/vpmu.js "$@"; }
step() { printf '\n\033[1m$ vpmu %s\033[0m\n' "$*"; vpmu "$@"; }

echo '1. An operator runs vRAN: the flavor sets hw:pmu=false to shave latency.'
step explain --flavor examples/flavor-vran.json --image examples/image-cirros.json
step render --flavor examples/flavor-vran.json --image examples/image-cirros.json --uuid 0f3a1c9e-8d5b-4c0a-9a57-2f1e6b7d4c21 --name vran-1 | sed -n '/<features>/,/<\/features>/p'

echo; echo '2. A tenant profiles with perf: the image sets hw_pmu=true.'
step explain --flavor examples/flavor-general.json --image examples/image-perf.json

echo; echo '3. Everyone else sets nothing and gets the hypervisor default, explained.'
step explain --flavor examples/flavor-general.json --image examples/image-cirros.json
step explain --flavor examples/flavor-general.json --image examples/image-cirros.json --cpu-mode host-passthrough

echo; echo '4. The vRAN flavor with the profiling image: refused, nothing is built (exit status 1).'
step explain --flavor examples/flavor-vran.json --image examples/image-perf.json
echo "(exit status $?)"

echo; echo '5. A malformed value is refused, not silently read as false (Nova would emit pmu off).'
step explain --flavor examples/flavor-general.json --flavor-property hw:pmu=maybe
echo "(exit status $?)"

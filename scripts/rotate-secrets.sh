#!/usr/bin/env bash
# Scheduled rotation for cron (deployment guide): `0 0 1 */3 * /usr/bin/rotate-secrets.sh`
# Runs the project's CLI (`npx keyward rotate`) where Node is installed, otherwise grpcurl, over the same gRPC API.
# Its exit status is the rotation's outcome, so that cron (or the job runner) pages someone on anything but 0:
# the CLI's exit code as is (README, CLI: 3 refused, 4 unavailable, 5 stored but not every edge confirmed it);
# on the grpcurl path grpcurl's own non-zero code for a failed call, and 5 when any edge did not confirm.
#   ADMIN_TOKEN       required
#   KEYWARD_ADDRESS   host:port of the control plane (default orchestrator:50051)
#   KEYWARD_PLAINTEXT 1 (default) for plaintext gRPC, 0 for TLS
#   EMERGENCY=1       expire the superseded secret at once (emergency rotation)
#   KEYWARD_DIR       Keyward's checkout or installed package, for the CLI (default: the one holding this script)
set -euo pipefail
: "${ADMIN_TOKEN:?ADMIN_TOKEN must be set}"
address="${KEYWARD_ADDRESS:-orchestrator:50051}"
emergency="${EMERGENCY:-0}"
dir="${KEYWARD_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"

# bin/keyward.js runs the CLI in a checkout and in a packed install (node_modules/keyward) alike.
if command -v node >/dev/null 2>&1 && [ -f "$dir/bin/keyward.js" ]; then
  flags=()
  [ "$emergency" = 1 ] && flags=(--emergency)
  [ "${KEYWARD_PLAINTEXT:-1}" = 1 ] || export KEYWARD_TLS=1
  # exec: the CLI's exit code is this script's.
  KEYWARD_ADDRESS="$address" exec node "$dir/bin/keyward.js" rotate "${flags[@]}"
fi

[ "$emergency" = 1 ] && emergency_json=true || emergency_json=false
NEW_SECRET=$(openssl rand -base64 48)
plaintext=()
[ "${KEYWARD_PLAINTEXT:-1}" = 1 ] && plaintext=(-plaintext)
# The token and secret go in on stdin, not the command line, so `ps` does not show them. set -e ends the script
# with grpcurl's code when the call fails; -emit-defaults writes `"confirmed": false` for an edge that missed it.
response=$(printf '{"admin_token": "%s", "new_secret": "%s", "emergency": %s}' "$ADMIN_TOKEN" "$NEW_SECRET" "$emergency_json" |
  grpcurl "${plaintext[@]}" -emit-defaults -d @ "$address" cpc.orchestrator.SecretService/RotateSecret)
printf '%s\n' "$response"
if printf '%s' "$response" | grep -q '"confirmed": *false'; then
  echo "rotate-secrets: the rotation is stored but not every edge confirmed it" >&2
  exit 5
fi

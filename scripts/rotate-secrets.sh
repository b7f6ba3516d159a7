#!/usr/bin/env bash
# Scheduled rotation for cron (deployment guide): `0 0 1 */3 * /usr/bin/rotate-secrets.sh`
# Uses grpcurl when present, otherwise the project's CLI (`npx keyward rotate`), over the same gRPC API.
#   ADMIN_TOKEN       required
#   KEYWARD_ADDRESS   host:port of the control plane (default orchestrator:50051)
#   KEYWARD_PLAINTEXT 1 (default) for plaintext gRPC, 0 for TLS
#   EMERGENCY=1       expire the superseded secret at once (emergency rotation)
#   KEYWARD_DIR       checkout of Keyward for the CLI fallback (default: this script's repository)
set -euo pipefail
: "${ADMIN_TOKEN:?ADMIN_TOKEN must be set}"
address="${KEYWARD_ADDRESS:-orchestrator:50051}"
emergency="${EMERGENCY:-0}"
[ "$emergency" = 1 ] && emergency_json=true || emergency_json=false

if command -v grpcurl >/dev/null 2>&1; then
  NEW_SECRET=$(openssl rand -base64 48)
  plaintext=()
  [ "${KEYWARD_PLAINTEXT:-1}" = 1 ] && plaintext=(-plaintext)
  # The token and secret go in on stdin, not the command line, so `ps` does not show them.
  printf '{"admin_token": "%s", "new_secret": "%s", "emergency": %s}' "$ADMIN_TOKEN" "$NEW_SECRET" "$emergency_json" |
    grpcurl "${plaintext[@]}" -d @ "$address" cpc.orchestrator.SecretService/RotateSecret
else
  dir="${KEYWARD_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"
  flags=()
  [ "$emergency" = 1 ] && flags=(--emergency)
  [ "${KEYWARD_PLAINTEXT:-1}" = 1 ] || export KEYWARD_TLS=1
  cd "$dir" && KEYWARD_ADDRESS="$address" npx --no-install keyward rotate "${flags[@]}"
fi

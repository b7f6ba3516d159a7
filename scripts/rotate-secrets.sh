#!/usr/bin/env bash
# Scheduled rotation for cron (README, Operations, Scheduled rotation):
#   0 0 1 */3 * ADMIN_TOKEN_FILE=/etc/keyward/secrets/admin-token KEYWARD_ADDRESS=orchestrator:50051 bash /opt/keyward/node_modules/keyward/scripts/rotate-secrets.sh
# Installed elsewhere (say /usr/bin/rotate-secrets.sh), set KEYWARD_DIR to the Keyward package, or only the grpcurl
# path is left.
# A one-step rotation: the control plane generates the new key itself (nothing secret is made or sent here but
# the admin token), and answers once the edges confirmed it. Runs the project's CLI (`keyward rotate`) where Node
# is installed, otherwise grpcurl, over the same gRPC API.
# Its exit status is the rotation's outcome, so that cron (or the job runner) pages someone on anything but 0:
# the CLI's exit code as is (README, CLI: 2 usage, 3 refused, 4 unavailable, 5 stored but not every edge
# confirmed it); on the grpcurl path grpcurl's own non-zero code for a failed call, and 5 when any edge did not
# confirm. A setting missing or contradictory here: 2.
#   ADMIN_TOKEN_FILE  the file holding the admin token (one line; "<old>,<new>" during a switch: the new is used).
#                     Or ADMIN_TOKEN itself, not both; a file keeps the token out of the crontab and `ps e`.
#   KEYWARD_ADDRESS   host:port of the control plane (default orchestrator:50051)
#   GRPC_TLS_CA       PEM file of the CA that signed the control plane's certificate (default: the system's CAs)
#   KEYWARD_PLAINTEXT 1 to call without TLS (the admin token then crosses the network in clear); TLS otherwise
#   EMERGENCY=1       expire the superseded key at once (emergency rotation)
#   KEYWARD_DIR       Keyward's checkout or installed package, for the CLI (default: the one holding this script)
set -euo pipefail

usage() {
  echo "rotate-secrets: $1" >&2
  exit 2
}

if [ -n "${ADMIN_TOKEN:-}" ] && [ -n "${ADMIN_TOKEN_FILE:-}" ]; then
  usage "set ADMIN_TOKEN_FILE or ADMIN_TOKEN, not both"
fi
[ -n "${ADMIN_TOKEN:-}${ADMIN_TOKEN_FILE:-}" ] || usage "ADMIN_TOKEN_FILE (or ADMIN_TOKEN) must be set"
if [ -n "${ADMIN_TOKEN_FILE:-}" ] && ! [ -r "$ADMIN_TOKEN_FILE" ]; then
  usage "ADMIN_TOKEN_FILE: cannot read $ADMIN_TOKEN_FILE"
fi
case "${KEYWARD_PLAINTEXT:-0}" in
  0) plaintext=0 ;;
  1) plaintext=1 ;;
  *) usage "KEYWARD_PLAINTEXT: expected 1 (no TLS) or 0 (TLS, the default)" ;;
esac
if [ "$plaintext" = 1 ] && [ -n "${GRPC_TLS_CA:-}" ]; then
  usage "GRPC_TLS_CA is set but KEYWARD_PLAINTEXT=1 turns TLS off"
fi
if [ -n "${GRPC_TLS_CA:-}" ] && ! [ -r "$GRPC_TLS_CA" ]; then
  usage "GRPC_TLS_CA: cannot read $GRPC_TLS_CA"
fi
address="${KEYWARD_ADDRESS:-orchestrator:50051}"
emergency="${EMERGENCY:-0}"
dir="${KEYWARD_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"

# bin/keyward.js runs the CLI in a checkout and in a packed install (node_modules/keyward) alike. The CLI reads
# ADMIN_TOKEN_FILE or ADMIN_TOKEN and GRPC_TLS_CA itself, and without --secret-stdin asks the server to generate.
if command -v node >/dev/null 2>&1 && [ -f "$dir/bin/keyward.js" ]; then
  flags=()
  [ "$emergency" = 1 ] && flags=(--emergency)
  if [ "$plaintext" = 1 ]; then
    unset KEYWARD_TLS
  else
    export KEYWARD_TLS=1
  fi
  # exec: the CLI's exit code is this script's.
  KEYWARD_ADDRESS="$address" exec node "$dir/bin/keyward.js" rotate ${flags[@]+"${flags[@]}"}
fi

command -v grpcurl >/dev/null 2>&1 || usage "neither node with $dir/bin/keyward.js nor grpcurl is available"
if [ -n "${ADMIN_TOKEN_FILE:-}" ]; then
  token=$(cat "$ADMIN_TOKEN_FILE")
else
  token="$ADMIN_TOKEN"
fi
# The last of "<old>,<new>", as the CLI does; trailing line breaks are dropped by $(...).
token="${token##*,}"
[ -n "$token" ] || usage "no admin token in ${ADMIN_TOKEN_FILE:-ADMIN_TOKEN}"
case "$token" in *'"'* | *'\'*) usage "the admin token holds a quote or a backslash" ;; esac
[ "$emergency" = 1 ] && emergency_json=true || emergency_json=false
tls=()
if [ "$plaintext" = 1 ]; then
  tls=(-plaintext)
elif [ -n "${GRPC_TLS_CA:-}" ]; then
  tls=(-cacert "$GRPC_TLS_CA")
fi
# The token goes in on stdin, not the command line, so `ps` does not show it; "generate": the server makes the
# new secret. set -e ends the script with grpcurl's code when the call fails; -emit-defaults writes
# `"confirmed": false` for an edge that missed it.
response=$(printf '{"admin_token": "%s", "generate": true, "emergency": %s}' "$token" "$emergency_json" |
  grpcurl ${tls[@]+"${tls[@]}"} -emit-defaults -d @ "$address" cpc.orchestrator.SecretService/RotateSecret)
printf '%s\n' "$response"
if printf '%s' "$response" | grep -q '"confirmed": *false'; then
  echo "rotate-secrets: the rotation is stored but not every edge confirmed it" >&2
  exit 5
fi

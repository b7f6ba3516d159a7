#!/usr/bin/env bash
# `npm test`'s pretest: the programs the tests run besides Node and the npm packages. Each one missing is installed
# with apt-get when this runs as root on Debian or Ubuntu, one line per package saying what it is for; anywhere
# else (not root, no apt-get, or KEYWARD_NO_INSTALL=1, which means never install) it stops at once with one line
# naming what to install. Nothing missing: it prints nothing.
#
# Commands are looked up on PATH, as the tests run them; Python modules in Debian's /usr/bin/python3, whose
# dist-packages hold them (test/support/pyjwt-sign.ts); Chromium at /usr/bin/chromium, where the browser test
# starts it.
set -uo pipefail

PYTHON=/usr/bin/python3
CHROMIUM=/usr/bin/chromium

have() { command -v "$1" >/dev/null 2>&1; }
python_has() { [ -x "$PYTHON" ] && "$PYTHON" -c "import $1" >/dev/null 2>&1; }

# What is missing, as parallel lists: the Debian package, what it provides, what the tests use it for.
need() {
  packages+=("$1")
  provides+=("$2")
  reasons+=("$3")
}

check() {
  packages=()
  provides=()
  reasons=()
  have openssl || need openssl openssl 'the TLS tests make their certificate authority with it'
  if ! have valkey-server || ! have valkey-cli; then
    need valkey-server 'valkey-server and valkey-cli' \
      'the tests start their own Valkey servers on loopback (single, Sentinel, Cluster)'
  fi
  python_has jwt || need python3-jwt "PyJWT in $PYTHON" 'the interoperability tests sign tokens with PyJWT'
  python_has cryptography || need python3-cryptography "cryptography in $PYTHON" "PyJWT's ES256 and EdDSA"
  python_has yaml || need python3-yaml "PyYAML in $PYTHON" 'the deploy-file tests parse the Kubernetes example'
  if ! have promtool || ! have prometheus; then
    need prometheus 'promtool and prometheus' \
      'promtool checks the alert rules and a real Prometheus scrapes the control plane'
  fi
  [ -x "$CHROMIUM" ] || need chromium "$CHROMIUM" 'the headless-browser test drives it'
}

check
[ "${#packages[@]}" -eq 0 ] && exit 0

# Debian 12 carries Valkey only in bookworm-backports.
codename=''
[ -r /etc/os-release ] && codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
# The Debian package as an operator would ask apt for it.
package_hint() {
  if [ "$1" = valkey-server ] && [ "$codename" = bookworm ]; then
    echo 'valkey-server from bookworm-backports'
  else
    echo "$1"
  fi
}

stop() {
  local names='' i
  for i in "${!packages[@]}"; do
    names+="${names:+, }${provides[$i]} (Debian: $(package_hint "${packages[$i]}"))"
  done
  echo "npm test needs ${names}: install them, or run npm test as root on Debian or Ubuntu to have them installed$1" >&2
  exit 1
}

if [ "${KEYWARD_NO_INSTALL:-}" = 1 ]; then
  stop ' (KEYWARD_NO_INSTALL=1: nothing is installed)'
fi
if [ "${EUID:-$(id -u)}" -ne 0 ] || ! have apt-get; then
  stop ''
fi

for i in "${!packages[@]}"; do
  echo "npm test: installing $(package_hint "${packages[$i]}") for ${provides[$i]}: ${reasons[$i]}"
done

log=$(mktemp "${TMPDIR:-/tmp}/keyward-apt.XXXXXX")
export DEBIAN_FRONTEND=noninteractive
apt_get() {
  if ! apt-get -y -qq "$@" </dev/null >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "npm test could not install ${packages[*]}: apt-get $* failed (whole output in $log)" >&2
    exit 1
  fi
}

backports=0
# A one-line source of Debian 12 in /etc/apt/sources.list, options included: `deb [signed-by=...] URI bookworm main`.
ONE_LINE_SOURCE='^(deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+)bookworm[[:space:]]'
if [ "$codename" = bookworm ] && [[ " ${packages[*]} " == *' valkey-server '* ]]; then
  backports=1
  if ! grep -rqs --include='*.list' --include='*.sources' '^[^#]*bookworm-backports' /etc/apt/; then
    # The machine's own Debian source (first stanza or line), with the backports suite.
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      awk 'BEGIN{RS="";ORS="\n\n"} NR==1' /etc/apt/sources.list.d/debian.sources \
        | sed 's/^Suites:.*/Suites: bookworm-backports/' >/etc/apt/sources.list.d/backports.sources
    elif line=$(grep -m1 -E "$ONE_LINE_SOURCE" /etc/apt/sources.list 2>/dev/null); then
      echo "$line" | sed -E "s/$ONE_LINE_SOURCE.*/\\1bookworm-backports main/" >/etc/apt/sources.list.d/backports.list
    else
      echo "npm test could not install valkey-server: no Debian source in /etc/apt to add bookworm-backports from" >&2
      exit 1
    fi
  fi
fi

apt_get update
others=()
for package in "${packages[@]}"; do
  if [ "$package" = valkey-server ] && [ "$backports" = 1 ]; then
    apt_get install -t bookworm-backports valkey-server
  else
    others+=("$package")
  fi
done
[ "${#others[@]}" -eq 0 ] || apt_get install "${others[@]}"
rm -f "$log"

installed=("${packages[@]}")
check
if [ "${#packages[@]}" -gt 0 ]; then
  lacks=$(printf '%s, ' "${provides[@]}")
  echo "npm test installed ${installed[*]} and still lacks ${lacks%, }" >&2
  exit 1
fi

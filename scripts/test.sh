#!/usr/bin/env bash
# Install everything the test suite needs (Debian packages, Chromium for the browser tests,
# a venv) and run it.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/apt.sh  # apt_update / apt_install: wait for a held apt or dpkg lock

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
need=(dovecot-imapd dovecot-lmtpd dovecot-sieve procmail swaks postfix python3-venv iproute2 chromium
      libmilter-dev python3-dev gcc)  # the last three: pip builds pymilter against libmilter
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  apt_update
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  apt_install "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
exec .venv/bin/python -m pytest -q "$@"

#!/usr/bin/env bash
# Install pixelguard into ./.venv and clean the demo newsletter: no server needed.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q -e .
.venv/bin/pixelguard clean -v fixtures/demo-newsletter.eml > cleaned-demo.eml
echo "cleaned message written to cleaned-demo.eml (first lines below)"
head -n 3 cleaned-demo.eml

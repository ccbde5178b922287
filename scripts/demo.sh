#!/usr/bin/env bash
# Install pixelguard into ./.venv and clean the demo newsletter: no server needed.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
  . scripts/apt.sh  # waits for a held apt/dpkg lock instead of failing
  apt_update && apt_install python3-venv
fi
echo "installing pixelguard into ./.venv ..."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .

demo=fixtures/demo-newsletter.eml
echo
echo "\$ pixelguard scan $demo        # what would be removed, changing nothing"
.venv/bin/pixelguard scan "$demo"
echo
echo "\$ pixelguard clean $demo > cleaned-demo.eml"
.venv/bin/pixelguard clean "$demo" > cleaned-demo.eml
echo "written; its first header (open the file in your mail client to see the notice):"
sed -n '/^X-PixelGuard:/,/^[^ \t]/p' cleaned-demo.eml | sed '$d'

venv="$PWD/.venv"
cat <<NEXT

pixelguard is installed in $venv. To run it as \`pixelguard\`, activate that venv:

    . $venv/bin/activate      # or call $venv/bin/pixelguard directly

then clean your own mail (save a message as .eml from your mail client):

    pixelguard scan  message.eml                  # what it would remove (also a Maildir or mbox)
    pixelguard clean message.eml > cleaned.eml    # the cleaned message

Settings (allow or deny hosts, rewrite instead of strip, relay, IMAP) go in
~/.config/pixelguard.yaml, which every command reads; start from the example and check it:

    mkdir -p ~/.config && cp -n $PWD/config.example.yaml ~/.config/pixelguard.yaml
    pixelguard check-config

More: README.md (relay, IMAP, report), docs/config.md (every setting).
NEXT

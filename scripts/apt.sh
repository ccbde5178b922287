# Sourced by demo.sh and test.sh: apt-get that waits for another package manager
# (unattended-upgrades, cloud-init, a second terminal) instead of failing on its lock.
#   apt_update [apt-get options...]          apt_install [apt-get options...] PACKAGES...
APT_LOCK_WAIT=${APT_LOCK_WAIT:-600}  # seconds to wait for a held lock
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

# DPkg::Lock::Timeout (apt >= 1.9.11) makes apt-get wait for the dpkg lock itself.
apt_install() {
  $SUDO env DEBIAN_FRONTEND=noninteractive \
    apt-get -q -y -o DPkg::Lock::Timeout="$APT_LOCK_WAIT" install "$@"
}

# apt-get update takes the package lists' lock, which that option does not cover: retry
# while the error is a held lock, for up to APT_LOCK_WAIT seconds.
apt_update() {
  local err waited=0 rc
  err=$(mktemp)
  while :; do
    rc=0
    $SUDO apt-get -q -o DPkg::Lock::Timeout="$APT_LOCK_WAIT" "$@" update 2>"$err" || rc=$?
    if [ "$rc" = 0 ] || ! grep -q "Could not get lock" "$err" || [ "$waited" -ge "$APT_LOCK_WAIT" ]; then
      cat "$err" >&2
      rm -f "$err"
      return "$rc"
    fi
    [ "$waited" = 0 ] && echo "another apt-get holds the package lists; waiting (up to ${APT_LOCK_WAIT} s)" >&2
    sleep 2
    waited=$((waited + 2))
  done
}

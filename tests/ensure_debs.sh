#!/bin/sh
# Installs the Debian packages named in $DEBS when they are missing. As root it installs
# them; otherwise it names what is missing and how to install it, and fails.
missing=""
for p in $DEBS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ]; then
  echo "installing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
    echo "apt-get could not install:$missing" >&2; exit 1; }
  # Debian starts these as system services on install; the tests run their own.
  for s in dovecot postgresql slapd; do
    command -v systemctl >/dev/null && systemctl stop "$s" 2>/dev/null || true
    command -v service >/dev/null && service "$s" stop >/dev/null 2>&1 || true
  done
  exit 0
fi
echo "missing Debian packages:$missing" >&2
echo "install them with: sudo apt-get install$missing" >&2
exit 1

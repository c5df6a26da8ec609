#!/bin/sh
# Set-up of the peer for bench/side_by_side.py: the Debian packages of Postfix (with its
# load generator smtp-source) and Dovecot's LMTP server. Idempotent: it installs only
# what is missing. Debian would start a system Postfix and Dovecot on install; the bench
# runs private instances of its own, so no system service is left running and nothing
# is left bound to port 25.
set -eu
DEBS="postfix dovecot-core dovecot-lmtpd"

missing=""
for p in $DEBS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done

if [ -n "$missing" ]; then
  if [ "$(id -u)" != "0" ]; then
    echo "missing Debian packages:$missing" >&2
    echo "install them with: sudo sh $0 (or apt-get install$missing, then stop the system postfix and dovecot)" >&2
    exit 1
  fi
  echo "installing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  # "No configuration": Debian writes no main.cf, so the package's Postfix has nothing
  # to start with; the bench writes its own configuration in a temporary directory.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  # Deny service starts during the install (invoke-rc.d asks policy-rc.d), unless the
  # machine already has a policy of its own (containers usually deny everything).
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT INT TERM
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 $missing >/dev/null
fi

# Whatever the install did (or an earlier install with a mail configuration), the system
# instances must not run: the bench's Postfix and Dovecot are private.
if [ -f /etc/postfix/main.cf ] && postfix status >/dev/null 2>&1; then
  echo "stopping the system postfix"
  postfix stop >/dev/null 2>&1 || true
fi
if [ -n "$missing" ]; then
  for s in postfix dovecot; do
    command -v service >/dev/null && service "$s" stop >/dev/null 2>&1 || true
  done
fi
if command -v ss >/dev/null && ss -ltnH 'sport = :25' | grep -q .; then
  echo "warning: something listens on port 25 (not started by this set-up):" >&2
  ss -ltnpH 'sport = :25' >&2
fi
for tool in /usr/sbin/postfix /usr/sbin/smtp-source /usr/sbin/dovecot /usr/lib/dovecot/lmtp; do
  [ -x "$tool" ] || { echo "$tool is missing after the install" >&2; exit 1; }
done
echo "peer ready: $(postconf -d -h mail_version 2>/dev/null | sed 's/^/postfix /'), dovecot $(dovecot --version)"

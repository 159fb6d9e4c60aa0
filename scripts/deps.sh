#!/bin/sh
# Install the Debian packages p2p needs to build and test. Idempotent; quiet when all
# are present. Needs root (or sudo) only when something is missing.
set -eu

PKGS="make gcc libc6-dev pkg-config git ca-certificates
libsqlite3-dev libevent-dev libssl-dev libcurl4-openssl-dev libjansson-dev libxxhash-dev check libbluetooth-dev
libsystemd-dev libedit-dev
sqlite3 curl procps iproute2 util-linux psmisc openssl
jq socat systemd passwd
libavahi-client-dev libavahi-common-dev nftables iptables python3 dbus avahi-daemon avahi-utils
tshark wrk valgrind"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "deps: need root to install:$missing" >&2; exit 1; }
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists when they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
	$SUDO apt-get update -qq >/dev/null
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: done" >&2

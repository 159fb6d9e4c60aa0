#!/bin/sh
# Install p2p as a system service. Idempotent: run it again after `git pull` to upgrade.
#
#   sudo sh scripts/install.sh                  deps, build, install, user, daemon-reload
#   sudo sh scripts/install.sh --instance a     ... and create /etc/p2p-storage/a.conf
#                                               from the example unless it exists
#   DESTDIR=/tmp/root sh scripts/install.sh     staged install for packaging or tests:
#                                               no user, no chown, no systemctl
#   --skip-deps   do not run scripts/deps.sh
#   --no-build    install $BUILD/p2p as it is (it must exist) instead of running make
#
# Environment: PREFIX (default /usr/local), DESTDIR, UNITDIR, BUILD (passed to make).
# What goes where: see `make install` in the Makefile and DEPLOYMENT.md. An existing
# /etc/p2p-storage/*.conf is never overwritten; data in /var/lib/p2p-storage is never
# touched.
set -eu

usage() {
	echo "usage: [PREFIX=/usr/local] [DESTDIR=] sh scripts/install.sh [--instance NAME] [--skip-deps] [--no-build]" >&2
	exit 2
}

instance=""
skip_deps=0
no_build=0
while [ $# -gt 0 ]; do
	case $1 in
	--instance)
		[ $# -ge 2 ] || usage
		instance=$2
		shift 2
		;;
	--instance=*)
		instance=${1#--instance=}
		shift
		;;
	--skip-deps)
		skip_deps=1
		shift
		;;
	--no-build)
		no_build=1
		shift
		;;
	-h | --help) usage ;;
	*)
		echo "install: unknown argument '$1'" >&2
		usage
		;;
	esac
done
if [ -n "$instance" ]; then
	case $instance in
	*[!A-Za-z0-9_.-]* | .* | -*)
		echo "install: instance name '$instance': use letters, digits, '-', '_' and '.'" >&2
		exit 2
		;;
	esac
fi

cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
BUILD=${BUILD:-build}
export PREFIX DESTDIR BUILD
USER_NAME=p2p-storage
ETC=$DESTDIR/etc/p2p-storage

say() { echo "install: $*"; }

if [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then
	echo "install: run as root (or set DESTDIR for a staged install)" >&2
	exit 1
fi

if [ "$skip_deps" = 0 ]; then
	sh scripts/deps.sh
fi

if [ "$no_build" = 0 ]; then
	say "building"
	make --no-print-directory
	keep=""
else
	[ -x "$BUILD/p2p" ] || { echo "install: --no-build: no $BUILD/p2p" >&2; exit 1; }
	keep="-o $BUILD/p2p" # make: do not rebuild it
fi
say "installing into ${DESTDIR:-/} (PREFIX=$PREFIX)"
# shellcheck disable=SC2086
make --no-print-directory $keep install >/dev/null

if [ -z "$DESTDIR" ]; then
	if ! getent group "$USER_NAME" >/dev/null; then
		say "creating group $USER_NAME"
		groupadd --system "$USER_NAME"
	fi
	if ! getent passwd "$USER_NAME" >/dev/null; then
		say "creating system user $USER_NAME"
		useradd --system --gid "$USER_NAME" --no-create-home \
			--home-dir /var/lib/p2p-storage --shell /usr/sbin/nologin "$USER_NAME"
	fi
	# Configs may name key files and tickets: readable by the service's group only.
	chown root:"$USER_NAME" "$ETC"
	chmod 0750 "$ETC"
fi

if [ -n "$instance" ]; then
	conf=$ETC/$instance.conf
	if [ -e "$conf" ]; then
		say "$conf exists, leaving it alone"
	else
		# Write aside, then rename: never a half-written config.
		cp systemd/p2p-storage.conf.example "$conf.tmp.$$"
		chmod 0640 "$conf.tmp.$$"
		[ -n "$DESTDIR" ] || chown root:"$USER_NAME" "$conf.tmp.$$"
		mv "$conf.tmp.$$" "$conf"
		say "created $conf (edit it, then: systemctl enable --now p2p-storage@$instance)"
	fi
fi

if [ -z "$DESTDIR" ]; then
	if [ -d /run/systemd/system ]; then
		say "systemctl daemon-reload"
		systemctl daemon-reload
	else
		say "systemd is not running here (not PID 1): skipped daemon-reload"
		if [ -n "$instance" ]; then
			# What StateDirectory= would have made, for running the node by hand.
			install -d -m 0755 /var/lib/p2p-storage
			install -d -m 0700 -o "$USER_NAME" -g "$USER_NAME" \
				"/var/lib/p2p-storage/$instance"
			say "run it by hand: runuser -u $USER_NAME -- $PREFIX/bin/p2p" \
				"--db /var/lib/p2p-storage/$instance/p2p.db serve" \
				"--config /etc/p2p-storage/$instance.conf"
		fi
	fi
fi

say "done: $PREFIX/bin/p2p $("$DESTDIR$PREFIX/bin/p2p" --version 2>/dev/null || true)"
if [ -z "$instance" ]; then
	say "next: sudo sh scripts/install.sh --instance NAME, edit /etc/p2p-storage/NAME.conf,"
	say "      systemctl enable --now p2p-storage@NAME (see DEPLOYMENT.md)"
fi

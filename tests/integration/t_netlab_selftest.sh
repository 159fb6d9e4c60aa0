#!/usr/bin/env bash
# t_netlab_selftest: tests/netlab/netlab selftest (a lab of its own: up, exec, cut/heal,
# partition, loss/delay on and off, avahi publish/browse, down), then checks that
# nothing of it is left. Needs root: otherwise SKIP (77).
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export NETLAB_PREFIX="nls$$"
export NETLAB_RUN="/run/netlab/$NETLAB_PREFIX"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for network namespaces"; exit 77; }
cleanup() {   # selftest tears its lab down itself; this is for an interrupted run
	NETLAB_PREFIX="$NETLAB_PREFIX-st" NETLAB_RUN="$NETLAB_RUN-st" "$ROOT/tests/netlab/netlab" down >/dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 1' INT TERM

"$ROOT/tests/netlab/netlab" selftest
rc=$?
[ "$rc" = 77 ] && exit 77
left=$(ip netns list | grep -c "^$NETLAB_PREFIX-")
if [ "$left" != 0 ] || [ -e "$NETLAB_RUN-st" ]; then
	echo "FAIL: lab $NETLAB_PREFIX-st left $left namespaces or $NETLAB_RUN-st"
	exit 1
fi
exit "$rc"

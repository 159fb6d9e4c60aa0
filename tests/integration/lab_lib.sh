# shellcheck shell=bash
# lab_lib.sh: netlab helpers shared by the t_lab_*.sh tests (sourced after lib.sh and after
# NETLAB_PREFIX is exported; not a t_*.sh file, so the runner does not run it).
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
NETLAB="$ROOT/tests/netlab/netlab"
require_root "needs root for network namespaces"
for _c in ip avahi-daemon dbus-daemon avahi-browse; do
	command -v "$_c" >/dev/null || skip "missing '$_c' (sh scripts/deps.sh)"
done
export NETLAB_RUN="/run/netlab/$NETLAB_PREFIX"
# A private copy of the binary: a rebuild of build/p2p during the test changes nothing.
BIN=$T/p2p
cp "$P2P_BIN" "$BIN" || fail "cp $P2P_BIN"
declare -A LAB_PID=()
lab_teardown() {
	local i p left
	for i in "${!LAB_PID[@]}"; do kill "${LAB_PID[$i]}" 2>/dev/null; done
	for i in "${!LAB_PID[@]}"; do wait "${LAB_PID[$i]}" 2>/dev/null; done
	# rc: _cleanup's exit status (lib.sh runs this hook from there)
	if [ "${rc:-0}" != 0 ] && [ "${rc:-0}" != 77 ]; then
		for i in "$T"/h*/log; do
			[ -f "$i" ] || continue
			echo "---- $i (last 25 lines)"; tail -n 25 "$i"
		done
	fi
	"$NETLAB" down >/dev/null 2>&1
	left=$(ip netns list | grep -c "^$NETLAB_PREFIX-")
	[ "$left" = 0 ] || { echo "FAIL: $left namespaces of lab $NETLAB_PREFIX left"; rc=1; }
}
on_exit lab_teardown
lab_up() { # lab_up N: hosts 1..N with avahi
	local out st
	out=$("$NETLAB" up "$1" 2>&1); st=$?
	[ "$st" = 77 ] && skip "${out#SKIP: }"
	[ "$st" = 0 ] || fail "netlab up $1: $out"
	out=$("$NETLAB" avahi-up 2>&1) || fail "netlab avahi-up: $out"
}
hdir() { echo "$T/h$1"; }
healthy() { curl -sf --max-time 2 --unix-socket "$(hdir "$1")/api.sock" http://x/health >/dev/null 2>&1; }
# lab_start I [serve args]: p2p serve --listen :3000 on host I, data dir $T/hI (log:
# $T/hI/log; the network key is whatever is in $T/hI/network.key, else a new one).
lab_start() {
	local i=$1 d; shift
	d=$(hdir "$i")
	mkdir -p "$d" && chmod 700 "$d"
	echo "=== $(date -u +%T.%3N) start on host $i: serve --listen :3000 $*" >>"$d/log"
	"$NETLAB" exec "$i" "$BIN" --db "$d/p2p.db" serve --listen :3000 "$@" >>"$d/log" 2>&1 &
	LAB_PID[$i]=$!
	poll 10 eval "healthy $i || ! alive ${LAB_PID[$i]}" || fail "host $i: no /health within 10 s"
	if ! healthy "$i"; then
		wait "${LAB_PID[$i]}"
		fail "host $i: the daemon exited (status $?) before serving /health"
	fi
}
alive() { # alive PID: exists and is not a zombie
	local s
	s=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)
	[ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ]
}
lab_stop() { # lab_stop I: SIGTERM; the daemon must exit 0 within 10 s
	local p=${LAB_PID[$1]} st
	kill "$p" 2>/dev/null
	poll 10 eval "! alive $p" || fail "host $1: daemon still running 10 s after SIGTERM"
	wait "$p"; st=$?
	unset "LAB_PID[$1]"
	[ "$st" = 0 ] || fail "host $1: daemon exited $st after SIGTERM"
}
share_key() { # share_key FROM TO...: copy host FROM's network.key (0600) to hosts TO
	local f=$1 i; shift
	for i in "$@"; do
		mkdir -p "$(hdir "$i")" && chmod 700 "$(hdir "$i")"
		install -m 600 "$(hdir "$f")/network.key" "$(hdir "$i")/network.key" || fail "copy network.key"
	done
}
node_id() { "$BIN" --db "$(hdir "$1")/p2p.db" status --json | jq -r .node_id; }
peers_json() { timeout 10 "$BIN" --db "$(hdir "$1")/p2p.db" peers --json 2>/dev/null; }
# peer_status I ID: ID's status in host I's peer table, "absent" if not there
peer_status() {
	peers_json "$1" | jq -r --arg id "$2" '(map(select(.id == $id)) | .[0].status) // "absent"'
}
# connected_to I ID...: host I lists every ID as connected
connected_to() {
	local i=$1 js id; shift
	js=$(peers_json "$i") || return 1
	for id in "$@"; do
		[ "$(jq -r --arg id "$id" '(map(select(.id == $id)) | .[0].status) // "absent"' <<<"$js")" = connected ] || return 1
	done
}
status_is() { [ "$(peer_status "$1" "$2")" = "$3" ]; }
# net_h NAME: the value of a plain integer #define of node/net.h ("(5 * 60 * 1000)" too)
net_h() {
	local v
	v=$(sed -n "s/^#define $1[[:space:]]\{1,\}\([0-9()* +]*\).*/\1/p" "$ROOT/node/net.h")
	[ -n "$v" ] && echo $((v))
}

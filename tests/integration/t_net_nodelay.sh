#!/usr/bin/env bash
# Nagle's algorithm is off on every TCP connection of a daemon: the peer links it dialed,
# the ones it accepted, and the control API's connections on --api HOST:PORT.
# With it on for accepted links, a node the others had dialed (a bootstrap) held each
# message behind the ACK of the one before: one client storing there got 44 stores/s
# with a p50 of 24 ms, against 700/s and 1.3 ms with it off. This test reads the option
# of the daemon's own sockets (tests/net/sockopt.c, pidfd_getfd(2)); nothing is timed.
# Then 20 stores one after another on that node reach 2 copies each.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/repl_lib.sh"

R=$(cd "$(dirname "$0")/../.." && pwd)
cc -std=c17 -D_GNU_SOURCE -o "$T/sockopt" "$R/tests/net/sockopt.c" 2>"$T/cc.err" ||
	fail "cannot build tests/net/sockopt.c: $(head -5 "$T/cc.err")"
# pidfd_getfd needs Linux 5.6+ and ptrace rights over the daemon
sleep 30 &
SPID=$!
track "$SPID"
"$T/sockopt" "$SPID" >/dev/null 2>"$T/probe.err"
rc=$?
[ "$rc" = 77 ] && skip "cannot read another process's sockets here: $(cat "$T/probe.err")"
[ "$rc" = 0 ] || fail "sockopt on a test process: exit $rc: $(cat "$T/probe.err")"

A=$T/a B=$T/b C=$T/c
# A is the bootstrap: B and C dial it, so A's peer links are all accepted ones
repl_net "$A" "$B" "$C" -- --api 127.0.0.1:0
APORT=$(port_of "$A")
APIADDR=$(status_field "$A" api_tcp)
note "A listens on $APORT, API on $APIADDR"

# one API connection held open while the sockets are read
exec 3<>"/dev/tcp/${APIADDR%:*}/${APIADDR##*:}" || fail "cannot connect to the API at $APIADDR"
sleep 0.3

# count DIR NAME: read DIR's daemon's TCP sockets; each established one must have
# nodelay=1. Sets ACC (accepted on A's peer port), API (on A's API port), DIALED (others).
count() {
	local f=$T/socks.$2 fd laddr raddr opt
	"$T/sockopt" "${NODE_PID[$1]}" >"$f" || fail "sockopt on $2's daemon: exit $?"
	sed "s/^/  $2: /" "$f"
	ACC=0 API=0 DIALED=0
	while read -r fd laddr raddr opt; do
		case $laddr in
		*:"$APORT") ACC=$((ACC + 1)) ;;
		*:"${APIADDR##*:}") API=$((API + 1)) ;;
		*) DIALED=$((DIALED + 1)) ;;
		esac
		[ "$opt" = nodelay=1 ] ||
			fail_later "$2: fd $fd $laddr -> $raddr: Nagle's algorithm is on"
	done <"$f"
}
count "$A" a
[ "$ACC" -ge 2 ] || fail "A has $ACC accepted peer links, want 2 (B and C)"
[ "$API" -ge 1 ] || fail "A shows no API connection on $APIADDR"
note "A: $ACC accepted peer links, $DIALED dialed, $API API connection(s), all checked"
for d in "$B" "$C"; do
	count "$d" "$(basename "$d")"
	[ "$DIALED" -ge 1 ] || fail "$(basename "$d") shows no peer link it dialed"
done
exec 3>&-

# stores one after another on the bootstrap each reach 2 copies (the HTTP reply waits
# for a peer's CHUNK_ACK, sent on a link A accepted)
for i in $(seq 20); do
	rand_file "$T/in" 4096
	run p2p "$A" store "seq$i" "$T/in" --json
	expect_rc 0 "store seq$i on A"
	have=$(jq -r '.replicas.have' <<<"$OUT")
	[ "$have" -ge 2 ] || fail "store seq$i reported $have copies, want >= 2: $OUT"
done
note "20 stores in a row on A, 2 copies or more each"
finish

#!/usr/bin/env bash
# t_netlab_mdns: LAN discovery (node/mdns.c) across three hosts of a netlab, each with its
# own dbus-daemon + avahi-daemon (tests/netlab/README.md).
#
#   hosts 1, 2: network A; host 3: network B. tests/netlab/mdns-probe runs node/mdns.c
#   on a libevent loop and prints PUBLISHED / FOUND lines with wall-clock ms.
#   1. host 1 finds host 2 (not 3), host 2 finds host 1, host 3 finds nobody;
#      publish -> found time measured.
#   2. avahi-daemon + dbus-daemon of host 2 restart: host 2's probe keeps running, warns
#      once, republishes; host 1 finds host 2 again.
#   3. a node that comes up on host 2 during a partition 1 | 2 is found by host 1 after
#      heal + mdns_rebrowse() (SIGUSR1).
#   4. a node started with no avahi-daemon at all publishes once avahi comes up.
# Needs root (network namespaces): otherwise SKIP (77). The lab is torn down at exit,
# whatever happens. Bounds are generous; timings are printed, not asserted.
set -u -o pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
NETLAB="$ROOT/tests/netlab/netlab"
export NETLAB_PREFIX="nlm$$"
export NETLAB_RUN="/run/netlab/$NETLAB_PREFIX"

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
for c in gcc pkg-config ip avahi-daemon dbus-daemon; do
	command -v "$c" >/dev/null || skip "missing '$c' (sh scripts/deps.sh)"
done
pkg-config --exists avahi-client libevent || skip "missing libavahi-client-dev / libevent-dev"

T=$(mktemp -d "${TMPDIR:-/tmp}/p2p-netlab.XXXXXX") || { echo "FAIL: mktemp"; exit 1; }
PIDS=()
FAILS=0
cleanup() {
	local rc=$? p left
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	"$NETLAB" down >/dev/null 2>&1
	left=$(ip netns list | grep -c "^$NETLAB_PREFIX-")
	if [ "$left" != 0 ]; then echo "FAIL: $left namespaces of lab $NETLAB_PREFIX left"; rc=1; fi
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		for f in "$T"/*.out "$T"/*.err; do [ -s "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }; done
	fi
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok()   { echo "ok   $*"; }
fail() { echo "FAIL $*"; FAILS=$((FAILS + 1)); }
note() { echo "     $*"; }
die()  { echo "FAIL $*"; exit 1; }
wait_for() { # wait_for SECS CMD...: poll every 50 ms
	local end=$((SECONDS + $1)); shift
	until "$@"; do [ "$SECONDS" -lt "$end" ] || return 1; sleep 0.05; done
}
newid() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
# field N of the first line of FILE matching REGEX
field() { awk -v re="$2" -v n="$3" '$0 ~ re { print $n; exit }' "$1"; }
count() { grep -c -e "$2" "$1" 2>/dev/null || true; }

# start NAME HOST NODE NET PORT: run the probe on HOST: PID[NAME], START[NAME] (ms)
declare -A PID=() START=()
start() {
	"$NETLAB" exec "$2" "$T/mdns-probe" -v "$3" "$4" "$5" >"$T/$1.out" 2>"$T/$1.err" &
	PIDS+=($!)
	PID[$1]=$!
	START[$1]=$(date +%s%3N)
}

# ---- build the probe (node/mdns.c + lib/, against avahi-client and libevent)
# shellcheck disable=SC2046 # pkg-config output: word splitting wanted
gcc -std=c17 -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE -DHAVE_AVAHI_CLIENT=1 \
	-I"$ROOT" -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-o "$T/mdns-probe" "$ROOT/tests/netlab/mdns-probe.c" "$ROOT/node/mdns.c" \
	"$ROOT/lib/log.c" "$ROOT/lib/util.c" \
	$(pkg-config --cflags --libs avahi-client libevent) -lpthread 2>"$T/build.err" ||
	{ cat "$T/build.err"; die "building tests/netlab/mdns-probe.c"; }
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

# ---- the lab
out=$("$NETLAB" up 3 2>&1)
rc=$?
[ "$rc" = 77 ] && skip "${out#SKIP: }"
[ "$rc" = 0 ] || die "netlab up: $out"
"$NETLAB" avahi-up >/dev/null || die "netlab avahi-up"

NET_A=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
NET_B=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
N1=$(newid); N2=$(newid); N3=$(newid)

# ---- 1. discovery and network separation
start h1 1 "$N1" "$NET_A" 7001
start h2 2 "$N2" "$NET_A" 7002
start h3 3 "$N3" "$NET_B" 7003
if wait_for 15 grep -q "^FOUND $N2 10.77.0.2:7002 " "$T/h1.out"; then
	ok "host 1 found host 2 at 10.77.0.2:7002"
else
	fail "host 1 did not find host 2 within 15 s"
fi
wait_for 15 grep -q "^FOUND $N1 10.77.0.1:7001 " "$T/h2.out" && ok "host 2 found host 1" ||
	fail "host 2 did not find host 1"
wait_for 15 grep -q '^PUBLISHED' "$T/h3.out" || fail "host 3 never published"
# host 3's service is on the LAN; give everyone time to resolve it (and skip it).
wait_for 10 grep -q "skipping 'p2p-${N3:0:16}': other network" "$T/h1.err" ||
	fail "host 1 never saw host 3's service"
sleep 1
[ "$(count "$T/h1.out" "$N3")" = 0 ] && ok "host 1 skipped host 3 (network B)" || fail "host 1 reported host 3"
[ "$(count "$T/h2.out" "$N3")" = 0 ] && ok "host 2 skipped host 3 (network B)" || fail "host 2 reported host 3"
[ "$(count "$T/h3.out" '^FOUND')" = 0 ] && ok "host 3 found nobody" || fail "host 3 reported: $(grep FOUND "$T/h3.out")"
[ "$(count "$T/h1.out" "$N1")" = 0 ] && [ "$(count "$T/h2.out" "$N2")" = 0 ] &&
	ok "nobody reported itself" || fail "a probe reported itself"
[ "$(count "$T/h1.out" "^FOUND $N2")" = 1 ] && ok "host 2 reported once to host 1" ||
	fail "host 2 reported $(count "$T/h1.out" "^FOUND $N2") times to host 1"
pub2=$(field "$T/h2.out" '^PUBLISHED' 3)
found2=$(field "$T/h1.out" "^FOUND $N2" 4)
pub1=$(field "$T/h1.out" '^PUBLISHED' 3)
found1=$(field "$T/h2.out" "^FOUND $N1" 4)
if [ -n "$pub2" ] && [ -n "$found2" ] && [ -n "$pub1" ] && [ -n "$found1" ]; then
	note "measured: start -> published $((pub2 - START[h2])) ms (host 2), $((pub1 - START[h1])) ms (host 1)"
	note "measured: published -> found by the other host $((found2 - pub2)) ms (2 by 1), $((found1 - pub1)) ms (1 by 2)"
	note "measured: start -> found $((found2 - START[h2])) ms (2 by 1)"
fi

# ---- 2. avahi-daemon (and the D-Bus bus) of host 2 restart
"$NETLAB" avahi-down 2 >/dev/null
wait_for 5 grep -q 'avahi-daemon unavailable' "$T/h2.err" && ok "host 2's probe noticed avahi going away" ||
	fail "host 2's probe did not notice avahi going away"
sleep 2
kill -0 "${PID[h2]}" 2>/dev/null && ok "host 2's probe keeps running without avahi" || fail "host 2's probe died"
"$NETLAB" avahi-up 2 >/dev/null || die "avahi-up 2"
t_up=$(date +%s%3N)
if wait_for 20 eval '[ "$(count "$T/h1.out" "^FOUND $N2 10.77.0.2:7002")" -ge 2 ]'; then
	refound=$(awk -v re="^FOUND $N2" '$0 ~ re { t = $4 } END { print t }' "$T/h1.out")
	repub=$(awk '/^PUBLISHED/ { t = $3 } END { print t }' "$T/h2.out")
	ok "host 1 found host 2 again after host 2's avahi restart"
	note "measured: avahi-up 2 returned -> host 2 republished $((repub - t_up)) ms -> host 1 found it $((refound - t_up)) ms"
else
	fail "host 1 did not find host 2 again within 20 s of avahi-up 2"
fi
[ "$(count "$T/h2.err" 'warn: mdns: avahi-daemon unavailable')" = 1 ] &&
	ok "one warning line while avahi was away" ||
	fail "$(count "$T/h2.err" 'warn: mdns: avahi-daemon unavailable') warning lines"
grep -q 'avahi-daemon is back' "$T/h2.err" && ok "host 2 logged avahi's return" || fail "no 'is back' line"

# ---- 3. a node appears on host 2 during a partition; heal + rebrowse
# shellcheck disable=SC2034 # used in the eval below
nleft=$(count "$T/h1.err" "${N2:0:8} at .* left")
kill "${PID[h2]}"; wait "${PID[h2]}" 2>/dev/null
# its goodbye reaches host 1 (removed after the 1 s grace of RFC 6762)
wait_for 5 eval '[ "$(count "$T/h1.err" "${N2:0:8} at .* left")" -gt "$nleft" ]' ||
	fail "host 1 did not see host 2's node leave"
"$NETLAB" cut 1 2 >/dev/null || die "cut 1 2"
N4=$(newid)
start h4 2 "$N4" "$NET_A" 7004
wait_for 15 grep -q '^PUBLISHED' "$T/h4.out" || fail "host 2's second node never published"
sleep 1
[ "$(count "$T/h1.out" "$N4")" = 0 ] && ok "partition 1 | 2: host 1 does not see host 2's new node" ||
	fail "host 1 saw host 2's new node through the partition"
"$NETLAB" heal 1 2 >/dev/null || die "heal 1 2"
t_rb=$(date +%s%3N)
kill -USR1 "${PID[h1]}"
if wait_for 10 grep -q "^FOUND $N4 10.77.0.2:7004 " "$T/h1.out"; then
	ok "after heal + mdns_rebrowse() host 1 found the new node"
	note "measured: rebrowse -> found $(( $(field "$T/h1.out" "^FOUND $N4" 4) - t_rb )) ms"
else
	fail "host 1 did not find the new node within 10 s of heal + rebrowse"
fi

# ---- 4. started before avahi: publishes once it appears
"$NETLAB" avahi-down 3 >/dev/null
kill "${PID[h3]}"; wait "${PID[h3]}" 2>/dev/null
N5=$(newid)
start h5 3 "$N5" "$NET_A" 7005
wait_for 5 grep -q 'avahi-daemon unavailable' "$T/h5.err" && ok "no avahi: one warning, running" ||
	fail "no warning without avahi"
sleep 1
"$NETLAB" avahi-up 3 >/dev/null || die "avahi-up 3"
t_up=$(date +%s%3N)
if wait_for 20 grep -q "^FOUND $N5 10.77.0.3:7005 " "$T/h1.out"; then
	ok "a node started before avahi-daemon published once it came up; host 1 found it"
	note "measured: avahi-up 3 -> found by host 1 $(( $(field "$T/h1.out" "^FOUND $N5" 4) - t_up )) ms"
else
	fail "the node started before avahi was not found within 20 s"
fi

# ---- 5. name collision: two nodes whose IDs share the 16 hex digits of the instance
# name. The later one takes Avahi's alternative name; both stay findable.
PFX=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
NC1=$PFX$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
NC2=$PFX$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
start c1 2 "$NC1" "$NET_A" 7011
wait_for 15 grep -q '^PUBLISHED' "$T/c1.out" || fail "c1 never published"
start c2 3 "$NC2" "$NET_A" 7012
wait_for 20 grep -q '^PUBLISHED' "$T/c2.out" || fail "c2 never published"
name1=$(awk '/^PUBLISHED/ { $1 = ""; $NF = ""; print; exit }' "$T/c1.out")
name2=$(awk '/^PUBLISHED/ { $1 = ""; $NF = ""; print; exit }' "$T/c2.out")
[ -n "$name1" ] && [ -n "$name2" ] && [ "$name1" != "$name2" ] &&
	ok "colliding instance names resolved: '$name1' and '$name2'" ||
	fail "collision not resolved: '$name1' / '$name2'"
wait_for 15 grep -q "^FOUND $NC1 10.77.0.2:7011 " "$T/h1.out" && ok "host 1 found the first" ||
	fail "host 1 did not find the first of the colliding nodes"
wait_for 15 grep -q "^FOUND $NC2 10.77.0.3:7012 " "$T/h1.out" && ok "host 1 found the renamed one" ||
	fail "host 1 did not find the renamed node"

# ---- clean exits (ASan/UBSan: no leaks, no UB)
for n in h1 h4 h5 c1 c2; do
	p=${PID[$n]}
	kill "$p" 2>/dev/null
	wait "$p"
	rc=$?
	[ "$rc" = 0 ] && ok "probe $n: clean exit on SIGTERM" || fail "probe $n exited $rc (see $n.err)"
done
if grep -l -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error' "$T"/*.err; then
	fail "sanitizer reports"
fi

[ "$FAILS" = 0 ] || exit 1
echo "PASS t_netlab_mdns"

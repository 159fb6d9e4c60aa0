#!/usr/bin/env bash
# bench_mdns.sh: how long a node takes, from its start, to be connected to every peer
# that LAN discovery (mDNS, node/mdns.c through avahi-daemon) can find. A benchmark:
# prints figures, asserts nothing (exit 0 once measured).
#
# In a 3-host netlab (tests/netlab: network namespaces, one avahi-daemon per host), each
# run: fresh data directories; node 1 starts (it creates the network key, copied to the
# others), node 2 starts, both wait until connected to each other; then node 3 starts
# and the time is taken from just before its launch (`netlab exec 3 p2p serve ...`) to
# the first poll of its GET /v1/peers (every 50 ms, on its api.sock) listing nodes 1 and
# 2 as connected. Then all three stop (SIGTERM). RUNS=10 runs (RUNS=N to change);
# median and max printed; target: median < 2 s.
#
# Needs root (network namespaces) and the netlab packages (sh scripts/deps.sh);
# otherwise prints SKIP and exits 77. P2P_BIN (default build/p2p) is copied first, so a
# rebuild during the run changes nothing. The lab (prefix bm<pid>) and the temporary
# directory are removed at exit.
set -u -o pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NETLAB="$ROOT/tests/netlab/netlab"
SRC_BIN=${P2P_BIN:-$ROOT/build/p2p}
RUNS=${RUNS:-10}
export NETLAB_PREFIX="bm$$"
export NETLAB_RUN="/run/netlab/$NETLAB_PREFIX"

[ "$(id -u)" = 0 ] || { echo "SKIP: bench_mdns: needs root (network namespaces)"; exit 77; }
for c in ip avahi-daemon dbus-daemon curl jq; do
	command -v "$c" >/dev/null || { echo "SKIP: bench_mdns: missing '$c' (sh scripts/deps.sh)"; exit 77; }
done
[ -x "$SRC_BIN" ] || { echo "bench_mdns: no $SRC_BIN (run make first)" >&2; exit 1; }
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "bench_mdns: RUNS must be a positive number" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/p2p-bench-mdns.XXXXXX") || exit 1
BIN=$TMP/p2p
cp "$SRC_BIN" "$BIN" || exit 1
declare -A PID=()
cleanup() {
	local i
	trap - EXIT
	for i in "${!PID[@]}"; do kill "${PID[$i]}" 2>/dev/null; done
	for i in "${!PID[@]}"; do wait "${PID[$i]}" 2>/dev/null; done
	"$NETLAB" down >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }
die() { echo "bench_mdns: $*" >&2; exit 1; }
# wait_for SECS CMD...: poll every 50 ms
wait_for() {
	local end=$(( $(ms) + $1 * 1000 )); shift
	until "$@" 2>/dev/null; do [ "$(ms)" -lt "$end" ] || return 1; sleep 0.05; done
}
peers() { curl -sf --max-time 2 --unix-socket "$D/h$1/api.sock" http://x/v1/peers; }
# connected I N: host I's daemon lists N peers as connected
connected() { [ "$(peers "$1" | jq '[.peers[] | select(.status == "connected")] | length')" = "$2" ]; }
healthy() { curl -sf --max-time 2 --unix-socket "$D/h$1/api.sock" http://x/health >/dev/null; }
start() {
	mkdir -p "$D/h$1" && chmod 700 "$D/h$1"
	"$NETLAB" exec "$1" "$BIN" --db "$D/h$1/p2p.db" serve --listen :3000 >"$D/h$1/log" 2>&1 &
	PID[$1]=$!
}
stop_all() {
	local i
	for i in "${!PID[@]}"; do kill "${PID[$i]}" 2>/dev/null; done
	for i in "${!PID[@]}"; do wait "${PID[$i]}" 2>/dev/null; done
	PID=()
}
# log_ms FILE REGEX: wall-clock ms of the first log line matching REGEX (HH:MM:SS.mmm, today)
log_ms() {
	local t
	t=$(grep -m1 -E "$2" "$1" | cut -d' ' -f1) && [ -n "$t" ] || return 1
	echo $(( $(date -d "$(date +%F) $t" +%s%3N) ))
}

out=$("$NETLAB" up 3 2>&1); rc=$?
[ "$rc" = 77 ] && { echo "$out"; exit 77; }
[ "$rc" = 0 ] || die "netlab up 3: $out"
"$NETLAB" avahi-up >/dev/null || die "netlab avahi-up"

echo "bench_mdns: $RUNS runs in a 3-host netlab; node 3 starts while nodes 1 and 2 are connected"
printf '%4s %10s %10s %10s %10s  %s\n' run 'total ms' 'to serve' 'published' '1st link' 'links (node 3 dialled / was dialled)'
totals=()
for ((r = 1; r <= RUNS; r++)); do
	D=$TMP/r$r
	start 1
	wait_for 10 healthy 1 && [ -s "$D/h1/network.key" ] || die "run $r: node 1 did not start: $(tail -3 "$D/h1/log")"
	for i in 2 3; do mkdir -p "$D/h$i" && chmod 700 "$D/h$i"; install -m 600 "$D/h1/network.key" "$D/h$i/network.key"; done
	start 2
	wait_for 20 eval 'connected 1 1 && connected 2 1' || die "run $r: nodes 1 and 2 not connected within 20 s"
	t0=$(ms)
	start 3
	wait_for 30 connected 3 2 || die "run $r: node 3 not connected to both within 30 s: $(tail -5 "$D/h3/log")"
	t1=$(ms)
	total=$((t1 - t0))
	totals+=("$total")
	# where the time went (node 3's log, ms since t0)
	l=$D/h3/log
	serve=$(log_ms "$l" ' serving ') && serve=$((serve - t0)) || serve=-
	pub=$(log_ms "$l" 'mdns: published') && pub=$((pub - t0)) || pub=later
	first=$(log_ms "$l" 'peer [0-9a-f]+ connected') && first=$((first - t0)) || first=-
	to=$(grep -cE 'peer [0-9a-f]+ connected \(to ' "$l"); from=$(grep -cE 'peer [0-9a-f]+ connected \(from ' "$l")
	printf '%4d %10d %10s %10s %10s  %s / %s\n' "$r" "$total" "$serve" "$pub" "$first" "$to" "$from"
	stop_all
done

sorted=$(printf '%s\n' "${totals[@]}" | sort -n)
n=${#totals[@]}
if ((n % 2)); then
	median=$(sed -n "$((n / 2 + 1))p" <<<"$sorted")
else
	a=$(sed -n "$((n / 2))p" <<<"$sorted"); b=$(sed -n "$((n / 2 + 1))p" <<<"$sorted")
	median=$(((a + b) / 2))
fi
max=$(tail -1 <<<"$sorted"); min=$(head -1 <<<"$sorted")
echo
printf 'start -> connected to all mDNS peers (%d runs): median %d ms, min %d ms, max %d ms (target: median < 2000 ms: %s)\n' \
	"$n" "$median" "$min" "$max" "$([ "$median" -lt 2000 ] && echo met || echo NOT met)"
echo "(ms columns are since node 3's launch; log timestamps have 1 ms resolution, polls 50 ms)"

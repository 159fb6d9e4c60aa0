#!/usr/bin/env bash
# bench_gossip.sh: how fast the peer network converges (a benchmark: prints figures,
# asserts nothing). N nodes (default 30; N=50 sh scripts/bench_gossip.sh) on loopback
# in temporary data directories, sharing one network key, node i bootstrapped only to
# node i-1. Reports the time until every node knows (has completed a handshake with)
# all N-1 others, measured from the start of the last node and from the first, and the
# resident memory (VmRSS) of one node at the end. Everything is removed afterwards.
# START=parallel: pick N free ports first and launch all nodes at once (a node whose
# predecessor is not up yet retries with backoff); times are then from the launch.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${P2P_BIN:-$ROOT/build/p2p}
N=${N:-30}
[ -x "$BIN" ] || { echo "bench_gossip: no $BIN (run make first)" >&2; exit 1; }
command -v jq >/dev/null && command -v curl >/dev/null ||
	{ echo "bench_gossip: needs jq and curl" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/p2p-bench-gossip.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }
api() { curl -sf --max-time 2 --unix-socket "$TMP/n$1/api.sock" "http://x$2"; }

openssl rand -hex 32 >"$TMP/net.key" && chmod 600 "$TMP/net.key"
ports=()
if [ "${START:-}" = parallel ]; then
	read -r -a ports <<<"$(python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$N")"
	t_first=$(ms)
	for ((i = 0; i < N; i++)); do
		args=(--listen "127.0.0.1:${ports[i]}" --no-mdns --network-key "$TMP/net.key" --log-level warn)
		[ "$i" -gt 0 ] && args+=(--bootstrap "127.0.0.1:${ports[i-1]}")
		"$BIN" --db "$TMP/n$i/p2p.db" serve "${args[@]}" >"$TMP/log$i" 2>&1 &
		PIDS+=($!)
	done
	t_last=$(ms)
	echo "launched $N nodes at once (each bootstrapped to the previous one)"
fi
[ "${START:-}" = parallel ] || t_first=$(ms)
for ((i = 0; i < N; i++)); do
	[ "${START:-}" = parallel ] && break
	args=(--listen 127.0.0.1:0 --no-mdns --network-key "$TMP/net.key" --log-level warn)
	[ "$i" -gt 0 ] && args+=(--bootstrap "127.0.0.1:${ports[i-1]}")
	"$BIN" --db "$TMP/n$i/p2p.db" serve "${args[@]}" >"$TMP/log$i" 2>&1 &
	PIDS+=($!)
	for ((k = 0; k < 100; k++)); do
		p=$(api "$i" /v1/status 2>/dev/null | jq -r '.listen[0] // empty' 2>/dev/null)
		[ -n "$p" ] && break
		sleep 0.05
	done
	[ -n "$p" ] || { echo "bench_gossip: node $i did not start:"; tail -5 "$TMP/log$i"; exit 1; }
	ports+=("${p##*:}")
done
if [ "${START:-}" != parallel ]; then
	t_last=$(ms)
	echo "started $N nodes in $((t_last - t_first)) ms (each bootstrapped to the previous one)"
fi

want=$((N - 1))
deadline=$((t_last + 60000))
while :; do
	done_n=0
	for ((i = 0; i < N; i++)); do
		k=$(api "$i" /v1/peers | jq '.known' 2>/dev/null)
		[ "${k:-0}" -ge "$want" ] && done_n=$((done_n + 1))
	done
	now=$(ms)
	[ "$done_n" = "$N" ] && break
	if [ "$now" -ge "$deadline" ]; then
		echo "not converged after 60 s: $done_n of $N nodes know all $want others"
		break
	fi
	sleep 0.05
done
if [ "$done_n" = "$N" ]; then
	printf 'converged (as polled): every node knows all %d others %d ms after the last start (%d ms after the first)\n' \
		"$want" $((now - t_last)) $((now - t_first))
	# exact: the latest first_seen in any table (when that handshake completed)
	last_seen_new=0
	for ((i = 0; i < N; i++)); do
		f=$(api "$i" /v1/peers | jq '[.peers[].first_seen] | max')
		[ "${f:-0}" -gt "$last_seen_new" ] && last_seen_new=$f
	done
	printf 'converged (from first_seen): %d ms after the last start (%d ms after the first)\n' \
		$((last_seen_new - t_last)) $((last_seen_new - t_first))
fi
c=$(api 0 /v1/peers | jq '.connected')
echo "node 0: $c connections"
rss=$(awk '/VmRSS/ { print $2, $3 }' "/proc/${PIDS[0]}/status")
rss_last=$(awk '/VmRSS/ { print $2, $3 }' "/proc/${PIDS[N-1]}/status")
echo "RSS: node 0 $rss, node $((N - 1)) $rss_last"

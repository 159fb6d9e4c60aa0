#!/usr/bin/env bash
# bench_repl.sh: replication figures (prints them; not a test, asserts nothing).
#
#   1. 3 loopback nodes A, B, C (--replicas 3): time from `p2p store` of a random file
#      (default 1 GiB) on A until B and C both hold every chunk (each received chunk is
#      verified against its hash and made durable before it counts: B and C answer the
#      CHUNK_PUT only then; we poll A's `shares`, which counts their acknowledgements,
#      and check the chunk files on B and C), and the time `store` itself took (it
#      returns at min copies 2);
#   2. a 4th node D joins and `p2p get` runs on it at once: D holds none of the file,
#      so every chunk is fetched from A, B and C in parallel;
#   3. each daemon's peak RSS (VmHWM).
# Compare with /work/shared/bench/anchors.sh (socat TLS pipes, Syncthing).
#
#   P2P_BIN=build/p2p SIZE_MB=1024 bash scripts/bench_repl.sh
#   RSSLOG=FILE also samples D's VmRSS every 0.2 s during the get into FILE.
set -eu
P2P_BIN=${P2P_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/p2p}
SIZE_MB=${SIZE_MB:-1024}
T=$(mktemp -d "${TMPDIR:-/tmp}/p2p-bench-repl.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT
p2p() { local d=$1; shift; "$P2P_BIN" --db "$d/p2p.db" "$@"; }
now() { date +%s.%N; }
start() { # DIR args...
	local d=$1; shift
	mkdir -p "$d"
	"$P2P_BIN" --db "$d/p2p.db" serve --listen 127.0.0.1:0 --no-mdns "$@" >"$d/log" 2>&1 &
	PIDS+=($!)
	eval "PID_$(basename "$d")=$!"
	for _ in $(seq 100); do p2p "$d" status --json >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "node $d did not start" >&2; cat "$d/log" >&2; exit 1
}
port() { p2p "$1" status --json | jq -r '.listen[0]' | sed 's/.*://'; }
conn() { p2p "$1" status --json | jq -r .peers.connected; }
hwm() { awk '/VmHWM/ {print $2 / 1024 " MiB"}' "/proc/$1/status"; }

A=$T/a B=$T/b C=$T/c D=$T/d
start "$A" --replicas 3
install -m 0600 "$A/network.key" "$T/net.key"
PA=$(port "$A")
start "$B" --replicas 3 --network-key "$T/net.key" --bootstrap "127.0.0.1:$PA"
start "$C" --replicas 3 --network-key "$T/net.key" --bootstrap "127.0.0.1:$PA"
for _ in $(seq 200); do [ "$(conn "$A")" = 2 ] && [ "$(conn "$B")" = 2 ] && [ "$(conn "$C")" = 2 ] && break; sleep 0.1; done

echo "making a ${SIZE_MB} MiB random file..."
head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom >"$T/in"
sync
t0=$(now)
p2p "$A" store big "$T/in" --quiet
t1=$(now)
chunks=$(p2p "$A" files list --json | jq -r '.[] | select(.key == "big") | .chunks')
while :; do
	c=$(p2p "$A" shares --json | jq -r '.files[] | select(.key == "big") | .copies')
	[ "$c" -ge 3 ] && break
	sleep 0.05
done
t2=$(now)
nb=$(find "$B/chunks" -path '*/tmp' -prune -o -type f -print | wc -l)
nc=$(find "$C/chunks" -path '*/tmp' -prune -o -type f -print | wc -l)
printf 'store returned (min copies 2):         %6.2f s\n' "$(echo "$t1 - $t0" | bc)"
printf 'B and C hold all %s chunks:          %6.2f s  (%.0f MiB/s per copy; B %s, C %s files)\n' \
	"$chunks" "$(echo "$t2 - $t0" | bc)" "$(echo "$SIZE_MB / ($t2 - $t0)" | bc -l)" "$nb" "$nc"
# a replica refused or lost is repaired later (the holder's scan): a slow run shows it here
fails=$(curl -s --unix-socket "$A/api.sock" http://x/metrics | awk '/^p2p_repl_push_failures_total/ {print $2}')
echo "replicas A saw fail (repaired later):    ${fails:-?}"

start "$D" --replicas 3 --network-key "$T/net.key" --bootstrap "127.0.0.1:$PA"
for _ in $(seq 200); do [ "$(conn "$D")" = 3 ] && break; sleep 0.1; done
for _ in $(seq 200); do p2p "$D" files list --json | jq -e '.[] | select(.key == "big")' >/dev/null && break; sleep 0.1; done
t3=$(now)
( while kill -0 "$PID_d" 2>/dev/null; do awk -v t="$(date +%s.%N)" '/VmRSS/ {print t, $2}' /proc/$PID_d/status 2>/dev/null; sleep 0.2; done ) > "${RSSLOG:-/dev/null}" &
p2p "$D" get big --out "$T/out" --quiet
t4=$(now)
cmp -s "$T/in" "$T/out" && ok=byte-equal || ok=DIFFERENT
printf 'get on D (held none of it):            %6.2f s  (%.0f MiB/s, %s)\n' \
	"$(echo "$t4 - $t3" | bc)" "$(echo "$SIZE_MB / ($t4 - $t3)" | bc -l)" "$ok"
echo "peak RSS (VmHWM): A $(hwm "$PID_a"), B $(hwm "$PID_b"), C $(hwm "$PID_c"), D $(hwm "$PID_d")"

#!/usr/bin/env bash
# test_peer_gossip.sh: peer exchange in a 3-node chain on loopback.
#
#   node 1 listens on 127.0.0.1:3000
#   node 2 listens on 127.0.0.1:4000, bootstrapped to 3000
#   node 3 listens on 127.0.0.1:5000, bootstrapped to 4000 only
#
# and checks that node 3 learns node 1 (through node 2's PEERS) and connects to it,
# polling `p2p peers --json` for at most 15 s. Temporary data directories (one shared
# network key) are removed and the daemons stopped at the end, even on failure. A port
# already in use is replaced by a free one (said so). Exit 0 on success, 1 otherwise
# (with the nodes' last log lines).
#   P2P_BIN=path/to/p2p   the binary (default build/p2p)
#   PORTS="3000 4000 5000" the three ports
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${P2P_BIN:-$ROOT/build/p2p}
[ -x "$BIN" ] || { echo "test_peer_gossip: no $BIN (run make first)" >&2; exit 1; }
for c in jq curl python3; do
	command -v "$c" >/dev/null || { echo "test_peer_gossip: needs $c" >&2; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/p2p-gossip.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "FAIL: $*"
	for i in 1 2 3; do
		[ -f "$TMP/n$i/log" ] && { echo "---- node $i log ----"; tail -n 15 "$TMP/n$i/log"; }
	done
	exit 1
}
port_busy() {
	python3 -c 'import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError: sys.exit(0)
sys.exit(1)' "$1"
}
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
p2p() { local i=$1; shift; "$BIN" --db "$TMP/n$i/p2p.db" "$@"; }

read -r -a PORT <<<"${PORTS:-3000 4000 5000}"
for i in 0 1 2; do
	if port_busy "${PORT[i]}"; then
		p=$(free_port)
		echo "port ${PORT[i]} is in use: node $((i + 1)) uses $p instead"
		PORT[i]=$p
	fi
done

start() { # N ARGS...
	local i=$1 k; shift
	mkdir -p "$TMP/n$i"
	"$BIN" --db "$TMP/n$i/p2p.db" serve --no-mdns "$@" >"$TMP/n$i/log" 2>&1 &
	PIDS+=($!)
	for ((k = 0; k < 100; k++)); do
		curl -sf --max-time 1 --unix-socket "$TMP/n$i/api.sock" http://x/health \
			>/dev/null 2>&1 && return 0
		kill -0 "${PIDS[-1]}" 2>/dev/null || fail "node $i exited at start"
		sleep 0.1
	done
	fail "node $i did not answer within 10 s"
}

start 1 --listen "127.0.0.1:${PORT[0]}"
install -m 0600 "$TMP/n1/network.key" "$TMP/net.key"
start 2 --listen "127.0.0.1:${PORT[1]}" --network-key "$TMP/net.key" --bootstrap "127.0.0.1:${PORT[0]}"
start 3 --listen "127.0.0.1:${PORT[2]}" --network-key "$TMP/net.key" --bootstrap "127.0.0.1:${PORT[1]}"
ID1=$(p2p 1 status --json | jq -r .node_id)
echo "node 1 ${ID1:0:8} on ${PORT[0]}, node 2 on ${PORT[1]} -> ${PORT[0]}, node 3 on ${PORT[2]} -> ${PORT[1]}"

start_ms=$(( ${EPOCHREALTIME/./} / 1000 ))
for ((k = 0; k < 150; k++)); do
	st=$(p2p 3 peers --json 2>/dev/null | jq -r --arg id "$ID1" \
		'(map(select(.id == $id)) | .[0] | "\(.status) \(.addr)") // "absent"')
	if [ "$st" = "connected 127.0.0.1:${PORT[0]}" ]; then
		now=$(( ${EPOCHREALTIME/./} / 1000 ))
		echo "node 3 learned node 1 (127.0.0.1:${PORT[0]}) and connected to it in $((now - start_ms)) ms"
		p2p 3 peers
		echo "PASS"
		exit 0
	fi
	sleep 0.1
done
fail "node 3 does not list node 1 as connected after 15 s (last: $st)"

#!/usr/bin/env bash
# Links are encrypted: capture the loopback traffic (tshark) while three nodes connect
# and gossip (C learns B's address from A in a PEERS message), then check that no
# peer address appears in clear anywhere in the captured bytes (a plaintext control
# sent to the same port must be found, so the check can fail). Skips when tshark is
# missing or capturing is not permitted.
. "$(dirname "$0")/lib.sh"
command -v tshark >/dev/null || skip "tshark is not installed (scripts/deps.sh installs it)"
command -v python3 >/dev/null || skip "needs python3"

A=$T/a B=$T/b C=$T/c
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
PA=$(free_port) PB=$(free_port) PC=$(free_port)
[ "$PA" != "$PB" ] && [ "$PB" != "$PC" ] && [ "$PA" != "$PC" ] || skip "no three distinct free ports"

PCAP=$T/lo.pcap
tshark -i lo -f "tcp port $PA or tcp port $PB or tcp port $PC" -w "$PCAP" \
	>"$T/tshark.out" 2>&1 &
TS=$!
track "$TS"
on_exit "kill $TS 2>/dev/null"
poll 10 grep -q "Capturing on" "$T/tshark.out" ||
	skip "cannot capture on lo: $(tr '\n' ' ' <"$T/tshark.out" | cut -c1-200)"

start_node "$A" --listen "127.0.0.1:$PA" --no-mdns
IA=$(status_field "$A" node_id)
TICKET=$(p2p "$A" invite)
start_node "$B" --listen "127.0.0.1:$PB" --no-mdns --join "$TICKET"
IB=$(status_field "$B" node_id)
install -m 0600 "$A/network.key" "$T/net.key"
start_node "$C" --listen "127.0.0.1:$PC" --no-mdns --network-key "$T/net.key" \
	--bootstrap "127.0.0.1:$PA"
known_b() {
	[ "$(p2p "$C" peers --json | jq -r --arg id "$IB" 'map(select(.id == $id)) | .[0].status')" = connected ]
}
poll 10 known_b || fail "C did not learn B through A"
sleep 2.5 # a periodic gossip round and a PING too
# control: plaintext sent to A's port must be found in the capture
python3 - "$PA" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"p2p-capture-canary\r\n")
s.settimeout(3)
try:
    s.recv(100)
except Exception:
    pass
PY
stop_node "$C"
stop_node "$B"
stop_node "$A"
sleep 1
kill -INT "$TS" 2>/dev/null
wait "$TS" 2>/dev/null

[ -s "$PCAP" ] || fail "nothing captured"
pkts=$(tshark -r "$PCAP" 2>/dev/null | wc -l)
[ "$pkts" -ge 20 ] || fail "only $pkts packets captured"
payload=$(tshark -r "$PCAP" -T fields -e tcp.len 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
[ "$payload" -ge 2000 ] || fail "only $payload payload bytes captured"
[ "$(grep -acF p2p-capture-canary "$PCAP")" -ge 1 ] || fail "the plaintext control is not in the capture"
for s in "127.0.0.1:$PA" "127.0.0.1:$PB" "127.0.0.1:$PC" "$IA" "$IB" "p2p 0" "rawpeer"; do
	n=$(grep -acF -- "$s" "$PCAP")
	[ "$n" = 0 ] || fail "'$s' appears in clear in the capture ($n times)"
done
note "$pkts packets, $payload payload bytes captured: no address, node ID or version in clear"
finish

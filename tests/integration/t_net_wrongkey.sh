#!/usr/bin/env bash
# A node of another network (another network key) is refused both ways, with a one-line
# error that says what to do, and it appears in nobody's peer table:
#   - W bootstraps to A by name (localhost:PORT), the way the README's examples do: W's
#     log says in one line what is wrong and what to do; A logs one line too;
#   - a client with the wrong key (tests/net/rawpeer.c) fails AUTH and is not stored.
. "$(dirname "$0")/lib.sh"

R=$(cd "$(dirname "$0")/../.." && pwd)
A=$T/a B=$T/b W=$T/w

port_of() { status_field "$1" 'listen[0]' | sed 's/.*://'; }
id_of() { status_field "$1" node_id; }
peer_status() {
	p2p "$1" peers --json | jq -r --arg id "$2" \
		'(map(select(.id == $id)) | .[0].status) // "absent"'
}

start_node "$A" --listen 127.0.0.1:0 --no-mdns
PA=$(port_of "$A"); IA=$(id_of "$A")
start_node "$B" --listen 127.0.0.1:0 --no-mdns --join "$(p2p "$A" invite)"
IB=$(id_of "$B")
poll 10 bash -c "[ \"\$(\"$P2P_BIN\" --db $A/p2p.db peers --json | jq -r '.[0].status')\" = connected ]" ||
	fail "B did not connect to A"

# W: a node with its own (new) network key, bootstrapped to A by host name
start_node "$W" --listen 127.0.0.1:0 --no-mdns --bootstrap "localhost:$PA"
IW=$(id_of "$W")
want="node at localhost:$PA is in another network (wrong network key): run \`p2p invite\` on that node and start this one with --join TICKET"
poll 10 grep -qF -- "$want" "$W/log" || fail "W's log does not say: $want; log: $(tail -5 "$W/log")"
assert_eq "$(grep -cF 'another network' "$W/log")" 1 "lines about the other network in W's log"
poll 5 grep -q "wrong network key" "$A/log" || fail "A did not log the wrong key"
assert_eq "$(grep -c "wrong network key" "$A/log")" 1 "wrong-key lines in A's log"
note "W -> A refused: one line on each side"

# W dialled again later (backoff) would repeat nothing: W gave up on that address
sleep 3
assert_eq "$(grep -cF 'another network' "$W/log")" 1 "W retried a node of another network"

for d in "$A" "$B"; do
	assert_eq "$(peer_status "$d" "$IW")" absent "W in $(basename "$d")'s table"
done
assert_eq "$(p2p "$W" peers --json | jq length)" 0 "W's peer table"
assert_eq "$(status_field "$W" peers.connected)" 0 "W connected peers"
assert_eq "$(peer_status "$A" "$IB")" connected "B in A's table"

# A raw client with a wrong key: AUTH fails, nothing stored
build_rawpeer "$T/rawpeer"
run "$T/rawpeer" --key "$W/network.key" --hello "127.0.0.1:$PA"
expect_rc 4 "rawpeer with the wrong key"
assert_contains "$OUT" "wrong network key"
assert_eq "$(p2p "$A" peers --json | jq length)" 1 "A's table after a wrong-key client"
assert_eq "$(peer_status "$A" "$IB")" connected "B in A's table"
note "wrong-key client refused, not stored"
finish

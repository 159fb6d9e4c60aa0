#!/usr/bin/env bash
# Transports in gossip, on a host without Bluetooth (no VM): raw peers
# (tests/net/rawpeer.c) stand in for nodes with Bluetooth.
#   - a node with both transports (its HELLO lists 127.0.0.1:1 and a bt: address)
#     connects to B over TCP: B stores it as tcp, and its PEERS to the next peer
#     carries both of its addresses (transport 1 and 2, same node ID)
#   - B, which does not use Bluetooth, never dials a gossiped bt: address (and still
#     takes the TCP entry of the same PEERS)
#   - the PEERS of a node with a real RFCOMM peer: t_bt_bridge.sh (in a VM)
# shellcheck disable=SC2015 # the usual preamble of tests/integration
cd "$(dirname "$0")" && . ./lib.sh || { echo "FAIL: cannot load lib.sh"; exit 1; }

command -v cc >/dev/null || skip "no C compiler (tests/net/rawpeer.c)"
port_of() { status_field "$1" 'listen[0]' | sed 's/.*://'; }
id_of() { status_field "$1" node_id; }
frame() { printf '503201%02x%08x%s' "$1" $(( ${#2} / 2 )) "$2"; }
hexstr() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
# entry ID TRANSPORT ADDR: one PEERS entry, hex
entry() {
	local a; a=$(hexstr "$3")
	printf '%s%02x%04x%s0000000000000001' "$1" "$2" $(( ${#a} / 2 )) "$a"
}

build_rawpeer "$T/rawpeer"

B=$T/b
start_node "$B" --listen 127.0.0.1:0 --no-mdns --log-level debug
PB=$(port_of "$B") KEY=$B/network.key
BT1=bt:00:11:22:33:44:55/9

# ---- a node with both transports, seen over TCP ------------------------------------------------
"$T/rawpeer" --key "$KEY" --hello --hello-addr 127.0.0.1:1 --hello-addr "$BT1" --pong \
	--wait 15000 "127.0.0.1:$PB" >"$T/r1.out" 2>&1 &
track $!
poll 10 grep -q '^auth ok' "$T/r1.out" || fail "the dual raw peer did not get in: $(cat "$T/r1.out")"
R1=$(sed -n 's/^auth ok peer=.* self=//p' "$T/r1.out")
stored() { [ "$(p2p "$B" peers --json | jq -r --arg id "$R1" 'map(select(.id == $id)) | .[0].transport')" = tcp ]; }
poll 10 stored || fail "B did not store the dual raw peer as a tcp peer: $(p2p "$B" peers --json)"
assert_eq "$(p2p "$B" peers --json | jq -r --arg id "$R1" 'map(select(.id == $id)) | .[0].addr')" \
	"127.0.0.1:1" "the address B stores for the dual peer"

# the next peer hears of it on both transports
run "$T/rawpeer" --key "$KEY" --hello --pong --wait 2500 "127.0.0.1:$PB"
expect_rc 0 "rawpeer: a second peer"
assert_contains "$OUT" "  peer ${R1:0:8} 127.0.0.1:1 tcp" "B's PEERS: the dual peer over TCP"
assert_contains "$OUT" "  peer ${R1:0:8} $BT1 rfcomm" "B's PEERS: the dual peer's Bluetooth address"

# ---- B does not use Bluetooth: a gossiped bt: address is never dialled ------------------------------
X=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
P=$(printf '0002%s%s' "$(entry "$X" 2 "bt:00:11:22:33:44:66/3")" "$(entry "$X" 1 "127.0.0.1:2")")
run "$T/rawpeer" --key "$KEY" --hello --pong --send "$(frame 5 "$P")" --wait 2000 "127.0.0.1:$PB"
expect_rc 0 "rawpeer: PEERS with a bt: and a tcp entry for one node"
poll 10 grep -q "dial 127.0.0.1:2" "$B/log" ||
	fail_later "B did not take the TCP entry of the same node: $(grep -i dial "$B/log" | tail -3)"
grep -q "00:11:22:33:44:66" "$B/log" && fail_later "B (no Bluetooth) touched a gossiped bt: address: $(grep 00:11:22:33:44:66 "$B/log")"
grep -q "00:11:22:33:44:55" "$B/log" && fail_later "B (no Bluetooth) touched the dual peer's bt: address: $(grep 00:11:22:33:44:55 "$B/log")"
assert_eq "$(p2p "$B" peers --json | jq '[.[] | select(.transport != "tcp")] | length')" 0 \
	"B's peers over other transports"
node_alive "$B" || fail "B died"
finish

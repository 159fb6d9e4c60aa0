#!/usr/bin/env bash
# The peer network, end to end with real daemons on loopback (ports chosen by the
# system: --listen 127.0.0.1:0):
#   - a 3-node chain (C -> B -> A, sharing A's network key): C learns A from B and
#     connects to it; every table lists the other two as connected;
#   - `p2p invite` + `serve --join TICKET`: D joins with A's ticket and reaches everyone;
#   - SIGTERM sends GOODBYE: the others mark the node "left";
#   - restart with the same data directory: same node ID, rejoins;
#   - kill -9: the others mark it disconnected/failed; `cleanup --older-than 1s` (daemon
#     running) removes it, and `peers` / `cleanup` work without a daemon too.
. "$(dirname "$0")/lib.sh"

A=$T/a B=$T/b C=$T/c D=$T/d

port_of() { status_field "$1" 'listen[0]' | sed 's/.*://'; }
id_of() { status_field "$1" node_id; }
# peer_status DIR ID: the status DIR's table gives ID, or "absent"
peer_status() {
	p2p "$1" peers --json | jq -r --arg id "$2" \
		'(map(select(.id == $id)) | .[0].status) // "absent"'
}
has_status() { # DIR ID STATUS...
	local d=$1 id=$2 s; shift 2
	s=$(peer_status "$d" "$id")
	for w in "$@"; do [ "$s" = "$w" ] && return 0; done
	return 1
}
wait_status() { # SECS DIR ID STATUS...
	local secs=$1 d=$2 id=$3; shift 3
	poll "$secs" has_status "$d" "$id" "$@" ||
		fail "$(basename "$d") sees $(cut -c1-8 <<<"$id") as '$(peer_status "$d" "$id")', want: $*"
}

start_node "$A" --listen 127.0.0.1:0 --no-mdns
PA=$(port_of "$A"); IA=$(id_of "$A")
[ -f "$A/network.key" ] || fail "no network.key created in $A"
assert_eq "$(stat -c %a "$A/network.key")" 600 "network.key mode"
install -m 0600 "$A/network.key" "$T/net.key"

start_node "$B" --listen 127.0.0.1:0 --no-mdns --network-key "$T/net.key" --bootstrap "127.0.0.1:$PA"
PB=$(port_of "$B"); IB=$(id_of "$B")
start_node "$C" --listen 127.0.0.1:0 --no-mdns --network-key "$T/net.key" --bootstrap "127.0.0.1:$PB"
PC=$(port_of "$C"); IC=$(id_of "$C")
note "A=$PA ${IA:0:8} B=$PB ${IB:0:8} C=$PC ${IC:0:8}"

# ---- chain discovery ---------------------------------------------------------------------
wait_status 10 "$C" "$IA" connected
wait_status 10 "$A" "$IC" connected
for d in "$A" "$B" "$C"; do
	n=$(p2p "$d" peers --json | jq '[.[] | select(.status == "connected")] | length')
	assert_eq "$n" 2 "$(basename "$d"): connected peers"
	assert_eq "$(status_field "$d" peers.connected)" 2 "$(basename "$d"): status peers.connected"
done
# the address stored for C is its listen address, not its source port
assert_eq "$(p2p "$A" peers --json | jq -r --arg id "$IC" '.[] | select(.id == $id) | .addr')" \
	"127.0.0.1:$PC" "address A stored for C"
assert_eq "$(p2p "$A" peers --json | jq -r --arg id "$IC" '.[] | select(.id == $id) | .transport')" \
	tcp "transport"
run p2p "$A" peers
expect_rc 0 "peers (table)"
assert_contains "$OUT" "${IC:0:8}"
assert_contains "$OUT" "127.0.0.1:$PB"
note "chain: C learned A through B; all connected"

# RTT gets measured (PING/PONG right after the handshake)
poll 10 bash -c "[ \"\$(\"$P2P_BIN\" --db $A/p2p.db peers --json | jq '[.[] | select(.rtt_us > 0)] | length')\" = 2 ]" ||
	fail_later "no RTT measured on A: $(p2p "$A" peers --json | jq -c '[.[] | .rtt_us]')"

# ---- invite / join -----------------------------------------------------------------------
run p2p "$A" invite
expect_rc 0 "invite"
TICKET=$OUT
[[ $TICKET == p2p1:* ]] || fail "invite printed '$TICKET'"
run p2p "$A" invite --json
assert_contains "$(jq -r '.addresses[]' <<<"$OUT")" "127.0.0.1:$PA" "ticket addresses"
start_node "$D" --listen 127.0.0.1:0 --no-mdns --join "$TICKET"
ID=$(id_of "$D")
cmp -s "$D/network.key" "$A/network.key" || fail "--join did not save the ticket's key"
assert_eq "$(stat -c %a "$D/network.key")" 600 "joined network.key mode"
wait_status 10 "$A" "$ID" connected
wait_status 10 "$C" "$ID" connected
note "join with a ticket: D reached A and, by gossip, C"

# ---- SIGTERM: GOODBYE -> left; restart keeps the ID and rejoins --------------------------
stop_node "$D"
wait_status 5 "$A" "$ID" left
wait_status 5 "$B" "$ID" left
start_node "$D" --listen 127.0.0.1:0 --no-mdns
assert_eq "$(id_of "$D")" "$ID" "node ID after a restart"
wait_status 10 "$A" "$ID" connected
wait_status 10 "$D" "$IA" connected
note "SIGTERM: peers say 'left'; restart: same ID, reconnected"

# ---- kill -9: disconnected/failed, then cleanup --------------------------------------------
kill9_node "$C"
wait_status 10 "$A" "$IC" disconnected failed
wait_status 10 "$B" "$IC" disconnected failed
sleep 2
run p2p "$A" cleanup --older-than 1s
expect_rc 0 "cleanup --older-than 1s (daemon running)"
assert_contains "$OUT" "removed 1 peer"
assert_eq "$(peer_status "$A" "$IC")" absent "C in A's table after cleanup"
wait_status 3 "$A" "$IB" connected
assert_eq "$(peer_status "$A" "$ID")" connected "D in A's table after cleanup"
# C's table without a daemon: read-only, from the database
run p2p "$C" peers --json
expect_rc 0 "peers with no daemon"
assert_eq "$(jq 'length' <<<"$OUT")" 3 "peers C knew (read from its database)"
run p2p "$C" cleanup --older-than 1s
expect_rc 0 "cleanup with no daemon"
assert_contains "$OUT" "removed 3 peers"
assert_eq "$(p2p "$C" peers --json | jq length)" 0 "C's table after cleanup"
run p2p "$C" cleanup --older-than soon
expect_rc 2 "cleanup --older-than soon"
note "kill -9: disconnected/failed, then removed by cleanup"

# status shows the counts
assert_eq "$(status_field "$A" peers.known)" 2 "A: peers.known"
finish

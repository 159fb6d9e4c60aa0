#!/usr/bin/env bash
# A known peer that comes back at another address is found again through gossip:
# A, B and C connected; all three stop; A restarts on its old port, B and C on new
# ports (bootstrap: A). B and C still have each other's old addresses (C left with a
# GOODBYE; B's dials of it fail), A has both new ones: A's PEERS gives each the other's
# new address, and B and C connect to each other again (before, a stored peer's
# address was never taken from gossip, and they stayed apart).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/repl_lib.sh"

A=$T/a B=$T/b C=$T/c
repl_net "$A" "$B" "$C"
IDB=$(id_of "$B") IDC=$(id_of "$C")
OLDB=$(port_of "$B") OLDC=$(port_of "$C")
stop_node "$C"
stop_node "$B"
stop_node "$A"

start_node "$A" --listen "127.0.0.1:$REPL_PORT0" --no-mdns --network-key "$T/net.key"
restart_node "$B"
restart_node "$C"
NEWB=$(port_of "$B") NEWC=$(port_of "$C")
[ "$NEWB" != "$OLDB" ] && [ "$NEWC" != "$OLDC" ] ||
	skip "the kernel gave B or C its old port again ($OLDB/$OLDC -> $NEWB/$NEWC): nothing moved"
note "B moved from port $OLDB to $NEWB, C from $OLDC to $NEWC"
link_up() { # DIR ID: DIR is connected to ID
	p2p "$1" peers --json | jq -e --arg id "$2" 'any(.[]; .id == $id and .status == "connected")' >/dev/null
}
poll 30 link_up "$B" "$IDC" || fail "B not connected to C within 30 s; B's peers: $(p2p "$B" peers --json | jq -c 'map([.id[:8], .addr, .status])')"
poll 10 link_up "$C" "$IDB" || fail "C does not list B as connected"
addr_of() { p2p "$1" peers --json | jq -r --arg id "$2" '.[] | select(.id == $id) | .addr'; }
assert_eq "$(addr_of "$B" "$IDC")" "127.0.0.1:$NEWC" "C's address in B's table"
note "B and C found each other again at their new ports"
finish

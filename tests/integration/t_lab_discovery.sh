#!/usr/bin/env bash
# t_lab_discovery: LAN discovery end to end, p2p daemons on three netlab hosts (each its
# own network namespace, dbus-daemon and avahi-daemon; tests/netlab/README.md).
#   1. hosts 1-3, one network key, no bootstrap flag: every node lists the other two as
#      connected within 10 s of the start of nodes 2 and 3 (mDNS -> dial -> handshake).
#   2. host 4 runs a node with ANOTHER network key: host 1's avahi resolves 4 instances
#      of _p2pstore._tcp (so host 4's service is on the LAN; no TXT record carries a
#      key), yet host 4 is never dialled nor connected: absent from every peer table
#      for 5 s, its own table empty, no "wrong network key" anywhere (mDNS filtered it
#      by network identifier before any dial).
# Needs root (SKIP 77 otherwise). Lab lab<pid>d, torn down at exit whatever happens.
. "$(dirname "$0")/lib.sh" || exit 1
export NETLAB_PREFIX="lab$$d"
. "$(dirname "$0")/lab_lib.sh" || exit 1

lab_up 4

# ---- 1. three nodes of one network find each other
lab_start 1
share_key 1 2 3
t0=$(now_ms)
lab_start 2
lab_start 3
ID1=$(node_id 1); ID2=$(node_id 2); ID3=$(node_id 3)
[ ${#ID1} = 64 ] && [ ${#ID2} = 64 ] && [ ${#ID3} = 64 ] || fail "node IDs: '$ID1' '$ID2' '$ID3'"
all_connected() {
	connected_to 1 "$ID2" "$ID3" && connected_to 2 "$ID1" "$ID3" && connected_to 3 "$ID1" "$ID2"
}
poll 10 all_connected ||
	fail "not all connected 10 s after nodes 2 and 3 started: 1: $(peers_json 1 | jq -c 'map([.id[:8], .status])'), 2: $(peers_json 2 | jq -c 'map([.id[:8], .status])'), 3: $(peers_json 3 | jq -c 'map([.id[:8], .status])')"
note "3 nodes, no bootstrap: all connected $(( $(now_ms) - t0 )) ms after nodes 2 and 3 were started"
for i in 1 2 3; do
	assert_eq "$(peers_json "$i" | jq length)" 2 "peers in host $i's table"
	for a in $(peers_json "$i" | jq -r '.[].addr'); do
		[[ $a =~ ^10\.77\.0\.[123]:3000$ ]] || fail "host $i: peer address '$a', want 10.77.0.N:3000"
	done
done
for i in 1 2 3; do
	assert_eq "$("$BIN" --db "$(hdir "$i")/p2p.db" status --json | jq .peers.connected)" 2 "host $i status peers.connected"
done

# ---- 2. a node of another network on the same LAN
lab_start 4
ID4=$(node_id 4)
cmp -s "$(hdir 1)/network.key" "$(hdir 4)/network.key" && fail "host 4 got the same network key"
browse1() { "$NETLAB" exec 1 avahi-browse -rpt _p2pstore._tcp 2>/dev/null | grep '^=;eth0;IPv4;' >"$T/browse"; }
four_seen() { browse1 && [ "$(cut -d';' -f4 "$T/browse" | sort -u | wc -l)" = 4 ] && grep -q ";10\.77\.0\.4;3000;" "$T/browse"; }
poll 15 four_seen || fail "host 1's avahi does not resolve 4 instances of _p2pstore._tcp within 15 s: $(cat "$T/browse")"
note "host 1's avahi-browse: $(cut -d';' -f4,8,9 "$T/browse" | sort -u | tr '\n' ' ')"
line4=$(grep ";10\.77\.0\.4;3000;" "$T/browse" | head -1)
assert_contains "$line4" "\"node=$ID4\"" "host 4's TXT"
net4=$(sed -n 's/.*"net=\([0-9a-f]*\)".*/\1/p' <<<"$line4")
net1=$(grep ";10\.77\.0\.1;3000;" "$T/browse" | sed -n 's/.*"net=\([0-9a-f]*\)".*/\1/p' | head -1)
[ ${#net4} = 16 ] && [ ${#net1} = 16 ] && [ "$net4" != "$net1" ] ||
	fail "TXT net= of hosts 1 and 4: '$net1' '$net4' (want two different 16-hex identifiers)"
for i in 1 4; do
	k=$(tr -d ' \n' <"$(hdir "$i")/network.key")
	[ ${#k} = 64 ] || fail "host $i's network.key: not 64 hex"
	! grep -qi -- "$k" "$T/browse" || fail "host $i's network key is in a TXT record: $T/browse"
done
# Host 4's service has been on the LAN (and resolvable) since the browse above; the
# daemons had it too. Watch for 5 s: nobody may dial or list host 4.
end=$(( $(now_ms) + 5000 ))
while :; do
	for i in 1 2 3; do
		st=$(peer_status "$i" "$ID4")
		[ "$st" = absent ] || fail "host $i lists host 4 (other network) as '$st'"
	done
	n4=$(peers_json 4 | jq length)
	[ "$n4" = 0 ] || fail "host 4 lists $n4 peer(s): $(peers_json 4 | jq -c .)"
	[ "$(now_ms)" -lt "$end" ] || break
	sleep 0.5
done
assert_eq "$("$BIN" --db "$(hdir 4)/p2p.db" status --json | jq .peers.connected)" 0 "host 4 status peers.connected"
for i in 1 2 3; do
	assert_eq "$(grep -c 'wrong network key' "$(hdir "$i")/log")" 0 "'wrong network key' lines on host $i (host 4 was dialled)"
	assert_eq "$(peers_json "$i" | jq '[.[] | select(.status == "connected")] | length')" 2 "host $i still connected to 2"
done
assert_eq "$(grep -c 'another network' "$(hdir 4)/log")" 0 "'another network' lines on host 4 (it dialled a node)"
note "host 4 (other network): resolved by mDNS, never dialled, in nobody's table"
finish

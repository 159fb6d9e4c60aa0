#!/usr/bin/env bash
# t_lab_cut_heal: a host unplugged and plugged back (netlab cut / heal), hosts 1-3 of a
# netlab (tests/netlab/README.md), three nodes of one network found through mDNS.
#   1. all connected;
#   2. `netlab cut 3` (host 3's switch port down: no FIN, no RST, nothing): nodes 1 and
#      2 list node 3 as disconnected, and node 3 lists 1 and 2 as disconnected, within
#      the daemon's liveness bound: NET_IDLE_TIMEOUT_S (read timeout of an established
#      link, 30 s) + NET_PING_MS + slack, read from node/net.h. 1 <-> 2 stays connected
#      throughout;
#   3. `netlab heal 3`: node 3 is connected to both again within 60 s (measured and
#      printed: it is the redial backoff), 1 <-> 2 still connected, nobody holds a
#      duplicate row.
# LAB_CUT_HOLD_S=120 makes the outage 2 min longer (see below): reconnection then waits
# for the grown backoff (~20-30 s measured), not for mDNS.
# Needs root (SKIP 77 otherwise). Lab lab<pid>c, torn down at exit whatever happens.
. "$(dirname "$0")/lib.sh" || exit 1
export NETLAB_PREFIX="lab$$c"
. "$(dirname "$0")/lab_lib.sh" || exit 1

IDLE_S=$(net_h NET_IDLE_TIMEOUT_S); PING_MS=$(net_h NET_PING_MS)
[ -n "$IDLE_S" ] && [ -n "$PING_MS" ] || fail "cannot read NET_IDLE_TIMEOUT_S / NET_PING_MS from node/net.h"
DOWN_BOUND=$((IDLE_S + PING_MS / 1000 + 15))
# LAB_CUT_HOLD_S=N keeps host 3 unplugged N s longer once everyone has seen it go (a long
# outage: the redial backoff has grown, up to NET_BACKOFF_MAX_MS); the heal bound then
# allows for that cap. Default 0: heal as soon as the cut was seen.
HOLD_S=${LAB_CUT_HOLD_S:-0}
[[ $HOLD_S =~ ^[0-9]+$ ]] || fail "LAB_CUT_HOLD_S: not a number of seconds"
HEAL_BOUND=60
[ "$HOLD_S" = 0 ] || HEAL_BOUND=$(( $(net_h NET_BACKOFF_MAX_MS) / 1000 + 30 ))
[ "$HEAL_BOUND" -ge 60 ] || HEAL_BOUND=60

lab_up 3
lab_start 1
share_key 1 2 3
lab_start 2
lab_start 3
ID1=$(node_id 1); ID2=$(node_id 2); ID3=$(node_id 3)
all_connected() {
	connected_to 1 "$ID2" "$ID3" && connected_to 2 "$ID1" "$ID3" && connected_to 3 "$ID1" "$ID2"
}
poll 15 all_connected || fail "three nodes not all connected within 15 s"
# let the links carry frames (PING/PONG every NET_PING_MS, PEERS) for a while, so that
# the idle timer counts from the last frame received before the cut, not from the
# handshake: every row's last_seen >= 6 s after its last_connect, RTT measured
flowing() {
	local i
	for i in 1 2 3; do
		peers_json "$i" | jq -e 'length == 2 and all(.[]; .status == "connected" and
			(.rtt_us // 0) > 0 and .last_seen - .last_connect >= 6000)' >/dev/null || return 1
	done
}
poll 30 flowing || fail "links idle: $(peers_json 1 | jq -c 'map([.id[:8], .status, .rtt_us, .last_seen - .last_connect])')"
note "all connected, PINGs answered"

# ---- unplug host 3
"$NETLAB" cut 3 >/dev/null || fail "netlab cut 3"
t_cut=$(now_ms)
# st JSON ID: ID's status in a `peers --json` array ("absent" if not there)
st() { jq -r --arg id "$2" '(map(select(.id == $id)) | .[0].status) // "absent"' <<<"$1" 2>/dev/null; }
gone() { local s; s=$(st "$1" "$2"); [ -n "$s" ] && [ "$s" != connected ]; }
t13="" t23="" t31="" t32=""
end=$((t_cut + DOWN_BOUND * 1000))
while :; do
	now=$(now_ms)
	j1=$(peers_json 1); j2=$(peers_json 2); j3=$(peers_json 3)
	[ -n "$t13" ] || { gone "$j1" "$ID3" && t13=$((now - t_cut)); }
	[ -n "$t23" ] || { gone "$j2" "$ID3" && t23=$((now - t_cut)); }
	[ -n "$t31" ] || { gone "$j3" "$ID1" && t31=$((now - t_cut)); }
	[ -n "$t32" ] || { gone "$j3" "$ID2" && t32=$((now - t_cut)); }
	[ "$(st "$j1" "$ID2")" = connected ] && [ "$(st "$j2" "$ID1")" = connected ] ||
		fail "1 <-> 2 dropped $((now - t_cut)) ms after cut 3: 1: $(jq -c 'map([.id[:8], .status])' <<<"$j1")"
	[ -n "$t13" ] && [ -n "$t23" ] && [ -n "$t31" ] && [ -n "$t32" ] && break
	[ "$now" -lt "$end" ] ||
		fail "cut 3: not seen within $DOWN_BOUND s (ms: 1->3 '${t13}' 2->3 '${t23}' 3->1 '${t31}' 3->2 '${t32}')"
	sleep 0.2
done
note "cut 3 -> seen disconnected after (ms; polled every ~0.5 s): node 1 sees 3: $t13, node 2 sees 3: $t23, node 3 sees 1: $t31, 3 sees 2: $t32 (bound ${DOWN_BOUND} s)"
for i in 1 2; do
	assert_eq "$(peer_status "$i" "$ID3")" disconnected "node 3 in host $i's table"
done
# the daemon said why (read timeout of an established link), one line per link
for i in 1 2; do
	grep -q "peer ${ID3:0:8}: silent for $IDLE_S s: closed" "$(hdir "$i")/log" ||
		fail_later "host $i did not log 'peer ${ID3:0:8}: silent for $IDLE_S s: closed'"
done

# ---- plug it back
if [ "$HOLD_S" != 0 ]; then
	note "LAB_CUT_HOLD_S=$HOLD_S: host 3 stays unplugged $HOLD_S s more"
	sleep "$HOLD_S" # the length of the outage (a scenario parameter, not a wait for a state)
fi
t_h=$(now_ms)
"$NETLAB" heal 3 >/dev/null || fail "netlab heal 3"
t_heal=$(now_ms)
poll "$HEAL_BOUND" all_connected ||
	fail "heal 3: not all connected within $HEAL_BOUND s: 1: $(peers_json 1 | jq -c 'map([.id[:8], .status, .failures])'), 2: $(peers_json 2 | jq -c 'map([.id[:8], .status, .failures])'), 3: $(peers_json 3 | jq -c 'map([.id[:8], .status, .failures])')"
note "heal 3 -> all connected again after $(( $(now_ms) - t_heal )) ms (heal itself took $((t_heal - t_h)) ms; cut lasted $(( (t_h - t_cut) / 1000 )) s)"
for i in 1 2 3; do
	assert_eq "$(peers_json "$i" | jq length)" 2 "peers in host $i's table after heal"
done
finish

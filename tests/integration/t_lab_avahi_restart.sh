#!/usr/bin/env bash
# t_lab_avahi_restart: a node outlives a restart of its host's avahi-daemon (and D-Bus
# system bus), netlab hosts 1-3 (tests/netlab/README.md).
#   1. three nodes of one network connect through mDNS (no bootstrap flag);
#   2. `netlab avahi-down 1`: node 1 logs ONE clear warning, its service goes from the
#      LAN (host 2's avahi-browse), and it keeps both TCP peers (checked every 0.5 s
#      for 8 s: D-Bus retries run meanwhile), as do nodes 2 and 3;
#   3. `netlab avahi-up 1`: node 1 re-publishes: "avahi-daemon is back", "published"
#      again, its instance resolved again from host 2 at 10.77.0.1:3000; peers intact,
#      still one warning.
# Needs root (SKIP 77 otherwise). Lab lab<pid>a, torn down at exit whatever happens.
. "$(dirname "$0")/lib.sh" || exit 1
export NETLAB_PREFIX="lab$$a"
. "$(dirname "$0")/lab_lib.sh" || exit 1

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
poll 10 grep -q "mdns: published" "$(hdir 1)/log" || fail "node 1 never published"
NAME1=p2p-${ID1:0:16}
# browse2: host 2's avahi-daemon resolves node 1's instance (on 10.77.0.1:3000)
browse2() {
	"$NETLAB" exec 2 avahi-browse -rpt _p2pstore._tcp 2>/dev/null >"$T/browse2"
	grep -q "^=;eth0;IPv4;$NAME1;_p2pstore._tcp;local;.*;10\.77\.0\.1;3000;" "$T/browse2"
}
poll 10 browse2 || fail "host 2 does not resolve $NAME1"
note "all connected; host 2 resolves $NAME1"

# ---- avahi-daemon and dbus-daemon of host 1 go away
warn='warn: mdns: avahi-daemon unavailable'
"$NETLAB" avahi-down 1 >/dev/null || fail "netlab avahi-down 1"
t_down=$(now_ms)
poll 10 grep -q "$warn" "$(hdir 1)/log" || fail "node 1 logged no '$warn' within 10 s"
note "node 1: $(grep -m1 "$warn" "$(hdir 1)/log" | cut -d' ' -f3-)"
# its goodbye (avahi-daemon withdraws its records when stopped) reaches host 2
gone2() { ! browse2 && ! grep -q ";$NAME1;" "$T/browse2"; }
poll 10 gone2 || fail "host 2 still lists $NAME1 10 s after host 1's avahi stopped: $(cat "$T/browse2")"
# node 1 keeps its TCP links while it has no mDNS (and retries D-Bus meanwhile)
end=$((t_down + 8000))
while [ "$(now_ms)" -lt "$end" ]; do
	alive "${LAB_PID[1]}" || fail "node 1 died without avahi"
	all_connected || fail "a link dropped $(( $(now_ms) - t_down )) ms after host 1's avahi stopped: 1: $(peers_json 1 | jq -c 'map([.id[:8], .status])')"
	sleep 0.5
done
assert_eq "$(grep -c "$warn" "$(hdir 1)/log")" 1 "warning lines on node 1, 8 s without avahi"
note "8 s without avahi on host 1: all links up, one warning"

# ---- avahi comes back: node 1 publishes again
n_pub=$(grep -c "mdns: published '$NAME1'" "$(hdir 1)/log")
"$NETLAB" avahi-up 1 >/dev/null || fail "netlab avahi-up 1"
t_up=$(now_ms)
poll 15 browse2 || fail "host 2 does not resolve $NAME1 within 15 s of avahi-up 1: $(cat "$T/browse2")"
note "avahi-up 1 -> $NAME1 resolved from host 2 after $(( $(now_ms) - t_up )) ms (includes avahi-browse's own >= 1 s)"
poll 5 grep -q "mdns: avahi-daemon is back" "$(hdir 1)/log" || fail "node 1 did not log 'avahi-daemon is back'"
poll 5 eval '[ "$(grep -c "mdns: published '"'$NAME1'"'" "$(hdir 1)/log")" -gt '"$n_pub"' ]' ||
	fail "node 1 did not log a new 'published' line"
all_connected || fail "links after avahi-up 1"
assert_eq "$(grep -c "$warn" "$(hdir 1)/log")" 1 "warning lines on node 1 in all"
for i in 1 2 3; do
	assert_eq "$(grep -c ' disconnected' "$(hdir "$i")/log")" 0 "'disconnected' lines on host $i"
	assert_eq "$(peers_json "$i" | jq length)" 2 "peers in host $i's table"
done
finish

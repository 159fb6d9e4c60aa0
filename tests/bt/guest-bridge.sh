#!/bin/sh
# shellcheck disable=SC2317 # functions called through until_ok
# tests/bt/guest-bridge.sh: runs INSIDE the run-in-vm guest (busybox sh) with 4
# controllers, the real p2p binary and two network keys (net.key, other.key) in /work.
# Three daemons, one network key:
#   A  TCP only, 127.0.0.1:4001
#   B  TCP (127.0.0.1:4002, bootstrap A) + Bluetooth on hci0: the bridge
#   C  Bluetooth only (--no-tcp) on hci1, bootstrap bt:<hci0> (no channel: an SDP
#      search, which fails without bluetoothd, then the default channel 7)
# B-C is the only Bluetooth link of the daemons: hci2 -> hci3 carries rctest (BlueZ
# 5.66 btvirt drops data when a controller has links to two others).
# This script only reports; tests/integration/t_bt_bridge.sh checks the lines:
#   "id X <short id>"                 each node's ID (from its log)
#   "json peers B" ... "end json"     p2p peers --json on B (also for A, C, and B last)
#   "rawpeer| ..."                    B's PEERS as a raw TCP peer receives them
#   "sha src a.bin <hex>", "sha C a.bin <hex>", "sha src c.bin", "sha A c.bin"
#   "deleted: C lists a.bin: no", "deleted: C get rc=1: <message>"
#   "tcp dials by C: N", "bt dials by A: N"
#   "tput SIZE store SIZE bytes in S s = R KiB/s", "tput SIZE rctest N bytes in ...",
#   "sha C t<N>.bin ok"  (one round per size in TPUT_SIZES)
#   "wrongkey D: ...", "wrongkey B: ...", "json peers B last"
#   "unusable G|H|F|E: <its log lines about Bluetooth>", "down: E --no-tcp rc=N":
#                                     G names hci9, H hci2 (down), F runs with every
#                                     adapter down, E is Bluetooth-only with them down
#   "log X| ..."                      every daemon's log, at the end
KEY=/tmp/net.key
OTHER=/tmp/other.key
WAIT=${WAIT:-90}       # seconds any one condition may take (TCG is slow)
TPUT_SIZES=${TPUT_SIZES:-"262144 4194304 4194304 4194304"}
# shellcheck source=guest-lib.sh
. ./guest-lib.sh

cp net.key "$KEY" && cp other.key "$OTHER" && chmod 600 "$KEY" "$OTHER" || exit 1
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up

connected() { [ "$(cli "$1" peers --json | grep -c '"status": "connected"')" -ge "$2" ]; }
lists() { cli "$1" files list | grep "^$2 " >/dev/null; }
not_lists() { ! lists "$@"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
json() { echo "json $1"; cli "$2" peers --json; echo "end json"; }
now() { read -r t _ </proc/uptime; echo "$t"; }

echo "guest: controllers $BT_ADDRS"
serve A --listen 127.0.0.1:4001 --network-key "$KEY" || exit 1
serve B --listen 127.0.0.1:4002 --network-key "$KEY" --bootstrap 127.0.0.1:4001 \
	--bluetooth --bt-adapter hci0 || exit 1
serve C --no-tcp --network-key "$KEY" --bluetooth --bt-adapter hci1 \
	--bootstrap "bt:$BT_ADDR0" || exit 1
until_ok "$WAIT" connected B 2 || echo "B: not 2 peers connected"
until_ok "$WAIT" connected C 1 || echo "C: no peer connected"
until_ok "$WAIT" connected A 1 || echo "A: no peer connected"
json "peers B" B
# what B gossips, as a raw peer over TCP sees it (tests/net/rawpeer.c, when staged)
if command -v rawpeer >/dev/null; then
	rawpeer --key "$KEY" --hello --pong --wait 2500 127.0.0.1:4002 2>&1 | sed 's/^/rawpeer| /'
fi

# A (TCP) -> C (RFCOMM) through B
head -c 262144 /dev/urandom >/tmp/a.bin
echo "sha src a.bin $(sha /tmp/a.bin)"
cli A store a.bin /tmp/a.bin | sed 's/^/store A| /'
until_ok "$WAIT" lists C a.bin || echo "C: a.bin not listed"
cli C get a.bin --out /tmp/a.out 2>&1 | sed 's/^/get C| /'
echo "sha C a.bin $( [ -f /tmp/a.out ] && sha /tmp/a.out)"

# C (RFCOMM) -> A (TCP)
head -c 262144 /dev/urandom >/tmp/c.bin
echo "sha src c.bin $(sha /tmp/c.bin)"
cli C store c.bin /tmp/c.bin | sed 's/^/store C| /'
until_ok "$WAIT" lists A c.bin || echo "A: c.bin not listed"
cli A get c.bin --out /tmp/c.out 2>&1 | sed 's/^/get A| /'
echo "sha A c.bin $( [ -f /tmp/c.out ] && sha /tmp/c.out)"

# a delete on A reaches C
cli A delete a.bin | sed 's/^/delete A| /'
until_ok "$WAIT" not_lists C a.bin
if lists C a.bin; then echo "deleted: C lists a.bin: yes"; else echo "deleted: C lists a.bin: no"; fi
msg=$(cli C get a.bin --out /tmp/a.again 2>&1)
echo "deleted: C get rc=$?: $msg"

# nobody dialled over a transport it does not use (C heard of A's TCP address from B;
# A of C's bt: address)
json "peers A" A
json "peers C" C
echo "tcp dials by C: $(grep -c '127\.0\.0\.1' /tmp/C/log)"
echo "bt dials by A: $(grep -c 'bt:' /tmp/A/log)"

# throughput B -> C over RFCOMM: with A stopped, a store on B returns once C has
# acknowledged every chunk (min copies 2 = B + C), so its time is the push over the link
stop A
until_ok "$WAIT" connected B 1
k=0
for bytes in $TPUT_SIZES; do
	k=$((k + 1))
	head -c "$bytes" /dev/urandom >/tmp/t$k.bin
	t0=$(now)
	out=$(cli B store "t$k.bin" /tmp/t$k.bin)
	rc=$?
	t1=$(now)
	echo "$out" | sed 's/^/store B| /'
	[ $rc = 0 ] && awk -v b="$bytes" -v t0="$t0" -v t1="$t1" 'BEGIN {
		s = t1 - t0; if (s < 0.01) s = 0.01
		printf "tput %d store %d bytes in %.2f s = %.1f KiB/s\n", b, b, s, b / 1024 / s }'
	if cli C get "t$k.bin" --out "/tmp/t$k.out" >/dev/null 2>&1 &&
	    [ "$(sha /tmp/t$k.out)" = "$(sha /tmp/t$k.bin)" ]; then
		echo "sha C t$k.bin ok"
	else
		echo "sha C t$k.bin differs"
	fi
	rctest_run "tput $bytes" $((20 + k)) "$bytes"
done

# a node with another network key, over RFCOMM, is refused (hci1 is free once C stops)
json "peers B before D" B
stop C
serve D --no-tcp --network-key "$OTHER" --bluetooth --bt-adapter hci1 \
	--bootstrap "bt:$BT_ADDR0/7" || exit 1
until_ok "$WAIT" grep -q 'in another network' /tmp/D/log
until_ok 10 grep -q 'wrong network key' /tmp/B/log
grep 'another network\|wrong network key' /tmp/D/log | sed 's/^/wrongkey D: /'
grep 'wrong network key' /tmp/B/log | sed 's/^/wrongkey B: /'
json "peers B last" B
stop D
stop B

# Bluetooth that cannot be used: one warning and TCP; Bluetooth-only, exit 1
serve G --listen 127.0.0.1:4006 --network-key "$KEY" --bluetooth --bt-adapter hci9 || exit 1
stop G
hciconfig hci2 down
serve H --listen 127.0.0.1:4007 --network-key "$KEY" --bluetooth --bt-adapter hci2 || exit 1
stop H
i=0
while [ $i -lt "$BT_NCTRL" ]; do hciconfig "hci$i" down; i=$((i + 1)); done
serve F --listen 127.0.0.1:4005 --network-key "$KEY" --bluetooth || exit 1
stop F
mkdir -p /tmp/E
timeout 60 p2p serve --db /tmp/E/p2p.db --no-mdns --network-key "$KEY" --bluetooth --no-tcp \
	>/tmp/E/log 2>&1
echo "down: E --no-tcp rc=$?"
for n in G H F E; do grep -i 'bluetooth' "/tmp/$n/log" | sed "s/^/unusable $n: /"; done
for n in A B C D; do sed "s/^/log $n| /" "/tmp/$n/log"; done
exit 0

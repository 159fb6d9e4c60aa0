#!/bin/sh
# tests/bt/guest-rfcomm.sh: runs INSIDE the run-in-vm guest (busybox sh), with
# rfcomm_pair next to it and 4 controllers: hci0 -> hci1 carries our links (one at a
# time), hci2 -> hci3 carries rctest (BlueZ 5.66 btvirt drops data when one
# controller has links to two others, so each link gets its own pair).
#
# Cases, each on its own RFCOMM channel, every output line prefixed with the case:
#   a  same network key on both sides: both must authenticate and print each other's ID
#   b  different network keys: both sides must refuse (exit 2)
#   d  rfcomm_available() and listen() against real adapters: a free channel picked
#      for /0, no such adapter, an address no adapter has, a channel in use, and
#      (last) every adapter down; with UNREACHABLE=1 also a device that does not exist
#   cN 256 KiB through the TLS link (the client measures), then the same amount with
#      rctest; ROUNDS rounds (default 3, N = 1..ROUNDS), as TCG timings vary a lot
# The host side (tests/integration/t_bt_rfcomm.sh) checks the lines; this script only
# reports. Lines: "<case> server: ...", "<case> client: ...",
# "<case> exit server=<rc> client=<rc>", "cN rctest ...".
BYTES=${BYTES:-262144}
ROUNDS=${ROUNDS:-3}
KEY1=${KEY1:-1111111111111111111111111111111111111111111111111111111111111111}
KEY2=${KEY2:-2222222222222222222222222222222222222222222222222222222222222222}

# pair CASE CHANNEL SERVER_KEY CLIENT_KEY [BYTES]
pair() {
	c=$1 ch=$2
	rfcomm_pair server "bt:hci1/$ch" "$3" ${5:+"$5"} >"/tmp/$c.srv" 2>&1 &
	spid=$!
	i=0
	while ! grep -qs 'listening on' "/tmp/$c.srv"; do
		i=$((i + 1))
		if [ $i -gt 200 ] || ! kill -0 $spid 2>/dev/null; then break; fi
		sleep 0.05
	done
	rfcomm_pair client "bt:$BT_ADDR1/$ch" bt:hci0 "$4" ${5:+"$5"} >"/tmp/$c.cli" 2>&1
	crc=$?
	wait $spid
	src=$?
	sed "s/^/$c /" "/tmp/$c.srv" "/tmp/$c.cli"
	echo "$c exit server=$src client=$crc"
}

# rctest_run CASE CHANNEL BYTES (hci2 -> hci3): tests/bt/guest-lib.sh
# shellcheck source=guest-lib.sh
. ./guest-lib.sh

echo "guest: controllers $BT_ADDRS"
pair a 7 "$KEY1" "$KEY1"
pair b 8 "$KEY1" "$KEY2"

# d: what the transport says about the host and about bad listen addresses
d() { echo "d $*"; }
d "$(rfcomm_pair avail)"
d "$(rfcomm_pair listen bt:hci1/0)"
d "$(rfcomm_pair listen bt:hci9/7)"
d "$(rfcomm_pair listen bt:12:34:56:78:9A:BC/7)"
rfcomm_pair server bt:hci1/13 "$KEY1" >/tmp/d.srv 2>&1 &
dpid=$!
i=0
while ! grep -qs 'listening on' /tmp/d.srv && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
d "$(rfcomm_pair listen "bt:$BT_ADDR1/13")"
kill $dpid
wait $dpid 2>/dev/null
# Dialling a device that does not exist fails cleanly ("Host is down", 0.2 s under
# btvirt), but right after another link from the same controller the Debian 6.1.192
# guest kernel then panicked in krfcommd (list_del corruption in hci_chan_del) in 1 of
# 2 tries; see tests/bt/README.md. So only on request: UNREACHABLE=1.
if [ "${UNREACHABLE:-0}" = 1 ]; then
	d "$(timeout 60 rfcomm_pair client bt:12:34:56:78:9A:BC/7 bt:hci0 "$KEY1" | grep -v ': self ')"
fi

r=1
while [ $r -le "$ROUNDS" ]; do
	pair "c$r" $((8 + r)) "$KEY1" "$KEY1" "$BYTES"
	rctest_run "c$r" $((20 + r)) "$BYTES"
	r=$((r + 1))
done

# last, as it ends every link: every adapter down
i=0
while [ $i -lt "$BT_NCTRL" ]; do hciconfig "hci$i" down; i=$((i + 1)); done
d "$(rfcomm_pair avail)"
d "$(rfcomm_pair listen bt:hci1/7)"
exit 0

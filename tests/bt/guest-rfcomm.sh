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

# rctest CASE CHANNEL: BYTES in 4 KiB writes (8 KiB and up risk the send-buffer stall
# that p2p/rfcomm.c works around and rctest cannot), hci2 -> hci3. The receiver prints
# "<n> bytes in ..." each time it has read at least 16 KiB (n may be more, and a short
# tail is never printed): sum n, and time from "Receiving" (after the accept) to the
# last such line, read from /proc/uptime (10 ms steps) with builtins only: no fork per
# line, so the loop keeps up with rctest.
rctest_run() {
	c=$1 ch=$2
	rm -f /tmp/rct.fifo /tmp/rct.res
	mkfifo /tmp/rct.fifo
	rctest -r -i hci3 -P "$ch" -b 16384 >/tmp/rct.fifo 2>&1 &
	rpid=$!
	(
		sum=0 t0='' t1=''
		while IFS= read -r line; do
			case $line in
			*Receiving*) read -r t0 _ </proc/uptime ;;
			*" bytes in "*)
				n=${line#*: }
				sum=$((sum + ${n%% *}))
				read -r t1 _ </proc/uptime
				;;
			*Disconnect* | *failed*) break ;;
			esac
		done
		echo "$sum $t0 $t1" >/tmp/rct.res
	) </tmp/rct.fifo &
	mpid=$!
	sleep 0.3
	rctest -s -L 10 -i hci2 -P "$ch" -b 4096 -N $((BYTES / 4096)) "$BT_ADDR3" \
		>/tmp/rct.snd 2>&1
	echo "$c rctest sender exit $?"
	i=0
	while [ ! -s /tmp/rct.res ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	kill $rpid 2>/dev/null
	wait $rpid $mpid 2>/dev/null
	sum=0 t0='' t1=''
	read -r sum t0 t1 </tmp/rct.res 2>/dev/null
	if [ "${sum:-0}" -gt $((BYTES * 3 / 4)) ] && [ -n "$t0" ] && [ -n "$t1" ]; then
		awk -v c="$c" -v b="$sum" -v t0="$t0" -v t1="$t1" 'BEGIN {
			s = t1 - t0; if (s < 0.01) s = 0.01
			printf "%s rctest %d bytes in %.2f s = %.1f KiB/s\n", c, b, s, b / 1024 / s }'
	else
		echo "$c rctest failed: the receiver reported ${sum:-0} of $BYTES bytes"
		sed "s/^/$c rctest| /" /tmp/rct.snd
	fi
}

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
	rctest_run "c$r" $((20 + r))
	r=$((r + 1))
done

# last, as it ends every link: every adapter down
i=0
while [ $i -lt "$BT_NCTRL" ]; do hciconfig "hci$i" down; i=$((i + 1)); done
d "$(rfcomm_pair avail)"
d "$(rfcomm_pair listen bt:hci1/7)"
exit 0

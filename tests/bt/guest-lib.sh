#!/bin/sh
# tests/bt/guest-lib.sh: shell functions shared by the guest scripts (guest-rfcomm.sh,
# guest-bridge.sh, guest-sdp.sh); sourced inside the run-in-vm guest (busybox sh),
# which sets BT_ADDR0..BT_ADDR<N-1>. The daemon helpers need p2p in /work (PATH) and
# WAIT (seconds one condition may take).

# rctest_run CASE CHANNEL BYTES: that many bytes in 4 KiB writes (8 KiB and up risk
# the send-buffer stall that p2p/rfcomm.c works around and rctest cannot), hci2 ->
# hci3. Prints "CASE rctest N bytes in S s = R KiB/s". The receiver prints
# "<n> bytes in ..." each time it has read at least 16 KiB (n may be more, and a short
# tail is never printed): sum n, and time from "Receiving" (after the accept) to the
# last such line, read from /proc/uptime (10 ms steps) with builtins only: no fork per
# line, so the loop keeps up with rctest.
rctest_run() {
	c=$1 ch=$2 bytes=$3
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
	rctest -s -L 10 -i hci2 -P "$ch" -b 4096 -N $((bytes / 4096)) "$BT_ADDR3" \
		>/tmp/rct.snd 2>&1
	echo "$c rctest sender exit $?"
	i=0
	while [ ! -s /tmp/rct.res ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	kill $rpid 2>/dev/null
	wait $rpid $mpid 2>/dev/null
	sum=0 t0='' t1=''
	read -r sum t0 t1 </tmp/rct.res 2>/dev/null
	if [ "${sum:-0}" -gt $((bytes * 3 / 4)) ] && [ -n "$t0" ] && [ -n "$t1" ]; then
		awk -v c="$c" -v b="$sum" -v t0="$t0" -v t1="$t1" 'BEGIN {
			s = t1 - t0; if (s < 0.01) s = 0.01
			printf "%s rctest %d bytes in %.2f s = %.1f KiB/s\n", c, b, s, b / 1024 / s }'
	else
		echo "$c rctest failed: the receiver reported ${sum:-0} of $bytes bytes"
		sed "s/^/$c rctest| /" /tmp/rct.snd
	fi
}

# serve NODE ARGS...: a daemon with its data in /tmp/NODE, log /tmp/NODE/log (debug);
# prints "id NODE <short node ID>" once it answers
serve() {
	n=$1
	shift
	mkdir -p "/tmp/$n"
	p2p serve --db "/tmp/$n/p2p.db" --no-mdns --log-level debug "$@" >"/tmp/$n/log" 2>&1 &
	eval "PID_$n=$!"
	i=0
	until p2p --db "/tmp/$n/p2p.db" status >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt $((WAIT * 5)) ]; then echo "start $n: no answer"; return 1; fi
		sleep 0.2
	done
	echo "id $n $(sed -n 's/.*created node identity \([0-9a-f]*\).*/\1/p' "/tmp/$n/log")"
}
stop() {
	eval "kill \$PID_$1; wait \$PID_$1"
	echo "stopped $1: $?"
}
cli() { n=$1; shift; p2p --db "/tmp/$n/p2p.db" "$@"; }
# until SECS CMD...: retry CMD every 0.5 s for up to SECS seconds
until_ok() {
	t=$(($1 * 2))
	shift
	while ! "$@" >/dev/null 2>&1; do
		t=$((t - 1))
		[ $t -gt 0 ] || return 1
		sleep 0.5
	done
}

# bluez_start: a D-Bus system bus and bluetoothd --compat (its SDP server and the
# local SDP socket our records go through), from dbus-daemon and bluetoothd copied
# into /work. bluetoothd turns page and inquiry scan off on the adapters it takes
# over: turned on again here. 1 if either program is missing or SDP does not come up.
bluez_start() {
	command -v dbus-daemon >/dev/null && command -v bluetoothd >/dev/null || return 1
	mkdir -p /etc /run/dbus /var/lib/bluetooth /var/log
	[ -e /var/run ] || ln -s /run /var/run # the SDP socket is /var/run/sdp
	echo 'root:x:0:0:root:/tmp:/bin/sh' >/etc/passwd
	echo 'root:x:0:' >/etc/group
	cat >/tmp/dbus.conf <<-EOF
		<busconfig>
		  <type>system</type>
		  <listen>unix:path=/run/dbus/system_bus_socket</listen>
		  <auth>EXTERNAL</auth>
		  <policy context="default">
		    <allow user="*"/>
		    <allow own="*"/>
		    <allow send_destination="*"/>
		    <allow receive_sender="*"/>
		  </policy>
		</busconfig>
	EOF
	dbus-daemon --config-file=/tmp/dbus.conf --fork >/dev/null || return 1
	bluetoothd --compat --nodetach >/tmp/bluetoothd.log 2>&1 &
	i=0
	while [ ! -S /run/sdp ]; do
		i=$((i + 1))
		[ $i -le 100 ] || return 1
		sleep 0.1
	done
	sleep 1 # it powers the adapters through mgmt, then sets their scan modes
	i=0
	while [ $i -lt "$BT_NCTRL" ]; do hciconfig "hci$i" piscan; i=$((i + 1)); done
}

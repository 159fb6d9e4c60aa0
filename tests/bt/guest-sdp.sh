#!/bin/sh
# shellcheck disable=SC2317 # functions called through until_ok
# tests/bt/guest-sdp.sh: runs INSIDE the run-in-vm guest (busybox sh) with 4
# controllers, the real p2p binary, dbus-daemon, bluetoothd and two network keys
# (net.key, other.key) in /work. With bluetoothd --compat running (bluez_start):
#   1. X (key 1, hci0, channel 12) and Y (key 1, hci1, --bootstrap bt:<hci0> without a
#      channel): SDP gives 12
#   2. only hci2 answers inquiries: Z (key 2, another network, hci2, channel 15) and W
#      (key 1, hci3, --bt-scan): the scan finds our service of another network there
#      and dials nothing
#   3. only hci0 answers inquiries: X2 (key 1, hci0, channel 12) and W2 (key 1, hci3,
#      --bt-scan): the scan finds X2 and connects to channel 12
# Each phase has its own adapters and fresh nodes: BlueZ 5.66 btvirt drops data when
# a controller holds links to two others (an SDP search and a link at once are two).
# Only reports; tests/integration/t_bt_sdp.sh checks. Lines: "sdp: no bluetoothd"
# (the host then skips), "id N <short id>", "json peers N" ... "end json",
# "log N| ..." (every daemon's log at the end).
KEY=/tmp/net.key
OTHER=/tmp/other.key
WAIT=${WAIT:-60}
# shellcheck source=guest-lib.sh
. ./guest-lib.sh

cp net.key "$KEY" && cp other.key "$OTHER" && chmod 600 "$KEY" "$OTHER" || exit 1
if ! bluez_start; then
	echo "sdp: no bluetoothd"
	cat /tmp/bluetoothd.log 2>/dev/null
	exit 0
fi
connected() { [ "$(cli "$1" peers --json | grep -c '"status": "connected"')" -ge "$2" ]; }
json() { echo "json $1"; cli "$2" peers --json; echo "end json"; }

echo "guest: controllers $BT_ADDRS"
# 1. bootstrap without a channel
serve X --no-tcp --network-key "$KEY" --bluetooth --bt-adapter hci0 --bt-channel 12 || exit 1
serve Y --no-tcp --network-key "$KEY" --bluetooth --bt-adapter hci1 \
	--bootstrap "bt:$BT_ADDR0" || exit 1
until_ok "$WAIT" connected Y 1 || echo "Y: no peer connected"
json "peers Y" Y
stop Y
stop X
for h in hci0 hci1; do hciconfig $h noscan; done

# 2. the scan hears a node of another network only
serve Z --no-tcp --network-key "$OTHER" --bluetooth --bt-adapter hci2 --bt-channel 15 || exit 1
serve W --no-tcp --network-key "$KEY" --bluetooth --bt-adapter hci3 --bt-scan || exit 1
until_ok "$WAIT" grep -q 'bluetooth scan: .* heard' /tmp/W/log || echo "W: no scan result"
sleep 2 # a dial would start now
json "peers W" W
stop W
stop Z
hciconfig hci2 noscan
sleep 3 # the ACL links of phase 2 time out

# 3. the scan hears a node of this network only
hciconfig hci0 piscan
serve X2 --no-tcp --network-key "$KEY" --bluetooth --bt-adapter hci0 --bt-channel 12 || exit 1
serve W2 --no-tcp --network-key "$KEY" --bluetooth --bt-adapter hci3 --bt-scan || exit 1
until_ok "$WAIT" connected W2 1 || echo "W2: no peer connected"
json "peers W2" W2
stop W2
stop X2
for n in X Y Z W X2 W2; do sed "s/^/log $n| /" "/tmp/$n/log"; done
exit 0

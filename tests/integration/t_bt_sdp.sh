#!/usr/bin/env bash
# SDP and the inquiry scan (p2p/btsdp.c), with the real daemon and a real bluetoothd
# (--compat) in a QEMU guest (tests/bt/run-in-vm, 4 controllers; tests/bt/guest-sdp.sh):
#   - nodes register their SDP record (service UUID, RFCOMM channel, network id)
#   - a bootstrap bt:ADDR without a channel finds the channel (12, not the default 7)
#     by SDP and connects there
#   - --bt-scan: a node of another network found by inquiry + SDP is not dialled; one
#     of this network is, on the channel its record gives
# Skips (77) when the VM cannot run, when p2p is built without libbluetooth, or when
# bluetoothd or dbus-daemon cannot be found or run in the guest. Never asserts on time.
# shellcheck disable=SC2015 # the usual preamble of tests/integration
cd "$(dirname "$0")" && . ./lib.sh || { echo "FAIL: cannot load lib.sh"; exit 1; }

ROOT=$(cd ../.. && pwd)
ldd "$P2P_BIN" 2>/dev/null | grep libbluetooth >/dev/null ||
	skip "$P2P_BIN is built without libbluetooth (no SDP): apt-get install libbluetooth-dev"
BTD=
for p in /usr/libexec/bluetooth/bluetoothd /usr/lib/bluetooth/bluetoothd; do
	[ -x "$p" ] && BTD=$p && break
done
[ -n "$BTD" ] || skip "no bluetoothd on this host (apt-get install bluez)"
DBUS=$(command -v dbus-daemon) || skip "no dbus-daemon on this host (apt-get install dbus)"

G=$T/guest
mkdir -p "$G"
cp "$P2P_BIN" "$G/p2p" && cp "$BTD" "$DBUS" "$ROOT/tests/bt/guest-sdp.sh" \
	"$ROOT/tests/bt/guest-lib.sh" "$G/" || fail "cannot stage the guest files"
for k in net other; do
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$G/$k.key"
	echo >>"$G/$k.key"
	chmod 600 "$G/$k.key"
done

"$ROOT/tests/bt/run-in-vm" -n 4 -m 768 -t "${P2P_BTVM_TIMEOUT:-600}" -d "$G" -- ./guest-sdp.sh \
	>"$T/out" 2>"$T/err"
rc=$?
note "$(grep -m1 'guest, controllers up' "$T/err")"
[ "$rc" = 77 ] && skip "$(grep -m1 '^SKIP' "$T/err" | sed 's/^SKIP: *//')"
if [ "$rc" != 0 ]; then
	sed 's/^/  out| /' "$T/out" | tail -n 200 >&2
	sed 's/^/  err| /' "$T/err" >&2
	fail "run-in-vm exited $rc"
fi
grep -q '^sdp: no bluetoothd' "$T/out" &&
	skip "bluetoothd does not run in the guest: $(grep -v '^sdp:' "$T/out" | head -n 3 | paste -sd' ')"
show() { sed 's/^/  | /' "$T/out" | tail -n 150 >&2; }
val() { sed -n "s/^$1 //p" "$T/out" | head -n1; }
json() { awk -v n="json $1" '$0 == n { on = 1; next } on && $0 == "end json" { exit } on' "$T/out"; }

X=$(val 'id X') Y=$(val 'id Y') Z=$(val 'id Z') W=$(val 'id W') X2=$(val 'id X2') W2=$(val 'id W2')
[ -n "$X" ] && [ -n "$Y" ] && [ -n "$Z" ] && [ -n "$W" ] && [ -n "$X2" ] && [ -n "$W2" ] ||
	{ show; fail "a daemon did not start"; }
for n in X Y Z W X2 W2; do
	grep -q "^log $n| .*bluetooth: SDP record registered (service [0-9a-f-]*, channel" "$T/out" ||
		{ show; fail "$n did not register its SDP record"; }
done
A0=$(sed -n 's/^guest: controllers \([0-9A-F:]*\) .*/\1/p' "$T/out")
A2=$(sed -n 's/^guest: controllers [0-9A-F:]* [0-9A-F:]* \([0-9A-F:]*\).*/\1/p' "$T/out")

# ---- 1. bootstrap without a channel: SDP gives 12 -------------------------------------------
grep -q "^log Y| .*bootstrap bt:$A0: SDP gives channel 12$" "$T/out" ||
	{ show; fail "Y: the SDP search did not give X's channel 12"; }
assert_eq "$(json "peers Y" | jq -r '.[] | select(.status == "connected") | "\(.id[0:8]) \(.addr)"')" \
	"$X bt:$A0/12" "Y's connected peer"

# ---- 2. --bt-scan: a node of another network is found, not dialled ---------------------------
grep -q '^log W| .*bluetooth scan: 1 device(s) heard, 0 offer this network, 1 another one$' "$T/out" ||
	{ show; fail "W: the scan did not find Z's record of another network: $(grep '^log W| .*scan' "$T/out")"; }
assert_eq "$(json "peers W" | jq length)" 0 "W's peers (Z is of another network)"
grep -q "^log W| .*bt:$A2" "$T/out" && fail_later "W dialled Z (another network): $(grep "^log W| .*bt:$A2" "$T/out" | head -n 2)"

# ---- 3. --bt-scan: a node of this network is found and connected ------------------------------
grep -q "^log W2| .*bluetooth scan: a node of this network at bt:$A0/12$" "$T/out" ||
	{ show; fail "W2: the scan did not find X2 at channel 12"; }
assert_eq "$(json "peers W2" | jq -r '[.[] | select(.status == "connected") | "\(.id[0:8]) \(.addr)"] | join(",")')" \
	"$X2 bt:$A0/12" "W2's connected peers"
finish

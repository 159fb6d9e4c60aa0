#!/usr/bin/env bash
# Bluetooth bridge nodes, with the real daemon in a QEMU guest (tests/bt/run-in-vm,
# 4 virtual controllers; tests/bt/guest-bridge.sh drives it, this script checks):
#   A TCP only; B TCP + Bluetooth (hci0); C Bluetooth only (--no-tcp, hci1, bootstrap
#   bt:<hci0> without a channel); one network key.
#   - B's `p2p peers --json`: A over tcp and C over rfcomm, both connected; B's PEERS
#     (read by tests/net/rawpeer.c over TCP in the guest) carry A as tcp, C as rfcomm
#   - 256 KiB stored on A is fetched byte-equal on C, and stored on C, on A
#   - a delete on A reaches C (not listed, get fails with not found)
#   - C never touches TCP, A never a bt: address (their whole logs)
#   - stores on B while A is down return once C has the chunks over RFCOMM: their
#     rate is printed beside rctest's over hci2 -> hci3 (not asserted); C holds the
#     same bytes
#   - a node with another network key dialling B over RFCOMM is refused on both sides
#     and never becomes B's peer
#   - --bluetooth with a missing adapter, an adapter down, every adapter down: one
#     warning each and the node runs on TCP; --no-tcp with every adapter down: exit 1
# Skips (77) when the VM cannot run here. Never asserts on time.
# shellcheck disable=SC2015 # the usual preamble of tests/integration
cd "$(dirname "$0")" && . ./lib.sh || { echo "FAIL: cannot load lib.sh"; exit 1; }

ROOT=$(cd ../.. && pwd)
ldd "$P2P_BIN" 2>/dev/null | grep libbluetooth >/dev/null ||
	note "$P2P_BIN is built without libbluetooth: no SDP (fixed channels still work)"

G=$T/guest
mkdir -p "$G"
cp "$P2P_BIN" "$G/p2p" && cp "$ROOT/tests/bt/guest-bridge.sh" "$ROOT/tests/bt/guest-lib.sh" "$G/" ||
	fail "cannot stage the guest files"
# a raw peer (tests/net/rawpeer.c) reads B's PEERS in the guest
if command -v cc >/dev/null; then
	build_rawpeer "$G/rawpeer"
fi
for k in net other; do
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$G/$k.key"
	echo >>"$G/$k.key"
	chmod 600 "$G/$k.key"
done

"$ROOT/tests/bt/run-in-vm" -n 4 -m 768 -t "${P2P_BTVM_TIMEOUT:-600}" -d "$G" -- ./guest-bridge.sh \
	>"$T/out" 2>"$T/err"
rc=$?
note "$(grep -m1 'guest, controllers up' "$T/err")"
[ "$rc" = 77 ] && skip "$(grep -m1 '^SKIP' "$T/err" | sed 's/^SKIP: *//')"
show() { grep -v '^log [A-D]| ' "$T/out" | sed 's/^/  | /' >&2; }
showlogs() { grep '^log [A-D]| ' "$T/out" | tail -n 200 | sed 's/^/  | /' >&2; }
if [ "$rc" != 0 ]; then
	sed 's/^/  out| /' "$T/out" | tail -n 300 >&2
	sed 's/^/  err| /' "$T/err" >&2
	fail "run-in-vm exited $rc"
fi

has() { grep -qxF -- "$1" "$T/out"; }
val() { sed -n "s/^$1 //p" "$T/out" | head -n1; }
# json NAME: the block the guest printed between "json NAME" and "end json"
json() { awk -v n="json $1" '$0 == n { on = 1; next } on && $0 == "end json" { exit } on' "$T/out"; }

A=$(val 'id A') B=$(val 'id B') C=$(val 'id C') D=$(val 'id D')
[ -n "$A" ] && [ -n "$B" ] && [ -n "$C" ] || { show; showlogs; fail "a daemon did not start"; }

# ---- B bridges: one TCP peer (A), one RFCOMM peer (C) ----------------------------------------
PB=$(json "peers B")
jq -e . >/dev/null <<<"$PB" || { show; fail "p2p peers --json on B: not JSON"; }
assert_eq "$(jq -r '[.[] | select(.status == "connected")] | map(.transport) | sort | join(",")' <<<"$PB")" \
	"rfcomm,tcp" "transports of B's connected peers"
assert_eq "$(jq -r '.[] | select(.transport == "tcp") | .id[0:8]' <<<"$PB")" "$A" "B's tcp peer"
assert_eq "$(jq -r '.[] | select(.transport == "rfcomm") | .id[0:8]' <<<"$PB")" "$C" "B's rfcomm peer"
jq -e '.[] | select(.transport == "rfcomm") | .addr | test("^bt:[0-9A-F:]{17}/[0-9]+$")' \
	<<<"$PB" >/dev/null || fail_later "B stores C under a bt: address: $PB"
# B's gossip names C over rfcomm and A over tcp
if [ -x "$G/rawpeer" ]; then
	grep -q "^rawpeer|   peer $C bt:[0-9A-F:]\{17\}/7 rfcomm$" "$T/out" ||
		fail_later "B's PEERS does not carry C as an rfcomm entry: $(grep '^rawpeer|' "$T/out")"
	grep -q "^rawpeer|   peer $A 127.0.0.1:4001 tcp$" "$T/out" ||
		fail_later "B's PEERS does not carry A as a tcp entry: $(grep '^rawpeer|' "$T/out")"
fi
jq -e 'all(.[]; .transport == "rfcomm")' <<<"$(json "peers C")" >/dev/null ||
	fail_later "C (--no-tcp) has a peer that is not rfcomm: $(json "peers C")"
jq -e 'all(.[]; .transport == "tcp")' <<<"$(json "peers A")" >/dev/null ||
	fail_later "A (TCP only) has a peer that is not tcp: $(json "peers A")"

# ---- files cross the bridge both ways -------------------------------------------------------
src=$(val 'sha src a.bin') got=$(val 'sha C a.bin')
[ -n "$src" ] && [ "$got" = "$src" ] || { show; showlogs; fail "a.bin stored on A, got on C: ${got:-nothing} (want $src)"; }
src=$(val 'sha src c.bin') got=$(val 'sha A c.bin')
[ -n "$src" ] && [ "$got" = "$src" ] || { show; showlogs; fail "c.bin stored on C, got on A: ${got:-nothing} (want $src)"; }
has "deleted: C lists a.bin: no" || { show; fail "a delete on A did not reach C"; }
grep -q '^deleted: C get rc=1: .*not found' "$T/out" ||
	{ show; fail "get of the deleted key on C: $(grep '^deleted: C get' "$T/out")"; }

# ---- transports a node does not use stay untouched ------------------------------------------
n=$(grep -c '^log C| .*127\.0\.0\.1' "$T/out")
[ "$n" = 0 ] || fail_later "C (--no-tcp) touched a TCP address $n times: $(grep '^log C| .*127\.0\.0\.1' "$T/out" | head -n 3)"
n=$(grep -c '^log A| .*bt:' "$T/out")
[ "$n" = 0 ] || fail_later "A (TCP only) touched a bt: address $n times: $(grep '^log A| .*bt:' "$T/out" | head -n 3)"
grep -q '^log C| .*peer [0-9a-f]* connected (to bt:[0-9A-F:]*/7' "$T/out" ||
	fail_later "C did not reach B on channel 7 after the SDP search"

# ---- throughput B -> C over RFCOMM (printed) and the bytes C got (asserted) -------------------
tputs=$(grep -c '^tput [0-9]* store ' "$T/out")
[ "$tputs" -ge 1 ] || { show; fail "no store on B completed while A was down"; }
while read -r line; do
	[ "${line##* }" = ok ] || fail_later "$line"
done < <(grep '^sha C t[0-9]*\.bin ' "$T/out")
[ "$(grep -c '^sha C t[0-9]*\.bin ok$' "$T/out")" = "$tputs" ] ||
	fail_later "C does not hold every file stored on B byte-equal"
# median of the numbers on stdin
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
while read -r size; do
	st=$(sed -n "s/^tput $size store .* = \([0-9.]*\) KiB\/s$/\1/p" "$T/out")
	rt=$(sed -n "s/^tput $size rctest .* = \([0-9.]*\) KiB\/s$/\1/p" "$T/out")
	s=$(median <<<"$st") r=$(median <<<"$rt")
	note "$size bytes B -> C, KiB/s per round: p2p store over RFCOMM $(paste -sd' ' <<<"$st")" \
		"| rctest (hci2 -> hci3) $(paste -sd' ' <<<"$rt")"
	note "  median: store ${s:-?}, rctest ${r:-failed}$( [ -n "$s" ] && [ -n "$r" ] &&
		awk -v a="$s" -v b="$r" 'BEGIN { if (b > 0) printf ", ratio %.2f", a / b }')"
done < <(sed -n 's/^tput \([0-9]*\) store .*/\1/p' "$T/out" | sort -un)
grep '^tput [0-9]* rctest failed' "$T/out" | sed 's/^/# /'

# ---- another network over RFCOMM: refused, never a peer ---------------------------------------
[ -n "$D" ] || { show; fail "the wrong-key node D did not start"; }
grep -q "^wrongkey D: .*node at bt:[0-9A-F:]*/7 is in another network (wrong network key)" "$T/out" ||
	{ show; showlogs; fail "D (another key) did not report B as another network"; }
grep -q "^wrongkey B: .*peer $D .*wrong network key" "$T/out" ||
	{ show; showlogs; fail "B did not refuse D for its network key"; }
jq -e --arg d "$D" 'all(.[]; .id[0:8] != $d)' <<<"$(json "peers B last")" >/dev/null ||
	fail_later "B lists the wrong-key node D as a peer"

# ---- Bluetooth that cannot be used: one warning, TCP; Bluetooth-only: exit 1 --------------------
unusable() { # NODE REGEX: its only log line about Bluetooth matches
	local lines
	lines=$(sed -n "s/^unusable $1: //p" "$T/out")
	[ "$(grep -c . <<<"$lines")" = 1 ] && grep -q -- "$2" <<<"$lines" ||
		fail_later "node $1: want one line matching '$2', got: ${lines:-nothing}"
}
[ -n "$(val 'id G')" ] && [ -n "$(val 'id H')" ] && [ -n "$(val 'id F')" ] ||
	{ show; fail "a node with unusable Bluetooth did not run on TCP"; }
unusable G 'warn: bluetooth: Bluetooth adapter hci9: no such adapter: running on TCP only$'
unusable H 'warn: bluetooth: Bluetooth adapter hci2 ([0-9A-F:]*) is down (see rfkill list; bluetoothctl power on): running on TCP only$'
unusable F 'warn: bluetooth: all 4 Bluetooth adapters (hci0..hci3) are down (see rfkill list; bluetoothctl power on): running on TCP only$'
unusable E 'error: bluetooth: all 4 Bluetooth adapters (hci0..hci3) are down .*; with --no-tcp this node would have nothing to listen on$'
has "down: E --no-tcp rc=1" || fail_later "a Bluetooth-only node with every adapter down: $(grep '^down: ' "$T/out")"
finish

#!/usr/bin/env bash
# The RFCOMM transport (p2p/rfcomm.c) over a real kernel Bluetooth stack: a QEMU guest
# with virtual controllers (tests/bt/run-in-vm, tests/bt/README.md) runs
# tests/bt/guest-rfcomm.sh with tests/bt/rfcomm_pair:
#   a  same network key: TLS 1.3 + AUTH over RFCOMM (hci0 -> hci1) succeeds on both
#      sides and each side derives the other's node ID
#   b  different network keys: AUTH fails on both sides, nothing is admitted
#   d  rfcomm_available() and listen() with real adapters: channel 0 picks a channel,
#      clear errors for a missing adapter, a foreign address, a busy channel, and
#      every adapter down
#   e  (a second, 0-controller guest) no adapter; then no rfcomm module
#   cN 256 KiB through the TLS link arrive intact, 3 rounds (16 KiB TLS records: the
#      regression test for the RFCOMM send-buffer stall, see p2p/rfcomm.c); the rates,
#      and BlueZ's rctest rates over the same kind of link, are printed, not asserted
# Skips (77) when the VM cannot run here (no QEMU and no root to install it, no
# kernel package, ...). Takes ~15 s with a warm cache under TCG; the first run
# downloads the guest kernel (~70 MB) and probes KVM (~25 s).
# shellcheck disable=SC2015 # the usual preamble of tests/integration
cd "$(dirname "$0")" && . ./lib.sh || { echo "FAIL: cannot load lib.sh"; exit 1; }

ROOT=$(cd ../.. && pwd)
for c in gcc pkg-config; do command -v "$c" >/dev/null || skip "$c is not installed"; done
[ -f /usr/include/bluetooth/rfcomm.h ] ||
	skip "no Bluetooth headers (apt-get install libbluetooth-dev; scripts/deps.sh)"

G=$T/guest
sh "$ROOT/tests/bt/build-pair.sh" "$G" >"$T/build.log" 2>&1 ||
	fail "cannot build tests/bt/rfcomm_pair: $(tail -n 20 "$T/build.log")"
cp "$ROOT/tests/bt/guest-rfcomm.sh" "$ROOT/tests/bt/guest-lib.sh" "$G/" ||
	fail "cannot stage guest-rfcomm.sh"

"$ROOT/tests/bt/run-in-vm" -n 4 -t "${P2P_BTVM_TIMEOUT:-300}" -d "$G" -- ./guest-rfcomm.sh \
	>"$T/out" 2>"$T/err"
rc=$?
note "$(grep -m1 'guest, controllers up' "$T/err")"
if [ "$rc" = 77 ]; then
	skip "$(grep -m1 '^SKIP' "$T/err" | sed 's/^SKIP: *//')"
fi
if [ "$rc" != 0 ]; then
	sed 's/^/  out| /' "$T/out" >&2
	sed 's/^/  err| /' "$T/err" >&2
	fail "run-in-vm exited $rc"
fi
OUT=$(cat "$T/out")

# line CASE ROLE WHAT: the 64-hex ID after "<CASE> <ROLE>: <WHAT> "
id_of() { sed -n "s/^$1 $2: $3 \([0-9a-f]\{64\}\)\$/\1/p" "$T/out"; }
has() { grep -qxF -- "$1" "$T/out"; }
show() { sed 's/^/  | /' "$T/out" >&2; }

# ---- a: same key: both admitted, each knows the other's node ID ---------------------------
S=$(id_of a server self) C=$(id_of a client self)
SP=$(id_of a server peer) CP=$(id_of a client peer)
{ [ -n "$S" ] && [ -n "$C" ]; } || { show; fail "a: a side did not print its own node ID"; }
[ "$S" != "$C" ] || fail "a: both sides have the same node ID $S"
has "a exit server=0 client=0" || { show; fail "a: same network key, but not both sides succeeded"; }
if ! { has "a server: auth ok" && has "a client: auth ok"; }; then
	show; fail "a: AUTH did not pass on both sides"
fi
assert_eq "$SP" "$C" "a: node ID the server derived for the client"
assert_eq "$CP" "$S" "a: node ID the client derived for the server"
grep -q '^a server: accepted from bt:[0-9A-F:]\{17\}/7$' "$T/out" ||
	{ show; fail "a: the server did not report the client's RFCOMM address"; }

# ---- b: different keys: refused on both sides, nothing admitted -------------------------------
has "b exit server=2 client=2" || { show; fail "b: wrong network key, but not refused on both sides"; }
BS=$(id_of b server self) BC=$(id_of b client self)
has "b server: refused: peer ${BC:0:8}: wrong network key" ||
	{ show; fail "b: the server did not refuse the client for its network key"; }
has "b client: refused: peer ${BS:0:8}: wrong network key" ||
	{ show; fail "b: the client did not refuse the server for its network key"; }
grep -q '^b [a-z]*: \(auth ok\|peer \)' "$T/out" && { show; fail "b: a side admitted its peer"; }

# ---- d: the host as rfcomm_available() and listen() see it -------------------------------------
has "d avail: yes" || { show; fail "d: rfcomm_available() says no with 4 adapters up"; }
grep -q '^d listen: ok bt:[0-9A-F:]\{17\}/\([1-9]\|[12][0-9]\|30\)$' "$T/out" ||
	{ show; fail "d: listening on channel 0 did not report the channel the kernel picked"; }
has "d listen: error: Bluetooth adapter hci9: no such adapter" ||
	{ show; fail "d: listen on a missing adapter: no clear error"; }
has "d listen: error: listen on bt:12:34:56:78:9A:BC/7: no local Bluetooth adapter has that address" ||
	{ show; fail "d: listen on a foreign address: no clear error"; }
grep -q '^d listen: error: listen on bt:[0-9A-F:]\{17\}/13: channel already in use$' "$T/out" ||
	{ show; fail "d: listen on a busy channel: no clear error"; }
has "d avail: no: all 4 Bluetooth adapters (hci0..hci3) are down (see rfkill list; bluetoothctl power on)" ||
	{ show; fail "d: rfcomm_available() with every adapter down"; }

# ---- c1..cN: 256 KiB intact through TLS over RFCOMM; figures only -----------------------------
rounds=$(grep -c '^c[0-9]* exit ' "$T/out")
[ "$rounds" -ge 1 ] || { show; fail "c: no transfer round ran"; }
while read -r c; do
	has "$c exit server=0 client=0" || { show; fail "$c: the 256 KiB transfer failed"; }
	grep -q "^$c client: throughput 262144 bytes in .* (sha256 verified)\$" "$T/out" ||
		{ show; fail "$c: no verified throughput line"; }
done < <(sed -n 's/^\(c[0-9]*\) exit .*/\1/p' "$T/out")
# median of the numbers on stdin
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
tls_all=$(sed -n 's/^c[0-9]* client: throughput .* = \([0-9.]*\) KiB\/s.*/\1/p' "$T/out")
rct_all=$(sed -n 's/^c[0-9]* rctest [0-9]* bytes in .* = \([0-9.]*\) KiB\/s$/\1/p' "$T/out")
tls=$(median <<<"$tls_all") rct=$(median <<<"$rct_all")
note "$(grep '^a client: connect' "$T/out" | sed 's/^a client: /a: /')"
note "256 KiB one way, KiB/s per round: TLS over p2p/rfcomm.c:" "$(paste -sd' ' <<<"$tls_all")" \
	"| rctest:" "$(paste -sd' ' <<<"$rct_all")"
note "median: TLS ${tls:-?} KiB/s, rctest ${rct:-?} KiB/s$( [ -n "$tls" ] && [ -n "$rct" ] &&
	awk -v a="$tls" -v b="$rct" 'BEGIN { if (b > 0) printf ", ratio TLS/rctest %.2f", a / b }')"
grep '^c[0-9]* rctest failed' "$T/out" | sed 's/^/# /'
assert_contains "$OUT" "guest: controllers" "guest output"

# ---- e: a guest with Bluetooth but no adapter, then without the rfcomm module ------------------
"$ROOT/tests/bt/run-in-vm" -n 0 -t "${P2P_BTVM_TIMEOUT:-300}" -d "$G" -- \
	sh -c 'rfcomm_pair avail; rmmod rfcomm && rfcomm_pair avail' >"$T/out0" 2>"$T/err0" ||
	{ cat "$T/out0" "$T/err0" >&2; fail "e: run-in-vm -n 0 failed"; }
note "$(grep -m1 'guest, controllers up' "$T/err0")"
grep -qxF "avail: no: no Bluetooth adapter (bluetoothctl list shows none)" "$T/out0" ||
	{ cat "$T/out0" >&2; fail "e: rfcomm_available() without an adapter"; }
grep -q '^avail: no: no Bluetooth RFCOMM: .*(load the rfcomm kernel module)$' "$T/out0" ||
	{ cat "$T/out0" >&2; fail "e: rfcomm_available() without the rfcomm module"; }
finish

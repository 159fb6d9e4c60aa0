#!/usr/bin/env bash
# A partition of 3 nodes in a netlab (tests/netlab; needs root, else SKIP 77):
#   {1} | {2,3}: store on 1; store and delete on 2; both 1 and 2 write the key "both";
#   a file stored before the partition is deleted on 2. Heal: all three converge to the
#   same file list (same versions), the same contents, no resurrected delete, and the
#   losing "both" kept as "both.conflict-<origin>-<version>" on every node.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/repl_lib.sh"
require_root "needs root for network namespaces"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
NETLAB="$ROOT/tests/netlab/netlab"
export NETLAB_PREFIX="nlr$$"
export NETLAB_RUN="/run/netlab/$NETLAB_PREFIX"
export NETLAB_NET="10.78.0"
out=$("$NETLAB" up 3 2>&1); rc=$?
[ "$rc" = 77 ] && skip "netlab: $out"
[ "$rc" = 0 ] || fail "netlab up: $out"
on_exit "\"$NETLAB\" down >/dev/null 2>&1"

declare -A LPID=()
lab_start() { # I [args]
	local i=$1 d=$T/n$1; shift
	mkdir -p "$d"
	"$NETLAB" exec "$i" "$P2P_BIN" --db "$d/p2p.db" serve --listen "10.78.0.$i:3000" \
		--no-mdns --anti-entropy 1s "$@" >>"$d/log" 2>&1 &
	LPID[$i]=$!
	track $!
	poll 10 bash -c "\"$P2P_BIN\" --db $d/p2p.db status --json >/dev/null 2>&1" ||
		{ tail -5 "$d/log"; fail "node $i did not start"; }
}
lab_start 1
install -m 0600 "$T/n1/network.key" "$T/net.key"
lab_start 2 --network-key "$T/net.key" --bootstrap 10.78.0.1:3000
lab_start 3 --network-key "$T/net.key" --bootstrap 10.78.0.1:3000
N1=$T/n1 N2=$T/n2 N3=$T/n3
for d in "$N1" "$N2" "$N3"; do wait_connected 30 "$d" 2; done

rand_file "$T/pre" 1500000
run p2p "$N1" store pre "$T/pre"
expect_rc 0 "store pre"
V=$(file_version "$N1" pre)
for d in "$N2" "$N3"; do wait_file 20 "$d" pre "$V"; done

# ---- partition {1} | {2,3} -------------------------------------------------------------------
"$NETLAB" cut 1 2 >/dev/null
"$NETLAB" cut 1 3 >/dev/null
# the links time out (no PONG within 30 s)
poll 60 bash -c "[ \"\$(\"$P2P_BIN\" --db $N1/p2p.db status --json | jq .peers.connected)\" = 0 ]" ||
	fail "node 1 still sees peers"
poll 60 bash -c "[ \"\$(\"$P2P_BIN\" --db $N2/p2p.db status --json | jq .peers.connected)\" = 1 ]" ||
	fail "node 2 still sees node 1"
note "partitioned"
rand_file "$T/p1" 700000; rand_file "$T/p2" 900000; rand_file "$T/b1" 300000; rand_file "$T/b2" 400000
run p2p "$N1" store p1 "$T/p1"; expect_rc 0 "store p1 on 1"
run p2p "$N1" store both "$T/b1"; expect_rc 0 "store both on 1"
run p2p "$N2" store p2 "$T/p2"; expect_rc 0 "store p2 on 2"
run p2p "$N2" store gone "$T/p2"; expect_rc 0 "store gone on 2"
run p2p "$N2" delete gone; expect_rc 0 "delete gone on 2"
run p2p "$N2" delete pre; expect_rc 0 "delete pre on 2"
run p2p "$N2" store both "$T/b2"; expect_rc 0 "store both on 2"
wait_file 20 "$N3" pre deleted
assert_eq "$(file_version "$N1" pre)" "$V" "node 1 still has pre during the partition"

# ---- heal -------------------------------------------------------------------------------------
"$NETLAB" heal 1 2 >/dev/null
"$NETLAB" heal 1 3 >/dev/null
for d in "$N1" "$N2" "$N3"; do wait_connected 120 "$d" 2; done
note "healed"
listing() { p2p "$1" files list --json --deleted | jq -c '[.[] | [.key, .version, (.deleted // false)]]'; }
same() { local a; a=$(listing "$N1"); [ "$a" = "$(listing "$N2")" ] && [ "$a" = "$(listing "$N3")" ]; }
poll 60 same || fail "file lists differ: 1 $(listing "$N1") 2 $(listing "$N2") 3 $(listing "$N3")"
for d in "$N1" "$N2" "$N3"; do
	assert_eq "$(file_version "$d" pre)" deleted "$(basename "$d"): pre (deleted on 2 while 1 had it)"
	assert_eq "$(file_version "$d" gone)" deleted "$(basename "$d"): gone"
	c=$(p2p "$d" files list --json | jq -r '[.[] | select(.key | startswith("both.conflict-"))] | length')
	assert_eq "$c" 1 "$(basename "$d"): conflict copies of both"
done
# contents: the winner of "both" is the greater (version, origin); the loser is the copy
W=$(p2p "$N1" files list --json | jq -r '.[] | select(.key == "both") | .sha256')
L=$(p2p "$N1" files list --json | jq -r '.[] | select(.key | startswith("both.conflict-")) | .sha256')
S1=$(sha256sum <"$T/b1" | cut -c1-64) S2=$(sha256sum <"$T/b2" | cut -c1-64)
[ "$W:$L" = "$S1:$S2" ] || [ "$W:$L" = "$S2:$S1" ] || fail "both/conflict are not b1 and b2"
CK=$(p2p "$N1" files list --json | jq -r '.[] | select(.key | startswith("both.conflict-")) | .key')
for d in "$N1" "$N2" "$N3"; do
	for k in p1 p2 both "$CK"; do
		case $k in p1) f=$T/p1 ;; p2) f=$T/p2 ;; both) [ "$W" = "$S1" ] && f=$T/b1 || f=$T/b2 ;;
		*) [ "$L" = "$S1" ] && f=$T/b1 || f=$T/b2 ;; esac
		run p2p "$d" get "$k" --out "$T/out" --quiet
		expect_rc 0 "get $k on $(basename "$d")"
		assert_cmp "$f" "$T/out"
		rm -f "$T/out"
	done
done
note "converged: same list, same contents, no resurrection, conflict kept ($CK)"
finish

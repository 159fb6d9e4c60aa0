#!/usr/bin/env bash
# Short-lived client mode: `p2p store KEY FILE --bootstrap HOST:PORT` and
# `p2p get KEY --bootstrap HOST:PORT --out F` with no local node (a temporary daemon on a
# temporary data directory joins, works, leaves and is removed):
#   - with --network-key: the store lands on the network (every holder has it before the
#     CLI returns) and a get through the network is byte-equal; so is a get with --join;
#   - without a key: fails with the one-line "another network" message;
#   - nothing is left in $TMPDIR.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/repl_lib.sh"

A=$T/a B=$T/b C=$T/c
repl_net "$A" "$B" "$C" -- --anti-entropy 1s
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR"

rand_file "$T/in" 2500000
run "$P2P_BIN" store viaboot "$T/in" --bootstrap "127.0.0.1:$REPL_PORT0" --network-key "$T/net.key"
expect_rc 0 "store --bootstrap"
for d in "$A" "$B" "$C"; do
	poll 20 bash -c "\"$P2P_BIN\" --db $d/p2p.db files list --json | jq -e '.[] | select(.key == \"viaboot\")' >/dev/null" ||
		fail "$(basename "$d") does not list viaboot"
done
run p2p "$B" get viaboot --out "$T/o1" --quiet
expect_rc 0 "get on B"
assert_cmp "$T/in" "$T/o1"

run "$P2P_BIN" get viaboot --bootstrap "127.0.0.1:$REPL_PORT0" --network-key "$T/net.key" --out "$T/o2" --quiet
expect_rc 0 "get --bootstrap --network-key"
assert_cmp "$T/in" "$T/o2"
TICKET=$(p2p "$A" invite)
run "$P2P_BIN" get viaboot --bootstrap "127.0.0.1:$REPL_PORT0" --join "$TICKET" --out "$T/o3" --quiet
expect_rc 0 "get --bootstrap --join"
assert_cmp "$T/in" "$T/o3"

run "$P2P_BIN" get viaboot --bootstrap "127.0.0.1:$REPL_PORT0" --out "$T/o4" --quiet
expect_rc 1 "get --bootstrap without the network key"
assert_contains "$ERR" "another network"
[ ! -e "$T/o4" ] || fail "a failed get left $T/o4"
assert_eq "$(ls -A "$TMPDIR" | wc -l)" 0 "entries left in TMPDIR"
finish

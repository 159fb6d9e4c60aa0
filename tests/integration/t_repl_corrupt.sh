#!/usr/bin/env bash
# A chunk corrupted on disk at one holder (3 nodes, R = 3):
#   - `p2p verify` on that node reports it;
#   - a get on that node still succeeds: the chunk is fetched from another holder,
#     verified, stored again (repair), and the content is byte-equal;
#   - afterwards `verify` is clean there, and the failure is counted in the metrics;
#   - a peer asking that node for the chunk while it is corrupt gets "corrupt" and asks
#     another holder (a get on a fresh non-holder node D still succeeds).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/repl_lib.sh"

A=$T/a B=$T/b C=$T/c
repl_net "$A" "$B" "$C" -- --anti-entropy 1s

rand_file "$T/in" 3500000
run p2p "$A" store k "$T/in"
expect_rc 0 "store k on A"
V=$(file_version "$A" k)
wait_file 20 "$B" k "$V"
mapfile -t H < <(file_chunks "$A" k)
assert_eq "${#H[@]}" 4 "chunks of k"
allheld() { for h in "${H[@]}"; do holds "$B" "$h" || return 1; done; }
poll 30 allheld || fail "B does not hold every chunk of k"

# flip bytes in the middle of chunk 1 on B (same size)
f=$B/chunks/${H[1]:0:2}/${H[1]:2:2}/${H[1]}
printf 'CORRUPTED-BYTES!' | dd of="$f" bs=1 seek=1000 conv=notrunc status=none
run p2p "$B" verify --quiet
expect_rc 1 "verify on B with a corrupt chunk"
assert_contains "$OUT$ERR" "1 corrupt"

run p2p "$B" get k --out "$T/out" --quiet
expect_rc 0 "get k on B despite the corrupt chunk"
assert_cmp "$T/in" "$T/out"
run p2p "$B" verify --quiet
expect_rc 0 "verify on B after the repair"
api "$B" GET /metrics
fails=$(awk '$1 == "p2p_chunk_verify_failures_total" {print $2}' <<<"$BODY")
[ "${fails:-0}" -ge 1 ] || fail "p2p_chunk_verify_failures_total on B is '${fails:-}'"
note "corrupt chunk on B: verify reports it, get succeeds, repair restores it"

# corrupt it on C this time; a node that has none of it fetches it (C answers
# "corrupt", another holder serves it)
f=$C/chunks/${H[2]:0:2}/${H[2]:2:2}/${H[2]}
printf 'CORRUPTED-BYTES!' | dd of="$f" bs=1 seek=10 conv=notrunc status=none
D=$T/d
restart_node "$D" --anti-entropy 1s
wait_connected 20 "$D" 3
wait_file 20 "$D" k "$V"
run p2p "$D" get k --out "$T/out2" --quiet
expect_rc 0 "get k on D"
assert_cmp "$T/in" "$T/out2"
# C repairs itself when the corrupt chunk is read: served to a peer (answered
# "corrupt", marked missing, fetched back by the repair scan) or read by a get on C
run p2p "$C" get k --out "$T/out3" --quiet
expect_rc 0 "get k on C"
assert_cmp "$T/in" "$T/out3"
poll 30 bash -c "\"$P2P_BIN\" --db $C/p2p.db verify --quiet >/dev/null 2>&1" ||
	fail_later "C still has a corrupt chunk"

# A small file's chunk is kept inline, in the database (up to 16 KiB): bytes gone bad
# there (SQLite has no checksum of its own) are caught by the chunk's SHA-256 the same
# way: verify reports them, a get fetches a good copy from a holder and replaces them.
rand_file "$T/small" 3000
run p2p "$A" store s "$T/small"
expect_rc 0 "store s (3000 bytes) on A"
VS=$(file_version "$A" s)
HS=$(file_chunks "$A" s)
# D is up too: 3 of the 4 nodes hold s (placement), so take a holder other than A
X=
pick_holder() {
	local d
	for d in "$B" "$C" "$D"; do
		if holds "$d" "$HS" && has_version "$d" s "$VS"; then X=$d; return 0; fi
	done
	return 1
}
poll 30 pick_holder || fail "no node but A holds the chunk of s"
x=$(basename "$X")
[ ! -e "$X/chunks/${HS:0:2}/${HS:2:2}/$HS" ] || fail "the 3000-byte chunk of s is a file on $x"
sqlite3 -cmd ".timeout 5000" "$X/p2p.db" "UPDATE chunk_data SET data = zeroblob(3000)
	WHERE id = (SELECT data_id FROM chunks WHERE hash = X'$HS')" ||
	fail "cannot damage the inline chunk in $x's database"
run p2p "$X" verify --quiet
expect_rc 1 "verify on $x with a corrupt inline chunk"
assert_contains "$OUT$ERR" "1 corrupt"
run p2p "$X" get s --out "$T/sout" --quiet
expect_rc 0 "get s on $x despite its corrupt inline chunk"
assert_cmp "$T/small" "$T/sout"
run p2p "$X" verify --quiet
expect_rc 0 "verify on $x after the inline chunk was fetched again"
note "corrupt inline chunk on $x: verify reports it, get succeeds, the copy is replaced"
finish

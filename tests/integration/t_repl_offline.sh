#!/usr/bin/env bash
# Nodes that were down catch up, and deletes stick:
#   - B stopped during a delete on A; B restarted: the tombstone wins, the file is not
#     resurrected on any node (B's old version does not come back through anti-entropy);
#   - B stopped during a store on C; B restarted: it gets the metadata through
#     anti-entropy and, being a holder (R = 3), the chunks; a get on B is byte-equal.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/repl_lib.sh"

A=$T/a B=$T/b C=$T/c
repl_net "$A" "$B" "$C" -- --anti-entropy 1s --repair-after 60s

rand_file "$T/doomed" 2500000
run p2p "$A" store doomed "$T/doomed"
expect_rc 0 "store doomed"
V=$(file_version "$A" doomed)
wait_file 20 "$B" doomed "$V"
wait_file 20 "$C" doomed "$V"

# ---- delete while B is down ---------------------------------------------------------------
stop_node "$B"
run p2p "$A" delete doomed
expect_rc 0 "delete on A"
wait_file 20 "$C" doomed deleted
assert_eq "$(file_version "$B" doomed)" "$V" "B (stopped) still has the old version"
restart_node "$B" --anti-entropy 1s --repair-after 60s
wait_connected 20 "$B" 2
wait_file 20 "$B" doomed deleted
# a few anti-entropy rounds later, nothing came back anywhere
sleep 3
for d in "$A" "$B" "$C"; do
	assert_eq "$(file_version "$d" doomed)" deleted "$(basename "$d"): doomed after B's return"
	run p2p "$d" get doomed --out "$T/x"
	expect_rc 1 "get doomed on $(basename "$d")"
done
note "delete during B's absence: no resurrection"

# ---- store while B is down ----------------------------------------------------------------
stop_node "$B"
rand_file "$T/late" 5000000
run p2p "$C" store late "$T/late"
expect_rc 0 "store late on C (A and C up)"
VL=$(file_version "$C" late)
wait_file 20 "$A" late "$VL"
restart_node "$B" --anti-entropy 1s --repair-after 60s
wait_connected 20 "$B" 2
wait_file 30 "$B" late "$VL"
# B is a holder: the repair scan fetches the chunks
n=$(file_chunks "$C" late | wc -l)
held() { local k=0 h; for h in $(file_chunks "$B" late); do holds "$B" "$h" && k=$((k + 1)); done; [ "$k" = "$n" ]; }
poll 40 held || fail "B holds $(for h in $(file_chunks "$B" late); do holds "$B" "$h" && echo; done | wc -l) of $n chunks of 'late'"
run p2p "$B" get late --out "$T/late.out" --quiet
expect_rc 0 "get late on B"
assert_cmp "$T/late" "$T/late.out"
note "store during B's absence: B converged (metadata and chunks)"
finish

#!/usr/bin/env bash
# kill -9 of a receiving node in the middle of a transfer (3 nodes, R = 3):
#   - the store on C still completes (min copies 2: C + A);
#   - B restarts: the chunks it had made durable are kept (it does not fetch them again),
#     the rest are fetched by its repair scan, and a get on B is byte-equal;
#   - an interrupted get (client killed) on a node that fetches resumes without
#     fetching again what it already stored.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/repl_lib.sh"

A=$T/a B=$T/b C=$T/c
repl_net "$A" "$B" "$C" -- --anti-entropy 1s

rand_file "$T/big" $((80 * 1024 * 1024))
( "$P2P_BIN" --db "$C/p2p.db" store big "$T/big" --quiet >"$T/store.out" 2>&1; echo $? >"$T/store.rc" ) &
track $!
# wait until B has received some of it, then kill it
poll 60 bash -c "[ \$(find $B/chunks -path '*/tmp' -prune -o -type f -print | wc -l) -ge 10 ]" ||
	fail "B never received chunks"
kill9_node "$B"
before=$(find "$B/chunks" -path '*/tmp' -prune -o -type f -print | wc -l)
note "B killed with $before chunk files on disk"
poll 120 test -s "$T/store.rc" || fail "store did not finish"
assert_eq "$(cat "$T/store.rc")" 0 "store exit status ($(cat "$T/store.out"))"

restart_node "$B" --anti-entropy 1s
wait_connected 20 "$B" 2
V=$(file_version "$C" big)
wait_file 20 "$B" big "$V"
n=$(file_chunks "$C" big | wc -l)
held() { local k=0 h; for h in $(file_chunks "$B" big); do holds "$B" "$h" && k=$((k + 1)); done; [ "$k" = "$n" ]; }
poll 120 held || fail "B did not get every chunk of big back"
api "$B" GET /metrics
fetched=$(awk '$1 == "p2p_repl_chunks_fetched_total" {print $2}' <<<"$BODY")
note "B fetched $fetched of $n chunks after its restart"
[ "${fetched:-0}" -lt "$n" ] || fail_later "B fetched all $n chunks again ($fetched): nothing was kept"
run p2p "$B" get big --out "$T/big.out" --quiet
expect_rc 0 "get big on B"
assert_cmp "$T/big" "$T/big.out"
finish

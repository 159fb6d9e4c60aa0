#!/usr/bin/env bash
# Readers of the database (p2p verify, p2p files list: they open it directly, read-only)
# run while the daemon writes (stores): none may fail or say "database is locked".
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

A=$T/a
start_node "$A" "${ISOLATED[@]}" --chunk-size 64K
READS=${READS:-50}

rand_file "$T/big" $((40 << 20))
for ((j = 0; j < 8; j++)); do rand_file "$T/small.$j" $(((j + 1) * 100000)); done
run p2p "$A" store seed "$T/small.0"; expect_rc 0 "store seed"

# writer: one big store, and small stores to fresh keys (nothing for GC to collect) until
# the readers are done (at most 400)
writer() {
	local j rc=0 bpid
	p2p "$A" store big "$T/big" >/dev/null 2>"$T/w.big.err" &
	bpid=$!
	for ((j = 0; j < 400; j++)); do
		[ -e "$T/stop" ] && break
		p2p "$A" store "small/$j" "$T/small.$((j % 8))" >/dev/null 2>>"$T/w.err" ||
			{ echo "store small/$j: exit $?" >>"$T/w.fail"; rc=1; }
		echo $((j + 1)) >"$T/w.count"
	done
	wait "$bpid" || { echo "store big: exit $?" >>"$T/w.fail"; rc=1; }
	return $rc
}
writer &
wpid=$!
track "$wpid"

bad=0
for ((i = 1; i <= READS; i++)); do
	p2p "$A" verify >"$T/r.out" 2>"$T/r.err"; rc=$?
	if [ "$rc" != 0 ] || grep -qi -E 'locked|busy' "$T/r.out" "$T/r.err"; then
		echo "# read $i: verify exit $rc: $(cat "$T/r.out" "$T/r.err" | head -5)"; bad=$((bad + 1))
	fi
	p2p "$A" files list --json >"$T/r.out" 2>"$T/r.err"; rc=$?
	if [ "$rc" != 0 ] || grep -qi -E 'locked|busy' "$T/r.err" || ! jq -e . "$T/r.out" >/dev/null 2>&1; then
		echo "# read $i: files list exit $rc: $(head -c 300 "$T/r.err")"; bad=$((bad + 1))
	fi
done
kill -0 "$wpid" 2>/dev/null && writes_running=yes || writes_running=no
touch "$T/stop"
wait "$wpid"; wrc=$?
nsmall=$(cat "$T/w.count" 2>/dev/null || echo 0)
echo "# $READS verify + $READS files list done during $nsmall small stores and one of 40 MiB; writer still running at the end: $writes_running"
{ [ "$wrc" = 0 ] && [ ! -s "$T/w.fail" ]; } || fail "a concurrent store failed: $(cat "$T/w.fail" 2>/dev/null) $(head -c 600 "$T/w.err" "$T/w.big.err" 2>/dev/null)"
[ "$bad" = 0 ] || fail "$bad of $((2 * READS)) concurrent reads failed (see above)"
grep -qi -E 'database is locked|database table is locked' "$A/log" && fail "the daemon logged 'database is locked'"

# every write landed
got=$(files_json "$A") || exit 1
assert_eq "$(jq length <<<"$got")" $((nsmall + 2)) "files after the concurrent run"
p2p "$A" get big --out "$T/out" || fail "get big exit $?"
assert_cmp "$T/big" "$T/out"
for ((j = 0; j < nsmall; j++)); do
	rm -f "$T/out"
	p2p "$A" get "small/$j" --out "$T/out" || fail "get small/$j exit $?"
	assert_cmp "$T/small.$((j % 8))" "$T/out"
done
run p2p "$A" verify; expect_rc 0 "verify at the end"
stop_node "$A"
finish

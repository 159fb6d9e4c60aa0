#!/usr/bin/env bash
# kill -9 of the daemon at random points of a 30 MiB store: after each restart the key is
# absent or complete (and present if the CLI said "stored"), chunks/tmp is empty, no orphan
# chunk file is left, verify is clean, and a file stored before the loop is intact.
# Env: SEED=N replays a run's kill delays, ITER=10 iterations, MAXDELAY_MS=300 kill window.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

SEED=${SEED:-$(( (10#$(date +%N) ^ $$) % 1000000 ))}
RANDOM=$SEED
echo "# seed $SEED (SEED=$SEED replays the same kill delays)"
ITER=${ITER:-10} MAXDELAY_MS=${MAXDELAY_MS:-300}

A=$T/a
start_node "$A" "${ISOLATED[@]}"

rand_file "$T/base" $((3 << 20))
run p2p "$A" store base "$T/base"; expect_rc 0 "store base"

check_base() {
	rm -f "$T/out"
	p2p "$A" get base --out "$T/out" || fail "$1: get base exit $?"
	assert_cmp "$T/base" "$T/out" "$1: get base"
	rm -f "$T/out"
}

present=0 absent=0
for ((i = 1; i <= ITER; i++)); do
	key=crash-$i
	rand_file "$T/victim.$i" $((30 << 20))
	delay=$((RANDOM % (MAXDELAY_MS + 1)))
	p2p "$A" store "$key" "$T/victim.$i" >"$T/store.out" 2>"$T/store.err" &
	spid=$!
	track "$spid"
	sleep "$(printf '0.%03d' "$delay")"
	kill9_node "$A"
	wait "$spid"; src=$?
	[ "$src" = 124 ] && fail "iteration $i: the store client hung after the daemon died"

	start_node "$A" "${ISOLATED[@]}"
	assert_eq "$(tmp_entries "$A")" 0 "iteration $i: entries in chunks/tmp after start-up"
	poll 5 chunks_match_db "$A" ||
		fail "iteration $i: $(count_chunks "$A") chunk files on disk but status --json .chunks $(status_field "$A" chunks) (orphans not swept at start-up?)"

	rm -f "$T/out"
	run p2p "$A" get "$key" --out "$T/out"
	case $RC in
	0)
		assert_cmp "$T/victim.$i" "$T/out" "iteration $i (kill after ${delay} ms, store exit $src): get $key"
		present=$((present + 1)); state=present ;;
	1)
		assert_contains "$ERR" "not found" "iteration $i: get $key"
		[ "$src" != 0 ] || fail "iteration $i: store said '$(cat "$T/store.out")' (exit 0) but $key is gone after kill -9"
		absent=$((absent + 1)); state=absent ;;
	*)
		fail "iteration $i: get $key exit $RC: $ERR" ;;
	esac
	echo "# iteration $i: kill after ${delay} ms, store exit $src, key $state"
	rm -f "$T/out" "$T/victim.$i"

	check_base "iteration $i"
	run p2p "$A" verify
	expect_rc 0 "iteration $i: verify"
done
echo "# $present complete, $absent absent"

# the keys that survived are listed with their full size; nothing else is
got=$(files_json "$A") || exit 1
assert_eq "$(jq '[.[] | select(.key | startswith("crash-"))] | length' <<<"$got")" "$present" \
	"crash-* keys listed"
assert_eq "$(jq '[.[] | select(.key | startswith("crash-")) | select(.size != 31457280)] | length' <<<"$got")" 0 \
	"crash-* keys listed with a size other than 30 MiB"
stop_node "$A"
finish

#!/usr/bin/env bash
# Deduplication (two keys, one copy of each chunk on disk), overwriting a key, and garbage
# collection of chunks no version references any more (automatic within 15 s, or at the
# latest on a daemon restart: the test says which it saw).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

K=65536
A=$T/a
start_node "$A" "${ISOLATED[@]}" --chunk-size 64K

# shellcheck disable=SC2317  # called through poll
chunks_are() { [ "$(count_chunks "$1")" = "$2" ]; }

# expect_gc DIR N WHAT: the chunk files drop to N, automatically (15 s) or after a restart
expect_gc() {
	local d=$1 n=$2 what=$3
	if poll 15 chunks_are "$d" "$n"; then
		note "GC ($what): automatic, chunk files now $n"
		return 0
	fi
	note "GC ($what): not automatic within 15 s ($(count_chunks "$d") chunk files, want $n); restarting"
	stop_node "$d"
	start_node "$d" "${ISOLATED[@]}" --chunk-size 64K
	poll 15 chunks_are "$d" "$n" ||
		fail "GC ($what): still $(count_chunks "$d") chunk files 15 s after a restart, want $n"
	note "GC ($what): only after a daemon restart, chunk files now $n"
}

getcmp() {
	rm -f "$T/out"
	p2p "$1" get "$2" --out "$T/out" || fail "get $2 exit $?"
	assert_cmp "$3" "$T/out"
}

# three distinct chunks, the last one short
rand_file "$T/old" $((2 * K + 1000))
run p2p "$A" store one "$T/old"; expect_rc 0 "store one"
assert_eq "$(count_chunks "$A")" 3 "chunk files after storing one 3-chunk file"
run p2p "$A" store two "$T/old"; expect_rc 0 "store two (same content)"
assert_eq "$(count_chunks "$A")" 3 "chunk files after storing the same content under a 2nd key"
assert_eq "$(status_field "$A" chunks)" 3 "status --json .chunks"
assert_eq "$(status_field "$A" files)" 2 "status --json .files"
getcmp "$A" one "$T/old"
getcmp "$A" two "$T/old"
assert_eq "$(tmp_entries "$A")" 0 "entries in chunks/tmp"

# overwrite "one": it reads back new; "two" still holds (and reads back) the old chunks
rand_file "$T/new" $((2 * K + 2000))
run p2p "$A" store one "$T/new"; expect_rc 0 "store one (new content)"
getcmp "$A" one "$T/new"
getcmp "$A" two "$T/old"
assert_eq "$(count_chunks "$A")" 6 "chunk files with old and new content both referenced"
got=$(files_json "$A") || exit 1
assert_eq "$(jq -r '[.[] | "\(.key)=\(.size)"] | join(" ")' <<<"$got")" \
	"one=$((2 * K + 2000)) two=$((2 * K + 1000))" "files list after overwrite"

# overwrite "two" with the new content too: the old chunks are now unreferenced
run p2p "$A" store two "$T/new"; expect_rc 0 "store two (new content)"
getcmp "$A" two "$T/new"
expect_gc "$A" 3 "overwritten version"
getcmp "$A" one "$T/new"
getcmp "$A" two "$T/new"
assert_eq "$(status_field "$A" chunks)" 3 "status --json .chunks after GC"

# delete one key: its chunks are still referenced by the other, nothing is collected
run p2p "$A" delete one; expect_rc 0 "delete one"
sleep 1
assert_eq "$(count_chunks "$A")" 3 "chunk files while 'two' still references them"
getcmp "$A" two "$T/new"

# delete the last reference: everything goes
run p2p "$A" delete two; expect_rc 0 "delete two"
expect_gc "$A" 0 "deleted keys"
assert_eq "$(status_field "$A" files)" 0 "status --json .files at the end"

run p2p "$A" verify
expect_rc 0 "verify at the end"
stop_node "$A"
finish

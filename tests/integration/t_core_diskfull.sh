#!/usr/bin/env bash
# A full disk: the data dir is an 8 MiB tmpfs, a 20 MiB store must fail cleanly (message
# about space, no file recorded, nothing left in chunks/tmp) and the daemon keeps serving.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root "needs root to mount a tmpfs"
{ command -v mount && command -v umount; } >/dev/null || skip "no mount/umount"

M=$T/mnt
mkdir -p "$M"
mount -t tmpfs -o size=8m,mode=0700 tmpfs "$M" 2>"$T/mount.err" ||
	skip "cannot mount a tmpfs: $(cat "$T/mount.err")"
on_exit "umount '$M' 2>/dev/null || umount -l '$M'"

start_node "$M" "${ISOLATED[@]}"
rand_file "$T/keep" $((256 << 10))
run p2p "$M" store keep "$T/keep"; expect_rc 0 "store keep (256 KiB)"
chunks_before=$(count_chunks "$M")
note "before: $(df -k --output=used,avail "$M" | tail -1) KiB used/avail on the tmpfs"

rand_file "$T/big" $((20 << 20))
run p2p "$M" store big "$T/big"
[ "$RC" != 0 ] || fail "store of 20 MiB into an 8 MiB file system succeeded: $OUT"
[ "$RC" = 1 ] || fail "store into a full disk: exit $RC, want 1; stderr: $ERR"
assert_contains "$ERR" "space" "store into a full disk: stderr"
note "store big: exit $RC: $ERR"

node_alive "$M" || { show_log "$M"; fail "the daemon died on ENOSPC"; }
health "$M" || fail "the daemon does not answer /health after ENOSPC"

got=$(files_json "$M") || exit 1
assert_eq "$(jq -r '[.[].key] | join(",")' <<<"$got")" "keep" "files after the failed store"
# shellcheck disable=SC2317  # called through poll
tmp_clean() { [ "$(tmp_entries "$M")" = 0 ]; }
poll 5 tmp_clean || fail "chunks/tmp not empty after the failed store: $(find "$M/chunks/tmp" -mindepth 1 | head)"

rm -f "$T/out"; p2p "$M" get keep --out "$T/out" || fail "get keep after ENOSPC exit $?"
assert_cmp "$T/keep" "$T/out"
rm -f "$T/out"

# chunk files the failed upload wrote are orphans (no row): the daemon sweeps them
# after the failure, without waiting for a restart
# shellcheck disable=SC2317  # called through poll
orphans_gone() { [ "$(count_chunks "$M")" = "$chunks_before" ]; }
poll 15 orphans_gone || fail "the failed upload left $(( $(count_chunks "$M") - chunks_before ))" \
	"chunk files behind ($(df -k --output=avail "$M" | tail -1) KiB free)"
note "the failed upload left no chunk files behind"

# a small store works afterwards: at once, or once "keep" is deleted and collected
rand_file "$T/tiny" 4096
tiny_ok() { p2p "$M" store tiny "$T/tiny" >/dev/null 2>"$T/tiny.err"; }
if tiny_ok; then
	note "a 4 KiB store works right after ENOSPC"
else
	note "a 4 KiB store right after ENOSPC failed ($(cat "$T/tiny.err")); deleting keep"
	run p2p "$M" delete keep; expect_rc 0 "delete keep"
	poll 15 tiny_ok || fail "a 4 KiB store still fails 15 s after deleting keep: $(cat "$T/tiny.err")"
	note "a 4 KiB store works after deleting keep"
fi
p2p "$M" get tiny --out "$T/out" || fail "get tiny exit $?"
assert_cmp "$T/tiny" "$T/out"

# the API answers a direct PUT that does not fit with 507 and a JSON error
avail_k=$(df -k --output=avail "$M" | tail -1)
if [ "$avail_k" -gt 1024 ]; then
	head -c $(((avail_k - 1024) * 1024)) /dev/zero >"$M/filler" 2>/dev/null
fi
note "with a filler file: $(df -k --output=avail "$M" | tail -1) KiB free"
rand_file "$T/2m" $((2 << 20))
api "$M" PUT /v1/files/direct2m --data-binary @"$T/2m"
expect_json_error 507 "direct PUT of 2 MiB with about 1 MiB free"

# Chunks up to the inline limit (16 KiB) go into the database, in the transaction that
# records them. When the disk cannot take that transaction (SQLITE_FULL), the store is
# answered 507 as well, nothing of it is kept, and what was answered 201 before stays.
ok_keys=() full=0
for i in $(seq 600); do
	rand_file "$T/s$i" 16000
	api "$M" PUT "/v1/files/small$i" --data-binary @"$T/s$i"
	if [ "$HTTP" = 201 ]; then
		ok_keys+=("$i")
		continue
	fi
	expect_json_error 507 "PUT small$i (16000 bytes, inline) into a full disk"
	assert_contains "$BODY" "space" "PUT small$i into a full disk: body"
	full=$i
	break
done
[ "$full" != 0 ] || fail "600 inline stores of 16000 bytes all fit beside the filler"
note "inline stores: ${#ok_keys[@]} answered 201, small$full answered 507"
node_alive "$M" || { show_log "$M"; fail "the daemon died when the database could not grow"; }
got=$(files_json "$M") || exit 1
assert_eq "$(jq -r '[.[].key | select(startswith("small"))] | length' <<<"$got")" \
	"${#ok_keys[@]}" "small files listed (those answered 201)"
assert_eq "$(jq -r --arg k "small$full" '[.[].key | select(. == $k)] | length' <<<"$got")" 0 \
	"small$full listed after its PUT failed"
rm -f "$M/filler"
for i in "${ok_keys[@]: -3}"; do
	rm -f "$T/out"; p2p "$M" get "small$i" --out "$T/out" || fail "get small$i exit $?"
	assert_cmp "$T/s$i" "$T/out"
done
[ "$(inline_chunks "$M")" -ge "${#ok_keys[@]}" ] ||
	fail "$(inline_chunks "$M") inline chunks in the database, want >= ${#ok_keys[@]}"
node_alive "$M" || { show_log "$M"; fail "the daemon died on a direct PUT into a full disk"; }
got=$(files_json "$M") || exit 1
assert_eq "$(jq -r '[.[].key | select(. == "direct2m")] | length' <<<"$got")" 0 \
	"direct2m listed after its PUT failed"
poll 5 tmp_clean || fail "chunks/tmp not empty after the failed direct PUT"

run p2p "$M" verify; expect_rc 0 "verify after ENOSPC"
node_alive "$M" || fail "the daemon died"
stop_node "$M"
# and it starts again on the (nearly) full file system
start_node "$M" "${ISOLATED[@]}"
# the start-up sweep removes chunk files that no database row accounts for
poll 5 chunks_match_db "$M" ||
	fail "after a restart: $(count_chunks "$M") chunk files on disk, status --json .chunks $(status_field "$M" chunks)"
note "after a restart: $(count_chunks "$M") chunk files, $(df -k --output=avail "$M" | tail -1) KiB free"
p2p "$M" get tiny --out - >"$T/out2" || fail "get tiny after restart exit $?"
assert_cmp "$T/tiny" "$T/out2"
assert_eq "$(tmp_entries "$M")" 0 "entries in chunks/tmp after restart"
stop_node "$M"
finish

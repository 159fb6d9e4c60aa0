#!/usr/bin/env bash
# Load, short: 64 concurrent clients store distinct 4 KiB files through the TCP control API
# for 5 s (tests/load/p2pload), then read them back. Asserts correctness only, never
# speed (scripts/bench_load.sh prints the figures): no request failed, the daemon holds
# exactly the files whose stores were answered 201, every one of them reads back byte for
# byte, a random GET phase finds no error, `p2p verify` re-hashes every chunk cleanly and
# the chunk files on disk match the database.
. "$(dirname "$0")/lib.sh"
for c in cc pkg-config python3; do command -v "$c" >/dev/null || skip "needs $c"; done
LOAD=$(sh "$(dirname "$0")/../load/build.sh" "$T/p2pload" 2>"$T/build.err") ||
	fail "cannot build tests/load/p2pload.c: $(head -5 "$T/build.err")"

A=$T/a
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_node "$A" --api "127.0.0.1:$PORT" --listen 127.0.0.1:0 --no-mdns

run "$LOAD" put --addr "127.0.0.1:$PORT" --conns 64 --duration 5 --size 4096 --prefix smoke \
	--keys-out "$T/keys"
expect_rc 0 "p2pload put (64 clients, 5 s)"
note "${OUT##*$'\n'}"
ok=$(sed -n 's/.* ok=\([0-9]*\) .*/\1/p' <<<"$OUT")
stored=$(wc -l <"$T/keys")
assert_eq "$stored" "$ok" "keys written vs stores answered 201"
[ "$stored" -gt 64 ] || fail "only $stored stores in 5 s: the load did not run"
assert_eq "$(sort -u "$T/keys" | wc -l)" "$stored" "distinct keys"

# the daemon holds exactly those files: count, and the same set of keys
assert_eq "$(status_field "$A" files)" "$stored" "status files"
files_json "$A" | jq -r '.[].key' | sort >"$T/listed"
sort "$T/keys" >"$T/keys.sorted"
cmp -s "$T/listed" "$T/keys.sorted" ||
	fail "files list differs from the stored keys: $(diff "$T/listed" "$T/keys.sorted" | head -5)"
# distinct bodies: as many chunks as files (no store was deduplicated away)
assert_eq "$(status_field "$A" chunks)" "$stored" "chunks (one distinct 4 KiB chunk per file)"

# every key, once, byte for byte
run "$LOAD" get --addr "127.0.0.1:$PORT" --conns 64 --size 4096 --keys "$T/keys" --all
expect_rc 0 "p2pload get --all"
note "${OUT##*$'\n'}"
assert_eq "$(sed -n 's/.* ok=\([0-9]*\) .*/\1/p' <<<"$OUT")" "$stored" "keys read back intact"

# random GETs for 5 s, then a few through the CLI compared with the generator's bytes
run "$LOAD" get --addr "127.0.0.1:$PORT" --conns 64 --duration 5 --size 4096 --keys "$T/keys"
expect_rc 0 "p2pload get (random, 5 s)"
for k in $(shuf -n 3 "$T/keys"); do
	run p2p "$A" get "$k" --out "$T/got"
	expect_rc 0 "p2p get $k"
	head -c 4096 "$T/got" | head -c "${#k}" | grep -qxF -- "$k" || fail "p2p get $k: body does not start with its key"
	assert_eq "$(stat -c %s "$T/got")" 4096 "size of $k"
done

run p2p "$A" verify
expect_rc 0 "p2p verify after the load"
chunks_match_db "$A" || fail "chunk files on disk differ from the database's count"
assert_eq "$(tmp_entries "$A")" 0 "entries left in chunks/tmp"
stop_node "$A"
finish

#!/usr/bin/env bash
# Replication end to end, 3 daemons on loopback (--replicas 3, default min copies 2):
#   - store on C, get on A and B: byte-equal, for sizes 0 B .. 50 MiB;
#   - the store returns once at least 2 copies exist (every size but 0 B, with no replica
#     refused: one-chunk files are pushed from the upload's copy) and says where they went;
#   - every node lists the same files (metadata everywhere);
#   - delete on A: the tombstone reaches B and C; their gets say 404;
#   - `p2p shares --json` counts 3 copies of each chunk on every file;
#   - with B and C stopped, a store on A answers at once (no peer to wait for), and the
#     copies it reports are counted from A's database: the bytes of f4095 again, which A
#     knows B and C hold, are 3 copies; the reply warns that no peer took a copy;
#   - a store's reply is the file object of the listing, plus "placed" and "warning".
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/repl_lib.sh"

A=$T/a B=$T/b C=$T/c
repl_net "$A" "$B" "$C" -- --anti-entropy 1s
note "3 nodes connected"

sizes=(0 1 4095 1048576 1048577 3000000 $((50 * 1024 * 1024)))
for s in "${sizes[@]}"; do
	rand_file "$T/in.$s" "$s"
	run p2p "$C" store "f$s" "$T/in.$s" --json
	expect_rc 0 "store f$s on C"
	# a one-chunk file is pushed from its upload's copy of the bytes, the others are
	# read back: either way the peers take them (a replica refused would leave 1 copy)
	if [ "$s" != 0 ]; then
		have=$(jq -r '.replicas.have' <<<"$OUT")
		[ "$have" -ge 2 ] || fail_later "store f$s reported $have copies, want >= 2: $OUT"
	fi
done
api "$C" GET /metrics
assert_contains "$BODY" "p2p_repl_push_failures_total 0" "C's metrics after the stores"
# where the committer's time went: its batches and their WAL syncs took some, counted
# in seconds; the checkpoint counters are there (no checkpoint need have run yet)
for m in p2p_commit_seconds_total p2p_commit_wal_seconds_total; do
	v=$(awk -v m="$m" '$1 == m {print $2}' <<<"$BODY")
	awk -v v="${v:-x}" 'BEGIN { exit !(v ~ /^[0-9]+\.[0-9]+$/ && v + 0 > 0) }' ||
		fail_later "C's $m is '${v:-missing}', want seconds > 0 after the stores"
done
for m in p2p_checkpoint_stalls_total p2p_checkpoint_stall_seconds_total \
	p2p_checkpoints_total p2p_checkpoint_seconds_total; do
	grep -Eq "^$m [0-9]+(\.[0-9]{6})?$" <<<"$BODY" || fail_later "C's metrics lack $m"
done
# the store reply says where the copies went (2 copies at least: C + one peer)
run p2p "$C" store placed.bin "$T/in.3000000" --json
expect_rc 0 "store --json"
have=$(jq -r '.replicas.have' <<<"$OUT")
[ "$have" -ge 2 ] || fail "store reported $have copies, want >= 2: $OUT"
[ "$(jq '.placed | length' <<<"$OUT")" -ge 1 ] || fail "store did not say where it went: $OUT"
# the reply is the file's object, as `GET /v1/files` lists it, plus what the store adds
want='["chunk_size","chunks","chunks_present","created","key","manifest","origin","replicas","sha256","size","version"]'
assert_eq "$(jq -c 'del(.placed) | keys' <<<"$OUT")" "$want" "members of the store reply"
assert_eq "$(jq -r '"\(.key) \(.size) \(.sha256) \(.placed[0].node | length)"' <<<"$OUT")" \
	"placed.bin 3000000 $(sha256sum "$T/in.3000000" | cut -d' ' -f1) 64" "store reply"

for s in "${sizes[@]}"; do
	V=$(file_version "$C" "f$s")
	wait_file 20 "$A" "f$s" "$V"
	wait_file 20 "$B" "f$s" "$V"
	for d in "$A" "$B"; do
		run p2p "$d" get "f$s" --out "$T/out.$s" --quiet
		expect_rc 0 "get f$s on $(basename "$d")"
		assert_cmp "$T/in.$s" "$T/out.$s"
		rm -f "$T/out.$s"
	done
done
note "store on C, get on A and B: byte-equal for ${sizes[*]}"

# every node has every chunk (R = 3 on 3 nodes), eventually
for d in "$A" "$B" "$C"; do
	poll 30 bash -c "[ \$(\"$P2P_BIN\" --db $d/p2p.db shares --json | jq '[.files[] | select(.copies < 3 and .chunks > 0)] | length') = 0 ]" ||
		fail_later "$(basename "$d"): some files have fewer than 3 copies: $(p2p "$d" shares --json | jq -c '[.files[] | {key, copies}]')"
done

# delete on A reaches B and C
run p2p "$A" delete f1048576
expect_rc 0 "delete on A"
wait_file 20 "$B" f1048576 deleted
wait_file 20 "$C" f1048576 deleted
run p2p "$C" get f1048576 --out "$T/x"
expect_rc 1 "get of a deleted file on C"
note "delete on A propagated"

# an answer given at once counts the copies A knows of (not only its own)
stop_node "$B"
stop_node "$C"
run p2p "$A" store again4095 "$T/in.4095" --json
expect_rc 0 "store on A with B and C stopped"
assert_eq "$(jq -r '.replicas.have' <<<"$OUT")" 3 "copies A reports of bytes B and C hold too ($OUT)"
# no peer to copy to: the reply says so
assert_eq "$(jq -c 'del(.warning) | keys' <<<"$OUT")" "$want" "members of the store reply"
assert_contains "$(jq -r .warning <<<"$OUT")" "no peer is connected" "warning of a store with no peer"
note "a store answered at once reports the copies A's database knows of"
finish

#!/usr/bin/env bash
# A version with more chunks than one FILE message carries (32,768; with 4 KiB chunks a
# 128 MiB file has more): the FILE goes with MORE and its first 32,768 hashes, the
# receiver asks for the rest with MANIFEST_GET (docs/PROTOCOL.md "Long chunk lists").
#   - stored on A: B records the same version with every chunk, and gets it byte-equal;
#   - B stopped while A stores a second long file, restarted: anti-entropy brings its
#     version and whole chunk list;
#   - a delete of a long file reaches B.
# Before, such a version was logged "not replicated" and B never had it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/repl_lib.sh"

A=$T/a B=$T/b
CS=4096
N=$((32768 + 3))                  # chunks: one FILE's worth + 3
SIZE=$(( (N - 1) * CS + 100 ))
repl_net "$A" "$B" -- --anti-entropy 1s --chunk-size 4K --replicas 2
rand_file "$T/long1" "$SIZE"
rand_file "$T/long2" "$SIZE"

run p2p "$A" store long1 "$T/long1" --quiet
expect_rc 0 "store long1 on A"
V=$(file_version "$A" long1)
wait_file 60 "$B" long1 "$V"
chunks=$(p2p "$B" files list --json | jq -r '.[] | select(.key == "long1") | .chunks')
assert_eq "$chunks" "$N" "chunks of long1 on B"
assert_eq "$(file_chunks "$B" long1 | sha256sum)" "$(file_chunks "$A" long1 | sha256sum)" \
	"B's chunk list of long1 is A's"
grep -q "long1\": $N chunks, more than one FILE carries" "$B/log" ||
	fail "B's log does not say it fetched the rest of the chunk list"
run p2p "$B" get long1 --out "$T/out1" --quiet
expect_rc 0 "get long1 on B"
assert_cmp "$T/long1" "$T/out1"
rm -f "$T/out1"
note "long1 ($N chunks of 4 KiB) stored on A, listed and read on B"

# B offline during a store: anti-entropy brings the long list when it is back
stop_node "$B"
run p2p "$A" store long2 "$T/long2" --quiet
expect_rc 0 "store long2 on A while B is down"
restart_node "$B" --anti-entropy 1s --chunk-size 4K --replicas 2
V2=$(file_version "$A" long2)
wait_file 60 "$B" long2 "$V2"
assert_eq "$(file_chunks "$B" long2 | sha256sum)" "$(file_chunks "$A" long2 | sha256sum)" \
	"B's chunk list of long2 is A's"
# (not read back here: B fetches its 32,771 chunks of 4 KiB one CHUNK_GET each, which
# takes minutes; the get of long1 above read a long list's chunks)
note "long2's chunk list reached B through anti-entropy after a restart"

run p2p "$A" delete long1
expect_rc 0 "delete long1 on A"
wait_file 30 "$B" long1 deleted
note "the delete of a long file reached B"
finish

#!/usr/bin/env bash
# A get into a file (`get --out`, the file passed on fd.sock) on a node that lacks some
# chunks: the worker that verifies a fetched chunk writes it into the file itself, the
# chunks held here are read and written as before. Covers, byte-equal:
#   - 3 nodes, --replicas 2: each node holds some chunks and fetches the rest (a mix);
#   - the same chunk at several offsets of one file (one fetch, written at each);
#   - two gets of one key at once on a node holding none of it (one want, two files);
#   - a 4th node that holds nothing, then the same get again (now all held: reads).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/repl_lib.sh"

A=$T/a B=$T/b C=$T/c D=$T/d
repl_net "$A" "$B" "$C" -- --replicas 2 --anti-entropy 1s
note "3 nodes connected, --replicas 2"

# X Y X Y X Z(tail): repeated 1 MiB chunks
rand_file "$T/x" 1048576
rand_file "$T/y" 1048576
rand_file "$T/z" 300000
cat "$T/x" "$T/y" "$T/x" "$T/y" "$T/x" "$T/z" >"$T/rep"
rand_file "$T/big" $((12 * 1048576 + 4321))
for k in rep big; do
	run p2p "$A" store "$k" "$T/$k"
	expect_rc 0 "store $k on A"
done
for k in rep big; do
	V=$(file_version "$A" "$k")
	wait_file 20 "$B" "$k" "$V"
	wait_file 20 "$C" "$k" "$V"
	for d in "$A" "$B" "$C"; do
		run p2p "$d" get "$k" --out "$T/out.$k" --quiet
		expect_rc 0 "get $k on $(basename "$d")"
		assert_cmp "$T/$k" "$T/out.$k"
		rm -f "$T/out.$k"
	done
done
note "gets of a mix of held and fetched chunks, repeated chunks: byte-equal"

start_node "$D" --listen 127.0.0.1:0 --no-mdns --network-key "$T/net.key" \
	--bootstrap "127.0.0.1:$REPL_PORT0" --replicas 2 --anti-entropy 1s
wait_connected 20 "$D" 3
wait_file 20 "$D" big "$(file_version "$A" big)"
wait_file 20 "$D" rep "$(file_version "$A" rep)"
p2p "$D" get big --out "$T/o1" --quiet >"$T/g1.out" 2>&1 &
g1=$!
p2p "$D" get big --out "$T/o2" --quiet >"$T/g2.out" 2>&1 &
g2=$!
wait "$g1" || fail "first concurrent get on D: $(cat "$T/g1.out")"
wait "$g2" || fail "second concurrent get on D: $(cat "$T/g2.out")"
assert_cmp "$T/big" "$T/o1"
assert_cmp "$T/big" "$T/o2"
run p2p "$D" get rep --out "$T/o3" --quiet
expect_rc 0 "get rep on D"
assert_cmp "$T/rep" "$T/o3"
note "two gets at once on a node holding none of it: byte-equal"
# now D holds them (fetched chunks are kept): the same gets read them back
run p2p "$D" get big --out "$T/o4" --quiet
expect_rc 0 "get big again on D"
assert_cmp "$T/big" "$T/o4"
run p2p "$D" get rep
expect_rc 0 "get rep to standard output on D"
[ "$(p2p "$D" get rep | sha256sum)" = "$(sha256sum <"$T/rep")" ] ||
	fail "get rep to standard output differs"
note "again, from chunks now held on D: byte-equal"
finish

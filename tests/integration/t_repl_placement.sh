#!/usr/bin/env bash
# Placement with --replicas 2 on 5 nodes:
#   - after a store, each chunk is on exactly 2 nodes (the writer drops the copies it is
#     not a holder of once both holders acknowledged), and the metadata is on all 5;
#   - a holder stopped for longer than --repair-after: for each chunk it held, a third
#     node takes a copy, so every chunk is on 2 running nodes again;
#   - a get on any node is byte-equal.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/repl_lib.sh"

N=(a b c d e)
D=()
for x in "${N[@]}"; do D+=("$T/$x"); done
ARGS=(--replicas 2 --anti-entropy 1s --repair-after 3s)
repl_net "${D[@]}" -- "${ARGS[@]}"

rand_file "$T/in" $((12 * 1024 * 1024 + 5))
run p2p "${D[0]}" store k "$T/in"
expect_rc 0 "store on a"
V=$(file_version "${D[0]}" k)
for d in "${D[@]}"; do wait_file 20 "$d" k "$V"; done
mapfile -t H < <(file_chunks "${D[0]}" k)
assert_eq "${#H[@]}" 13 "chunks"

copies() { # HASH [dirs...]: how many of the dirs hold it
	local h=$1 k=0 d; shift
	for d in "$@"; do holds "$d" "$h" && k=$((k + 1)); done
	echo "$k"
}
all_two() { # dirs...
	local h
	for h in "${H[@]}"; do [ "$(copies "$h" "$@")" = 2 ] || return 1; done
}
poll 30 all_two "${D[@]}" ||
	fail "copies per chunk: $(for h in "${H[@]}"; do copies "$h" "${D[@]}"; done | tr '\n' ' ')"
note "each of ${#H[@]} chunks on exactly 2 of 5 nodes"

# stop a holder that is not the writer (the one holding the most chunks)
best=1 bestn=0
for i in 1 2 3 4; do
	k=0
	for h in "${H[@]}"; do holds "${D[$i]}" "$h" && k=$((k + 1)); done
	[ "$k" -gt "$bestn" ] && { best=$i; bestn=$k; }
done
note "stopping ${N[$best]} (holds $bestn chunks)"
stop_node "${D[$best]}"
RUN=()
for i in 0 1 2 3 4; do [ "$i" = "$best" ] || RUN+=("${D[$i]}"); done
poll 90 all_two "${RUN[@]}" ||
	fail "after the repair, copies on running nodes: $(for h in "${H[@]}"; do copies "$h" "${RUN[@]}"; done | tr '\n' ' ')"
note "a third node took a copy of each chunk the stopped holder had"
for d in "${RUN[@]}"; do
	run p2p "$d" get k --out "$T/out" --quiet
	expect_rc 0 "get on $(basename "$d")"
	assert_cmp "$T/in" "$T/out"
	rm -f "$T/out"
done
finish

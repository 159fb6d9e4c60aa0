#!/usr/bin/env bash
# Load, short, against a 3-node network: 64 concurrent clients, spread over the three
# nodes' TCP control APIs, store 4000 distinct 4 KiB files (for at most 5 s;
# tests/load/p2pload), then read them back. Asserts correctness only, never speed
# (scripts/bench_load.sh prints the figures): no request failed; every node lists exactly
# the files whose stores were answered 201 and ends up holding every chunk (replicas 3 on
# 3 nodes: each replica is pushed, none refused under load); every file reads back byte
# for byte from every node; a random GET phase over the three finds no error; `p2p
# verify` re-hashes every chunk cleanly and the chunk files on disk match the database,
# on every node.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/repl_lib.sh"
for c in cc pkg-config python3; do command -v "$c" >/dev/null || skip "needs $c"; done
LOAD=$(sh "$(dirname "$0")/../load/build.sh" "$T/p2pload" 2>"$T/build.err") ||
	fail "cannot build tests/load/p2pload.c: $(head -5 "$T/build.err")"

A=$T/a B=$T/b C=$T/c
NODES=("$A" "$B" "$C")
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
declare -A API=()
ADDRS=""
for d in "${NODES[@]}"; do
	API[$d]=127.0.0.1:$(freeport)
	args=(--api "${API[$d]}" --listen 127.0.0.1:0 --no-mdns)
	[ "$d" = "$A" ] || args+=(--network-key "$A/network.key" --bootstrap "127.0.0.1:$(port_of "$A")")
	start_node "$d" "${args[@]}"
	ADDRS=${ADDRS:+$ADDRS,}${API[$d]}
done
for d in "${NODES[@]}"; do wait_connected 20 "$d" 2; done

run "$LOAD" put --addr "$ADDRS" --conns 64 --duration 5 --count 4000 --size 4096 --prefix smoke \
	--keys-out "$T/keys"
expect_rc 0 "p2pload put (64 clients, 5 s)"
note "${OUT##*$'\n'}"
ok=$(sed -n 's/.* ok=\([0-9]*\) .*/\1/p' <<<"$OUT")
stored=$(wc -l <"$T/keys")
assert_eq "$stored" "$ok" "keys written vs stores answered 201"
[ "$stored" -gt 64 ] || fail "only $stored stores in 5 s: the load did not run"
assert_eq "$(sort -u "$T/keys" | wc -l)" "$stored" "distinct keys"

# every node holds exactly those files (metadata everywhere): count, and the same keys;
# and, once the replicas have landed, one distinct 4 KiB chunk per file (no store was
# deduplicated away; replicas 3 on 3 nodes: every node holds every chunk)
sort "$T/keys" >"$T/keys.sorted"
for d in "${NODES[@]}"; do
	n=$(basename "$d")
	poll 30 bash -c "[ \"\$(\"$P2P_BIN\" --db $d/p2p.db status --json | jq -r .files)\" = $stored ]" ||
		fail "$n: status files $(status_field "$d" files), want $stored"
	files_json "$d" | jq -r '.[].key' | sort >"$T/listed"
	cmp -s "$T/listed" "$T/keys.sorted" ||
		fail "$n: files list differs from the stored keys: $(diff "$T/listed" "$T/keys.sorted" | head -5)"
	poll 30 bash -c "[ \"\$(\"$P2P_BIN\" --db $d/p2p.db status --json | jq -r .chunks)\" = $stored ]" ||
		fail "$n: $(status_field "$d" chunks) chunks held, want $stored (one distinct chunk per file, on every node)"
	# no replica was refused (a receiver turning down concurrent small replicas as
	# failed left them to the repair scan, 35 s later)
	api "$d" GET /metrics
	pf=$(awk '$1 == "p2p_repl_push_failures_total" {print $2}' <<<"$BODY")
	assert_eq "${pf:-missing}" 0 "$n: p2p_repl_push_failures_total"
done

# every key, once, byte for byte, from every node
for d in "${NODES[@]}"; do
	run "$LOAD" get --addr "${API[$d]}" --conns 64 --size 4096 --keys "$T/keys" --all
	expect_rc 0 "p2pload get --all on $(basename "$d")"
	note "$(basename "$d"): ${OUT##*$'\n'}"
	assert_eq "$(sed -n 's/.* ok=\([0-9]*\) .*/\1/p' <<<"$OUT")" "$stored" "keys read back intact from $(basename "$d")"
done

# random GETs over the three for 3 s, then a few through the CLI compared with the
# generator's bytes
run "$LOAD" get --addr "$ADDRS" --conns 64 --duration 3 --size 4096 --keys "$T/keys"
expect_rc 0 "p2pload get (random, 3 s)"
for k in $(shuf -n 3 "$T/keys"); do
	run p2p "$C" get "$k" --out "$T/got"
	expect_rc 0 "p2p get $k"
	head -c 4096 "$T/got" | head -c "${#k}" | grep -xF -- "$k" >/dev/null || fail "p2p get $k: body does not start with its key"
	assert_eq "$(stat -c %s "$T/got")" 4096 "size of $k"
done

for d in "${NODES[@]}"; do
	run p2p "$d" verify --quiet
	expect_rc 0 "p2p verify on $(basename "$d") after the load"
	poll 10 chunks_match_db "$d" || fail "$(basename "$d"): chunk files on disk differ from the database's count"
	assert_eq "$(tmp_entries "$d")" 0 "entries left in chunks/tmp on $(basename "$d")"
done
for d in "${NODES[@]}"; do stop_node "$d"; done
finish

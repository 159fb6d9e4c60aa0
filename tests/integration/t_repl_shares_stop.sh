#!/usr/bin/env bash
# Shares learnt just before a stop are on disk after it. A node gathers the shares it
# learns (acknowledgements, HAVEs, the writer of an applied version) in memory for a
# moment and writes them in one transaction (repl.c, shares_flush); SIGTERM writes what
# it has gathered before the node stops.
#   - 3 nodes, --replicas 3: eight small stores on A at once, each answered at 2 copies
#     or more; A is stopped right after the last answer;
#   - A's database, read with no daemon, counts for every file at least the copies its
#     store reply reported (A and the peers that acknowledged).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/repl_lib.sh"

A=$T/a B=$T/b C=$T/c
repl_net "$A" "$B" "$C"
note "3 nodes connected"

# eight stores at once: their acknowledgements come in together, just before the stop
declare -A HAVE
pids=()
for i in 1 2 3 4 5 6 7 8; do
	rand_file "$T/in.$i" 3000
	"$P2P_BIN" --db "$A/p2p.db" store "k$i" "$T/in.$i" --json >"$T/out.$i" 2>&1 &
	pids+=($!)
done
for i in 1 2 3 4 5 6 7 8; do
	wait "${pids[$((i - 1))]}" || fail "store k$i on A: $(cat "$T/out.$i")"
done
for i in 1 2 3 4 5 6 7 8; do
	HAVE[k$i]=$(jq -r '.replicas.have' "$T/out.$i")
	[ "${HAVE[k$i]}" -ge 2 ] || fail "store k$i reported ${HAVE[k$i]} copies, want >= 2: $(cat "$T/out.$i")"
done
stop_node "$A"
note "A stopped right after 8 stores answered at ${HAVE[*]} copies"

# per file: the peers A's database says hold its chunk (shares rows), plus A itself
copies() {
	sqlite3 -readonly "$A/p2p.db" "SELECT 1 + count(DISTINCT s.peer) FROM files f
		JOIN file_chunks fc ON fc.file_id = f.id JOIN shares s ON s.hash = fc.hash
		WHERE f.key = '$1'"
}
for k in "${!HAVE[@]}"; do
	c=$(copies "$k")
	[ -n "$c" ] && [ "$c" -ge "${HAVE[$k]}" ] ||
		fail_later "$k: A's database counts '$c' copies after the stop, the store said ${HAVE[$k]}"
done
note "every store's acknowledged copies are in A's database after SIGTERM"
finish

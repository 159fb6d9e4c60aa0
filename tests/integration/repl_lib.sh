# shellcheck shell=bash
# repl_lib.sh: helpers for the replication tests (t_repl_*.sh), sourced after lib.sh.
#
#   repl_net DIR... [-- serve args]  start the first node, then the others with its network
#                                    key and address as bootstrap; wait until each sees all
#                                    the others connected
#   port_of DIR, id_of DIR           listen port, node ID
#   connected DIR                    number of connected peers
#   wait_connected SECS DIR N        poll until DIR has N connected peers
#   file_version DIR KEY             current version of KEY ("" if none; "deleted" if a
#                                    tombstone), read from GET /v1/files?deleted=1
#   wait_file SECS DIR KEY VERSION   poll until DIR has KEY at VERSION
#   holds DIR HASH                   DIR has the chunk file HASH
#   file_chunks DIR KEY              the chunk hashes of KEY (via GET /v1/shares + db)

port_of() { status_field "$1" 'listen[0]' | sed 's/.*://'; }
id_of() { status_field "$1" node_id; }
connected() { p2p "$1" status --json | jq -r '.peers.connected'; }
wait_connected() { # SECS DIR N
	poll "$1" bash -c "[ \"\$(\"$P2P_BIN\" --db $2/p2p.db status --json | jq -r .peers.connected)\" -ge $3 ]" ||
		fail "$(basename "$2") has $(connected "$2") connected peers, want $3"
}

# repl_net DIR1 DIR2 ... [-- extra serve args for all]
repl_net() {
	local dirs=() extra=() first d n
	while [ $# -gt 0 ]; do
		if [ "$1" = -- ]; then shift; extra=("$@"); break; fi
		dirs+=("$1"); shift
	done
	first=${dirs[0]}
	start_node "$first" --listen 127.0.0.1:0 --no-mdns "${extra[@]}"
	install -m 0600 "$first/network.key" "$T/net.key"
	REPL_PORT0=$(port_of "$first")
	for d in "${dirs[@]:1}"; do
		start_node "$d" --listen 127.0.0.1:0 --no-mdns --network-key "$T/net.key" \
			--bootstrap "127.0.0.1:$REPL_PORT0" "${extra[@]}"
	done
	n=$(( ${#dirs[@]} - 1 ))
	for d in "${dirs[@]}"; do wait_connected 20 "$d" "$n"; done
}

# restart_node DIR [args]: start again with the network key and the first node's address
restart_node() {
	local d=$1; shift
	start_node "$d" --listen 127.0.0.1:0 --no-mdns --network-key "$T/net.key" \
		--bootstrap "127.0.0.1:$REPL_PORT0" "$@"
}

file_version() { # DIR KEY (daemon running or not)
	p2p "$1" files list --json --deleted | jq -r --arg k "$2" '(.[] | select(.key == $k) |
		if .deleted then "deleted" else .version end) // ""'
}
has_version() { [ "$(file_version "$1" "$2")" = "$3" ]; }
wait_file() { # SECS DIR KEY VERSION
	poll "$1" has_version "$2" "$3" "$4" ||
		fail "$(basename "$2"): $3 is '$(file_version "$2" "$3")', want '$4'"
}
# DIR holds chunk HASH: as a file, or inline in its database
holds() {
	[ -f "$1/chunks/${2:0:2}/${2:2:2}/$2" ] ||
		[ "$(sqlite3 "file:$1/p2p.db?mode=ro" "SELECT count(*) FROM chunks WHERE hash = X'$2'
			AND local = 1 AND data_id IS NOT NULL" 2>/dev/null)" = 1 ]
}
# chunk hashes of a stored file (from the local database of DIR)
file_chunks() { # DIR KEY
	sqlite3 "file:$1/p2p.db?mode=ro" "SELECT hex(fc.hash) FROM files f JOIN file_chunks fc ON fc.file_id = f.id WHERE f.key = '$2' AND f.deleted = 0 ORDER BY fc.idx" | tr 'A-F' 'a-f'
}

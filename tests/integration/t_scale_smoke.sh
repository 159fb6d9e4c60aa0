#!/usr/bin/env bash
# Scale, correctness only (scripts/bench_scale.sh prints the times): 10,000 files stored
# through the API and 1,000 peers inserted into the peers table (bench/scale_lib.sh,
# unreachable addresses). The daemon starts and answers /health with them, keeps serving
# while it redials, and `files list`, `peers` (and `shares`, when it exists) succeed with
# the right counts, with and without a running daemon. Never asserts on time.
. "$(dirname "$0")/lib.sh"
for c in cc pkg-config python3 sqlite3; do command -v "$c" >/dev/null || skip "needs $c"; done
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../../bench/scale_lib.sh
. "$ROOT/bench/scale_lib.sh"
LOAD=$(sh "$ROOT/tests/load/build.sh" "$T/p2pload" 2>"$T/build.err") ||
	fail "cannot build tests/load/p2pload.c: $(head -5 "$T/build.err")"
NF=${SCALE_FILES:-10000} NP=${SCALE_PEERS:-1000}

A=$T/a
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
start_node "$A" --api "127.0.0.1:$PORT" --listen 127.0.0.1:0 --no-mdns
run "$LOAD" put --addr "127.0.0.1:$PORT" --conns 16 --count "$NF" --size 4096 --prefix scale \
	--keys-out "$T/keys"
expect_rc 0 "p2pload put of $NF files"
assert_eq "$(wc -l <"$T/keys")" "$NF" "stores answered 201"
assert_eq "$(status_field "$A" files)" "$NF" "status files"
stop_node "$A"

scale_add_peers "$A/p2p.db" "$NP" blackhole || fail "cannot insert $NP peers"
assert_eq "$(scale_count "$A/p2p.db" 'SELECT count(*) FROM peers')" "$NP" "peer rows"

# without a daemon: read from the database
run p2p "$A" files list --json
expect_rc 0 "files list --json (no daemon)"
assert_eq "$(jq 'if type == "array" then length else .files | length end' <<<"$OUT")" "$NF" "files listed (no daemon)"
run p2p "$A" files list
expect_rc 0 "files list (no daemon)"
[ "$(grep -c '^scale\.' <<<"$OUT")" = "$NF" ] || fail "files list (no daemon) shows $(grep -c '^scale\.' <<<"$OUT") keys, want $NF"
run p2p "$A" peers --json
expect_rc 0 "peers --json (no daemon)"
assert_eq "$(jq 'if type == "array" then length else .peers | length end' <<<"$OUT")" "$NP" "peers listed (no daemon)"

# with a daemon that redials 1,000 unreachable peers
PORT=$(free_port)
start_node "$A" --api "127.0.0.1:$PORT" --listen 127.0.0.1:0 --no-mdns
assert_eq "$(status_field "$A" peers.known)" "$NP" "status peers.known"
run p2p "$A" files list --json
expect_rc 0 "files list --json (daemon running)"
assert_eq "$(jq 'if type == "array" then length else .files | length end' <<<"$OUT")" "$NF" "files listed (daemon running)"
run p2p "$A" peers
expect_rc 0 "peers (daemon running)"
run p2p "$A" peers --json
expect_rc 0 "peers --json (daemon running)"
np=$(jq 'if type == "array" then length else .peers | length end' <<<"$OUT")
# the API lists the peers this node knows; rows of never-met peers may or may not be
# included, but never more than the table holds
[ "$np" -le "$NP" ] || fail "peers --json lists $np peers, more than the $NP known"
note "p2p peers --json lists $np of the $NP inserted peers while the daemon runs"
if p2p "$A" shares --help >/dev/null 2>&1; then
	run p2p "$A" shares
	expect_rc 0 "shares"
else
	note "p2p shares does not exist yet: skipped"
fi
# still serving stores and gets while it dials
rand_file "$T/f" 4096
run p2p "$A" store extra "$T/f"
expect_rc 0 "store while redialling $NP peers"
run p2p "$A" get extra --out "$T/g"
expect_rc 0 "get while redialling"
assert_cmp "$T/f" "$T/g"
k=$(shuf -n 1 "$T/keys")
run p2p "$A" get "$k" --out "$T/g2"
expect_rc 0 "get $k"
head -c "${#k}" "$T/g2" | grep -xF -- "$k" >/dev/null || fail "get $k: wrong body"
assert_eq "$(status_field "$A" files)" "$((NF + 1))" "status files after one more store"
stop_node "$A"
finish

#!/usr/bin/env bash
# Many shares at once are all written, once each, also across a stop. A node gathers the
# shares it learns by the first byte of the chunk hash and, under load (2,048 rows or
# more in its first 250 ms), keeps gathering for a few seconds, then writes them a slice
# of buckets per committer batch (repl.c, "shares"); SIGTERM writes the gathering and
# the slices not written yet. Nodes A and B make a network, B stops; a raw peer
# (tests/net/rawpeer.c) speaking as B (B's node.key, TLS, AUTH, HELLO) sends A HAVE
# frames of 4,096 random hashes each (the protocol's maximum; a node records the shares
# of peers it knows only):
#   1. 5 frames and the first one again: A's shares table ends with exactly 20,480
#      rows of B (every bucket written, the repeated frame's rows once);
#   2. 5 frames of new hashes, and A is stopped at once: 40,960 rows after the stop
#      (the gathering is written at SIGTERM);
#   3. 5 frames more after a restart; A is stopped as soon as the first of their rows
#      is in the database (slices still to be written, most runs): 61,440 rows after it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/repl_lib.sh"
command -v python3 >/dev/null || skip "needs python3"
command -v sqlite3 >/dev/null || skip "needs sqlite3"

R=$(cd "$(dirname "$0")/../.." && pwd)
A=$T/a B=$T/b
build_rawpeer "$T/rawpeer"

# haves OUT N: N HAVE frames (protocol version 1) of 4,096 random hashes each, as one
# hex line, into OUT; the first of them alone into OUT.first
haves() {
	python3 - "$1" "$2" <<'PY'
import os, struct, sys
fr = []
for _ in range(int(sys.argv[2])):
    p = struct.pack(">H", 4096) + os.urandom(4096 * 32)
    fr.append("503201" + "16" + "%08x" % len(p) + p.hex())
open(sys.argv[1], "w").write("".join(fr) + "\n")
open(sys.argv[1] + ".first", "w").write(fr[0] + "\n")
PY
}
# send FILE...: the frames in each FILE, from a raw peer speaking as B
send() {
	local args=() f
	for f in "$@"; do args+=(--send-file "$f"); done
	run "$T/rawpeer" --key "$A/network.key" --identity "$B/node.key" --hello \
		"${args[@]}" --wait 300 "127.0.0.1:$PA"
	expect_rc 0 "rawpeer: HAVE frames"
	node_alive "$A" || fail "A died after HAVE frames"
}
repl_net "$A" "$B"
PA=$(port_of "$A")
BID=$(status_field "$B" node_id)
stop_node "$B"
note "A and B connected, B stopped"
Q="SELECT count(*) FROM shares WHERE peer = x'$BID'"
rows() { sqlite3 "file:$A/p2p.db?mode=ro" "$Q"; }
peers() { sqlite3 "file:$A/p2p.db?mode=ro" 'SELECT count(DISTINCT peer) FROM shares'; }

# 1. written in slices, duplicates dropped
haves "$T/h1" 5
send "$T/h1" "$T/h1.first"
poll 30 bash -c "[ \"\$(sqlite3 'file:$A/p2p.db?mode=ro' \"$Q\")\" -ge 20480 ]" ||
	fail "A's shares: $(rows) rows 30 s after 5 HAVE frames, want 20480"
sleep 1 # a row too many would come with the last slices
assert_eq "$(rows)" 20480 "A's shares after 5 HAVE frames of 4096 hashes and one repeated"
assert_eq "$(peers)" 1 "peers in A's shares"
note "20,480 shares written (one repeated frame dropped)"

# 2. the gathering is written at SIGTERM
haves "$T/h2" 5
send "$T/h2"
stop_node "$A"
assert_eq "$(rows)" 40960 "A's shares after 5 more HAVE frames and an immediate stop"
note "stopped while gathering: all 40,960 rows on disk"

# 3. stopped while its slices are being written
start_node "$A" --listen "127.0.0.1:$PA" --no-mdns
haves "$T/h3" 5
send "$T/h3"
# a tight loop (no sleep): the slices follow each other within milliseconds
end=$(( $(now_ms) + 30000 ))
while seen=$(rows) && [ "${seen:-0}" -le 40960 ]; do
	[ "$(now_ms)" -lt "$end" ] ||
		fail "A's shares: $seen rows 30 s after 5 more HAVE frames, want more than 40960"
done
stop_node "$A"
assert_eq "$(rows)" 61440 "A's shares after a stop while their slices were being written"
note "stopped with $seen of 61,440 rows written (the rest in slices not yet queued): all on disk after it"
finish

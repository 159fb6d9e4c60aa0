#!/usr/bin/env bash
# WAL checkpoints run on their own thread (p2p-ckpt), while the daemon serves: the
# committer only appends to the write-ahead log, and the checkpointer copies it into the
# database file (and syncs it) every 4,096 pages added to the log, and the committer
# copies the last few pages itself so that the log restarts. One node, 16 clients store
# 8,000 distinct 12 KiB files (inline chunks: their bytes go through the WAL). Asserts:
# the thread exists; the database file grows past 16 MiB while the daemon runs (only a
# checkpoint writes it; SQLite would otherwise copy the log at close); the WAL file stays
# within 128 MiB (the log restarted); every file reads back; `p2p verify` is clean after
# a restart.
. "$(dirname "$0")/lib.sh"
for c in cc pkg-config python3; do command -v "$c" >/dev/null || skip "needs $c"; done
LOAD=$(sh "$(dirname "$0")/../load/build.sh" "$T/p2pload" 2>"$T/build.err") ||
	fail "cannot build tests/load/p2pload.c: $(head -5 "$T/build.err")"

A=$T/a
API=127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_node "$A" --api "$API" --listen 127.0.0.1:0 --no-mdns
pid=$(node_pid "$A")
[ -n "$pid" ] || fail "no daemon pid"
grep -qx p2p-ckpt /proc/"$pid"/task/*/comm || fail "no p2p-ckpt thread: $(cat /proc/"$pid"/task/*/comm | tr '\n' ' ')"
db0=$(stat -c %s "$A/p2p.db")

run "$LOAD" put --addr "$API" --conns 16 --count 8000 --size 12288 --prefix ck --keys-out "$T/keys"
expect_rc 0 "p2pload put (2000 files of 12 KiB)"
note "${OUT##*$'\n'}"
assert_eq "$(wc -l <"$T/keys")" 8000 "stores answered 201"

# only a checkpoint writes pages into the database file
poll 20 bash -c "[ \$(stat -c %s '$A/p2p.db') -gt $((16 << 20)) ]" ||
	fail "p2p.db is $(stat -c %s "$A/p2p.db") bytes (was $db0) with a $(stat -c %s "$A/p2p.db-wal")-byte WAL: no checkpoint while the daemon runs"
note "p2p.db $db0 -> $(stat -c %s "$A/p2p.db") bytes, WAL $(stat -c %s "$A/p2p.db-wal") bytes"
# some 60,000 pages went through the log (about 240 MiB): it restarted from its beginning
# again and again (the committer copies the last pages of each checkpointer pass), so its
# file stays near a pass (8,192 pages and what came meanwhile: 35-52 MiB seen, under ASan
# too). Without restarts it grows to 256 MiB, where the committer steps in.
wal=$(stat -c %s "$A/p2p.db-wal")
[ "$wal" -le $((128 << 20)) ] || fail "the WAL is $wal bytes after the stores: the log did not restart"
kill -0 "$pid" 2>/dev/null || fail "the daemon is gone"

run "$LOAD" get --addr "$API" --conns 16 --size 12288 --keys "$T/keys" --all
expect_rc 0 "p2pload get --all"
assert_eq "$(sed -n 's/.* ok=\([0-9]*\) .*/\1/p' <<<"$OUT")" 8000 "files read back intact"

stop_node "$A"
start_node "$A" --api "$API" --listen 127.0.0.1:0 --no-mdns
run p2p "$A" verify
expect_rc 0 "p2p verify after a restart"
assert_eq "$(status_field "$A" files)" 8000 "files after a restart"
stop_node "$A"
finish
